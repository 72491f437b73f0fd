import { describe, expect, it } from 'vitest';
import { allocateVips, fnv1a32, homeSlot, parseVipCidr } from '../../discover/vip.ts';
import type { VipCandidate, VipCidr } from '../../discover/vip.ts';

const cidr = parseVipCidr('127.128.0.0/16') as VipCidr;
const svc = (namespace: string, name: string, creationTimestamp?: string, vip?: string): VipCandidate => ({
  namespace,
  name,
  creationTimestamp,
  annotations: vip ? { 'sidemesh.io/vip': vip } : {},
});

/** Two names whose home slots collide in a tiny CIDR. */
function collidingPair(small: VipCidr): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const name = `s${i}`;
    const slot = homeSlot('ns', name, small);
    if (seen.has(slot)) return [seen.get(slot)!, name];
    seen.set(slot, name);
  }
}

describe('VIP allocation', () => {
  it('uses FNV-1a 32 (known vectors) and maps into the host part, skipping network and broadcast', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    const small = parseVipCidr('127.128.0.0/30') as VipCidr;
    const { vips } = allocateVips([svc('a', 'x'), svc('a', 'y')], small);
    expect([...vips.values()].sort()).toEqual(['127.128.0.1', '127.128.0.2']);
  });

  it('is the same whatever the input order', () => {
    const list = Array.from({ length: 200 }, (_, i) => svc(`ns${i % 7}`, `svc${i}`));
    const a = allocateVips(list, cidr).vips;
    const b = allocateVips([...list].reverse(), cidr).vips;
    expect([...b].sort()).toEqual([...a].sort());
    expect(new Set(a.values()).size).toBe(200);
  });

  it('keeps an older Service\'s address when a newer colliding one appears', () => {
    const small = parseVipCidr('127.0.0.0/28') as VipCidr;
    const [first, second] = collidingPair(small);
    const alone = allocateVips([svc('ns', second, '2024-01-01T00:00:00Z')], small).vips.get(`ns/${second}`);
    const both = allocateVips([svc('ns', second, '2024-01-01T00:00:00Z'), svc('ns', first, '2025-01-01T00:00:00Z')], small).vips;
    expect(both.get(`ns/${second}`)).toBe(alone);
    expect(both.get(`ns/${first}`)).not.toBe(alone);
  });

  it('honours a valid pin and reports bad or taken ones', () => {
    const { vips, problems } = allocateVips(
      [
        svc('a', 'pinned', '2020-01-01T00:00:00Z', '127.128.9.9'),
        svc('a', 'late', '2021-01-01T00:00:00Z', '127.128.9.9'),
        svc('a', 'outside', undefined, '10.1.1.1'),
        svc('a', 'broadcast', undefined, '127.128.255.255'),
      ],
      cidr,
    );
    expect(vips.get('a/pinned')).toBe('127.128.9.9');
    expect(vips.get('a/late')).not.toBe('127.128.9.9');
    expect(problems.map((p) => p.service).sort()).toEqual(['a/broadcast', 'a/late', 'a/outside']);
  });

  it('rejects malformed CIDRs', () => {
    expect(parseVipCidr('127.128.0.1/16')).toHaveProperty('error');
    expect(parseVipCidr('::1/64')).toHaveProperty('error');
    expect(parseVipCidr('127.0.0.0/31')).toHaveProperty('error');
  });

  it('refuses a CIDR outside 127.0.0.0/8: sidecars could not bind its addresses', () => {
    expect(parseVipCidr('10.0.0.0/16')).toEqual({ error: '"10.0.0.0/16" is outside 127.0.0.0/8: sidecars can bind only loopback addresses' });
    expect(parseVipCidr('126.0.0.0/8')).toHaveProperty('error');
    expect(parseVipCidr('128.0.0.0/16')).toHaveProperty('error');
    expect(parseVipCidr('127.0.0.0/8')).toMatchObject({ prefix: 8 });
    expect(parseVipCidr('127.255.255.0/24')).toMatchObject({ prefix: 24 });
  });
});

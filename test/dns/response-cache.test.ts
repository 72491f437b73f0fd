import { describe, expect, it } from 'vitest';
import type { Clock } from '../../lib/clock.ts';
import { ResponseCache, cacheTtlSeconds } from '../../dns/response-cache.ts';
import { scanResponse, type ResponseInfo } from '../../dns/wire.ts';
import { Packet } from './helpers.ts';

function fakeClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => t, setTimeout: () => 0, clearTimeout: () => {}, advance: (ms) => void (t += ms) };
}

function response(build: (p: Packet) => void): { bytes: Buffer; info: ResponseInfo } {
  const p = new Packet();
  p.header = new Packet.Header({ id: 1, qr: 1, rd: 1, ra: 1 });
  p.questions = [{ name: 'www.example.com', type: 1, class: 1 } as never];
  build(p);
  const bytes = p.toBuffer();
  return { bytes, info: scanResponse(bytes)! };
}
const soa = (ttl: number, minimum: number) =>
  ({ name: 'example.com', type: Packet.TYPE.SOA, class: 1, ttl, primary: 'ns.example.com', admin: 'h.example.com', serial: 1, refresh: 1, retry: 1, expiration: 1, minimum }) as never;
const a = (ttl: number, address = '198.18.0.1') => ({ name: 'www.example.com', type: 1, class: 1, ttl, address }) as never;

describe('cacheTtlSeconds', () => {
  it('uses the smallest answer TTL', () => {
    expect(cacheTtlSeconds(response((p) => p.answers.push(a(300), a(40, '198.18.0.2'))).info, 3600)).toBe(40);
  });
  it('caches NXDOMAIN and NODATA for min(SOA TTL, SOA MINIMUM) (RFC 2308 §5)', () => {
    expect(cacheTtlSeconds(response((p) => ((p.header.rcode = 3), p.authorities.push(soa(60, 30)))).info, 3600)).toBe(30);
    expect(cacheTtlSeconds(response((p) => p.authorities.push(soa(20, 900))).info, 3600)).toBe(20);
  });
  it('does not cache a negative answer without an SOA, SERVFAIL, or a truncated answer', () => {
    expect(cacheTtlSeconds(response((p) => (p.header.rcode = 3)).info, 3600)).toBe(0);
    expect(cacheTtlSeconds(response((p) => (p.header.rcode = 2)).info, 3600)).toBe(0);
    expect(cacheTtlSeconds(response((p) => ((p.header.tc = 1), p.answers.push(a(60)))).info, 3600)).toBe(0);
  });
  it('caps at the maximum', () => {
    expect(cacheTtlSeconds(response((p) => p.answers.push(a(86400))).info, 3600)).toBe(3600);
  });
});

describe('ResponseCache', () => {
  it('hands out copies with TTLs lowered by the seconds held, then expires', () => {
    const clock = fakeClock();
    const cache = new ResponseCache({ clock });
    const r = response((p) => {
      p.answers.push(a(10));
      p.additionals.push(Packet.Resource.EDNS([]) as never);
    });
    expect(cache.put('k', r.bytes, r.info)).toBe(10);
    clock.advance(3_500);
    const hit = Packet.parse(cache.get('k')!);
    expect(hit.answers[0].ttl).toBe(7);
    // The OPT record's TTL field holds EDNS flags and must not be touched.
    expect(hit.additionals[0].type).toBe(Packet.TYPE.EDNS);
    expect(cache.get('k')!.subarray(-11).equals(r.bytes.subarray(-11))).toBe(true);
    clock.advance(6_500);
    expect(cache.get('k')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('hands out a negative answer\'s SOA with the remaining time it is cached for, also when capped (RFC 2308 §5)', () => {
    const clock = fakeClock();
    const cache = new ResponseCache({ clock, maxTtlSeconds: 3600 });
    const r = response((p) => ((p.header.rcode = 3), p.authorities.push(soa(7200, 7200))));
    expect(cache.put('k', r.bytes, r.info)).toBe(3600);
    clock.advance(10_000);
    expect(Packet.parse(cache.get('k')!).authorities[0].ttl).toBe(3590);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new ResponseCache({ clock: fakeClock(), maxEntries: 2 });
    const r = response((p) => p.answers.push(a(60)));
    cache.put('a', r.bytes, r.info);
    cache.put('b', r.bytes, r.info);
    cache.get('a');
    cache.put('c', r.bytes, r.info);
    expect([cache.get('a') !== undefined, cache.get('b') !== undefined, cache.get('c') !== undefined]).toEqual([true, false, true]);
  });
});

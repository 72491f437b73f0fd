/**
 * Loopback VIPs: one address per Service, the same in every pod, on every discover replica and
 * across restarts, with no shared state. The scheme (docs/discover.md, "VIPs"):
 *
 *   home(svc) = 1 + fnv1a32("name.namespace") mod (2^(32-prefix) - 2)     (host part; skips network and broadcast)
 *
 * Services claim slots in ownership order — creationTimestamp, then namespace/name — taking their
 * pinned address (`sidemesh.io/vip`) if free, else the first free slot probing linearly from home.
 * Because an older Service claims first, a newer Service can never take its address.
 */
import { isIPv4 } from 'node:net';
import { ANNOTATION_VIP, DEFAULT_VIP_CIDR } from '../lib/names.ts';


export interface VipCidr {
  text: string;
  base: number;
  prefix: number;
  /** Usable host parts: 1 … hostCount. */
  hostCount: number;
}

export interface VipCandidate {
  namespace: string;
  name: string;
  creationTimestamp?: string;
  annotations: Record<string, string>;
}

export interface VipAllocation {
  /** `namespace/name` → address. */
  vips: Map<string, string>;
  /** Pins that were not honoured, and Services left without an address (a full CIDR). */
  problems: { service: string; message: string }[];
}

export function ipv4ToInt(text: string): number {
  return text.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/**
 * Parses an IPv4 CIDR inside 127.0.0.0/8 with room for at least two hosts; returns an error text when
 * invalid. Loopback only: a sidecar binds each VIP in its pod, and Linux answers every 127/8 address on
 * `lo` without configuration; any other address cannot be bound, so every listener would be degraded.
 */
export function parseVipCidr(text: string = DEFAULT_VIP_CIDR): VipCidr | { error: string } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m || !isIPv4(m[1])) return { error: `${JSON.stringify(text)} is not an IPv4 CIDR` };
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) return { error: `${JSON.stringify(text)}: prefix must be in [8, 30]` };
  const size = 2 ** (32 - prefix);
  const ip = ipv4ToInt(m[1]);
  const base = ip - (ip % size);
  if (base !== ip) return { error: `${JSON.stringify(text)} has host bits set (did you mean ${intToIpv4(base)}/${prefix}?)` };
  if (Math.floor(base / 2 ** 24) !== 127) return { error: `${JSON.stringify(text)} is outside 127.0.0.0/8: sidecars can bind only loopback addresses` };
  return { text: `${m[1]}/${prefix}`, base, prefix, hostCount: size - 2 };
}

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The slot a Service tries first (1-based host part). */
export function homeSlot(namespace: string, name: string, cidr: VipCidr): number {
  return 1 + (fnv1a32(`${name}.${namespace}`) % cidr.hostCount);
}

function ownershipOrder(a: VipCandidate, b: VipCandidate): number {
  // A Service without a timestamp is treated as the newest: it must not displace a known one.
  const ta = a.creationTimestamp ?? '\uffff';
  const tb = b.creationTimestamp ?? '\uffff';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function pinnedSlot(c: VipCandidate, cidr: VipCidr): number | { error: string } | undefined {
  const pin = c.annotations[ANNOTATION_VIP]?.trim();
  if (pin === undefined || pin === '') return undefined;
  if (!isIPv4(pin)) return { error: `${ANNOTATION_VIP}=${JSON.stringify(pin)} is not an IPv4 address` };
  const slot = ipv4ToInt(pin) - cidr.base;
  if (slot < 1 || slot > cidr.hostCount) return { error: `${ANNOTATION_VIP}=${pin} is not a host address of ${cidr.text}` };
  return slot;
}

/** Assigns every candidate an address; deterministic for the same set of candidates, whatever their order. */
export function allocateVips(candidates: Iterable<VipCandidate>, cidr: VipCidr): VipAllocation {
  const sorted = [...candidates].sort(ownershipOrder);
  const taken = new Set<number>();
  const vips = new Map<string, string>();
  const problems: VipAllocation['problems'] = [];
  for (const c of sorted) {
    const key = `${c.namespace}/${c.name}`;
    const pin = pinnedSlot(c, cidr);
    let slot: number | undefined;
    if (typeof pin === 'number') {
      if (!taken.has(pin)) slot = pin;
      else problems.push({ service: key, message: `${ANNOTATION_VIP}=${intToIpv4(cidr.base + pin)} already belongs to an older Service; using the hashed address` });
    } else if (pin !== undefined) {
      problems.push({ service: key, message: `${pin.error}; using the hashed address` });
    }
    if (slot === undefined) {
      const home = homeSlot(c.namespace, c.name, cidr);
      for (let i = 0; i < cidr.hostCount; i++) {
        const s = ((home - 1 + i) % cidr.hostCount) + 1;
        if (!taken.has(s)) {
          slot = s;
          break;
        }
      }
    }
    if (slot === undefined) {
      problems.push({ service: key, message: `no free address left in ${cidr.text}` });
      continue;
    }
    taken.add(slot);
    vips.set(key, intToIpv4(cidr.base + slot));
  }
  return { vips, problems };
}

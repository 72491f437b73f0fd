import { isIPv4, isIPv6 } from 'node:net';
import type { DnsConfig } from '../lib/contract.ts';
import { clusterZone, type ClusterZone } from './search-list.ts';
import { encodeName, TYPE, CLASS_IN } from './wire.ts';

/** One mesh name, with its answer bytes prepared once per update() instead of once per query. */
export interface MeshEntry {
  name: string;
  /** The VIP as A RDATA (4 bytes), or undefined when the VIP is IPv6. */
  a: Buffer | undefined;
  /** The VIP as AAAA RDATA (16 bytes), or undefined when the VIP is IPv4. */
  aaaa: Buffer | undefined;
  /** A whole SOA resource record for the authority section of NODATA replies. */
  soa: Buffer;
}

/** A VIP's reverse name: the mesh name it points to, and the SOA record for its NODATA replies. */
export interface ReverseEntry {
  target: Buffer;
  soa: Buffer;
}

export interface TableOptions {
  /** Answer provable search-list misses NXDOMAIN locally (search-list.ts). Default true. */
  searchShortcut?: boolean;
  /** SOA serial of the synthetic zone (e.g. the update time in seconds). */
  serial?: number;
}

/**
 * The immutable, precomputed view of one DnsConfig. update() swaps a whole table at once, so a
 * query sees either the old or the new records, never a mix.
 */
export class RecordTable {
  readonly ttlSeconds: number;
  readonly zone: ClusterZone;
  readonly searchShortcut: boolean;
  readonly upstreams: readonly string[];
  /** SOA record of the cluster domain, for local NXDOMAIN replies. */
  readonly zoneSoa: Buffer;
  readonly #entries = new Map<string, MeshEntry>();
  /** Reverse names of VIPs (`7.0.128.127.in-addr.arpa`) → the encoded mesh name, and the SOA for NODATA. */
  readonly #ptr = new Map<string, ReverseEntry>();

  constructor(config: DnsConfig, options: TableOptions = {}) {
    this.ttlSeconds = config.ttlSeconds;
    this.zone = clusterZone(config.clusterDomain);
    this.searchShortcut = options.searchShortcut ?? true;
    this.upstreams = [...config.upstreams];
    const serial = (options.serial ?? 1) >>> 0;
    const soaByOwner = new Map<string, Buffer>();
    const soaFor = (owner: string): Buffer => {
      let soa = soaByOwner.get(owner);
      if (!soa) soaByOwner.set(owner, (soa = soaRecord(owner, this.zone.domain, this.ttlSeconds, serial)));
      return soa;
    };
    this.zoneSoa = soaFor(this.zone.domain);
    for (const r of config.records) {
      const name = r.name.toLowerCase().replace(/\.$/, '');
      if (this.#entries.has(name)) continue;
      // A name inside the cluster domain is negatively cached under the cluster domain's SOA (as
      // CoreDNS does); a name outside it (a `Domains` alias) is its own synthetic zone apex.
      const owner = name === this.zone.domain || name.endsWith(this.zone.dotDomain) ? this.zone.domain : name;
      const entry: MeshEntry = { name, a: ipv4Bytes(r.address), aaaa: ipv6Bytes(r.address), soa: soaFor(owner) };
      this.#entries.set(name, entry);
      const reverse = reverseName(r.address);
      // The reverse name lies outside the cluster domain: like a `Domains` alias, it is its own
      // zone apex, so the SOA of its NODATA is in bailiwick and caches may keep it (RFC 2308 §5).
      if (reverse && !this.#ptr.has(reverse)) this.#ptr.set(reverse, { target: encodeName(name), soa: soaFor(reverse) });
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  get(name: string): MeshEntry | undefined {
    return this.#entries.get(name);
  }

  /** The PTR target (encoded) and NODATA SOA for a VIP's reverse name. */
  ptr(name: string): ReverseEntry | undefined {
    return this.#ptr.get(name);
  }
}

function soaRecord(owner: string, domain: string, ttl: number, serial: number): Buffer {
  // CoreDNS's shape for the cluster zone: mname ns.dns.<zone>, rname hostmaster.<zone>.
  const ownerBytes = encodeName(owner);
  const mname = encodeName(`ns.dns.${domain}`);
  const rname = encodeName(`hostmaster.${domain}`);
  const rdlen = mname.length + rname.length + 20;
  const out = Buffer.allocUnsafe(ownerBytes.length + 10 + rdlen);
  let at = ownerBytes.copy(out, 0);
  at = out.writeUInt16BE(TYPE.SOA, at);
  at = out.writeUInt16BE(CLASS_IN, at);
  at = out.writeUInt32BE(ttl, at);
  at = out.writeUInt16BE(rdlen, at);
  at += mname.copy(out, at);
  at += rname.copy(out, at);
  at = out.writeUInt32BE(serial, at);
  at = out.writeUInt32BE(7200, at);
  at = out.writeUInt32BE(1800, at);
  at = out.writeUInt32BE(86400, at);
  // RFC 2308 §4: MINIMUM is the negative-caching TTL; ours equals the positive TTL.
  out.writeUInt32BE(ttl, at);
  return out;
}

function ipv4Bytes(address: string): Buffer | undefined {
  if (!isIPv4(address)) return undefined;
  return Buffer.from(address.split('.').map(Number));
}

function ipv6Bytes(address: string): Buffer | undefined {
  if (!isIPv6(address)) return undefined;
  // The WHATWG URL parser canonicalises IPv6 (dotted IPv4 tails become hex groups).
  const text = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':').map((x) => parseInt(x, 16)) : [];
  const r = rest ? rest.split(':').map((x) => parseInt(x, 16)) : [];
  const groups = [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function reverseName(address: string): string | undefined {
  const v4 = ipv4Bytes(address);
  if (v4) return `${v4[3]}.${v4[2]}.${v4[1]}.${v4[0]}.in-addr.arpa`;
  const v6 = ipv6Bytes(address);
  if (!v6) return undefined;
  const nibbles = v6.toString('hex').split('').reverse();
  return `${nibbles.join('.')}.ip6.arpa`;
}

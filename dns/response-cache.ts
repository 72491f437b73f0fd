/**
 * Upstream answers kept by question, with TTLs that count down (RFC 1035 §7.4: a cached RR is handed
 * out with its remaining TTL) and negative answers kept per RFC 2308.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../lib/clock.ts';
import { FLAG_CD, FLAG_RD, RCODE, isNegative, ttlValue, type Query, type ResponseInfo } from './wire.ts';

interface Entry {
  bytes: Buffer;
  ttlOffsets: number[];
  storedAt: number;
  expiresAt: number;
}

export interface ResponseCacheOptions {
  clock: Clock;
  /** Most entries kept (least recently used go first). Default 10 000. */
  maxEntries?: number;
  /** Longest any answer is kept, positive or negative. Default 3600 s (CoreDNS's cache default). */
  maxTtlSeconds?: number;
}

/**
 * How long a response may be cached, in seconds; 0 = not at all.
 *   - truncated responses are never cached (they are not the answer);
 *   - NOERROR with answers: the smallest TTL of the answer section (RFC 2181 §5.2);
 *   - NXDOMAIN, and NOERROR without answers (NODATA): min(SOA TTL, SOA MINIMUM) from the authority
 *     section, and not at all without an SOA (RFC 2308 §5);
 *   - anything else (SERVFAIL, REFUSED, an extended RCODE, …): not cached, so a recovered upstream
 *     is used at once.
 * A TTL with the top bit set counts as 0 (RFC 2181 §8), so such an answer is not cached.
 */
export function cacheTtlSeconds(info: ResponseInfo, maxTtlSeconds: number): number {
  if (info.truncated || info.extRcode !== 0) return 0;
  let ttl: number;
  if (info.rcode === RCODE.NOERROR && info.answers > 0) ttl = info.minAnswerTtl;
  else if (isNegative(info)) ttl = info.negativeTtl;
  else return 0;
  return ttl <= 0 ? 0 : Math.min(ttl, maxTtlSeconds);
}

/**
 * The cache (and coalescing) key of a query; undefined for names that are not plain ASCII
 * labels, which are forwarded without caching rather than risk two names sharing a key.
 * RD, CD and DO are part of it: they change what an upstream returns. Whether the client sent
 * EDNS is not: stored answers carry no OPT, and each client gets its own on the way out.
 */
export function cacheKey(q: Query): string | undefined {
  if (!q.plainName) return undefined;
  return `${q.qtype}/${q.qclass}/${q.flags & (FLAG_RD | FLAG_CD)}/${q.dnssecOk ? 1 : 0}/${q.name}`;
}

export class ResponseCache {
  readonly #clock: Clock;
  readonly #maxTtlSeconds: number;
  readonly #lru: LRUCache<string, Entry>;

  constructor(options: ResponseCacheOptions) {
    this.#clock = options.clock;
    this.#maxTtlSeconds = options.maxTtlSeconds ?? 3600;
    this.#lru = new LRUCache<string, Entry>({ max: Math.max(1, options.maxEntries ?? 10_000) });
  }

  get size(): number {
    return this.#lru.size;
  }

  /**
   * Keeps `response` (an OPT-less answer, wire.ts normaliseResponse) if it is cacheable; returns
   * the TTL used (0 = not kept).
   */
  put(key: string, response: Buffer, info: ResponseInfo): number {
    const ttl = cacheTtlSeconds(info, this.#maxTtlSeconds);
    if (ttl === 0) return 0;
    const now = this.#clock.now();
    const bytes = Buffer.from(response);
    // RFC 2308 §5: the SOA of a negative answer carries the time it may still be cached, counting
    // down like any TTL, so a cache behind us never keeps it longer than we do.
    if (isNegative(info) && info.negativeTtlAt >= 0) bytes.writeUInt32BE(ttl, info.negativeTtlAt);
    this.#lru.set(key, { bytes, ttlOffsets: info.ttlOffsets, storedAt: now, expiresAt: now + ttl * 1000 });
    return ttl;
  }

  /** A fresh copy of the cached response with TTLs lowered by the whole seconds it has been held. */
  get(key: string): Buffer | undefined {
    const entry = this.#lru.get(key);
    if (!entry) return undefined;
    const now = this.#clock.now();
    if (now >= entry.expiresAt) {
      this.#lru.delete(key);
      return undefined;
    }
    const out = Buffer.from(entry.bytes);
    const elapsed = Math.floor((now - entry.storedAt) / 1000);
    if (elapsed > 0) {
      for (const at of entry.ttlOffsets) out.writeUInt32BE(Math.max(0, ttlValue(out.readUInt32BE(at)) - elapsed), at);
    }
    return out;
  }

  clear(): void {
    this.#lru.clear();
  }
}

/**
 * The DNS responder's Prometheus metrics, all in one place. Labels are bounded: `type` is one of
 * TYPE_LABELS, `result` one of RESULTS, `transport` udp|tcp, `reason` timeout|error|refused.
 *
 * Queries are counted into a plain array on the hot path and folded into the prom-client counter
 * when it is scraped: a labelled `inc()` per query costs more than answering the query does.
 */
import { Counter, Gauge, Histogram, type Registry } from '../lib/prom.ts';
import type { Result } from './answer.ts';

export const TYPE_LABELS = ['A', 'AAAA', 'SRV', 'PTR', 'TXT', 'CNAME', 'MX', 'ANY', 'OTHER'] as const;
export type TypeLabel = (typeof TYPE_LABELS)[number];
export const RESULTS: readonly Result[] = ['local', 'forwarded', 'cache_hit', 'nxdomain', 'servfail', 'formerr', 'refused', 'nodata'];

const typeIndex = new Map<number, number>([
  [1, 0],
  [28, 1],
  [33, 2],
  [12, 3],
  [16, 4],
  [5, 5],
  [15, 6],
  [255, 7],
]);
const OTHER = TYPE_LABELS.length - 1;
const resultIndex = new Map<Result, number>(RESULTS.map((r, i) => [r, i]));

/** `qtype` (a number; -1 when the packet had no readable question) → its label. */
export function typeLabel(qtype: number): TypeLabel {
  return TYPE_LABELS[typeIndex.get(qtype) ?? OTHER];
}

/** The servers reporting into each registry (normally one; tests and multi-responder processes may have more). */
const members = new WeakMap<Registry, Set<DnsMetrics>>();

export class DnsMetrics {
  readonly #counts = new Float64Array(TYPE_LABELS.length * RESULTS.length);
  readonly #reported = new Float64Array(TYPE_LABELS.length * RESULTS.length);
  readonly #registry: Registry;
  readonly #queries: Counter<'type' | 'result'>;
  readonly cacheEntries: () => number;
  readonly upstreamDuration: Histogram<'transport'>;
  readonly upstreamFailures: Counter<'reason'>;

  constructor(registry: Registry, cacheEntries: () => number) {
    this.#registry = registry;
    this.cacheEntries = cacheEntries;
    let set = members.get(registry);
    if (!set) members.set(registry, (set = new Set()));
    set.add(this);
    this.#queries = reuse<Counter<'type' | 'result'>>(registry, 'sidemesh_dns_queries_total') ?? new Counter({
      name: 'sidemesh_dns_queries_total',
      help: 'DNS queries by question type and outcome: local, nodata, nxdomain (answered here), cache_hit, forwarded (from upstream), servfail, formerr, refused.',
      labelNames: ['type', 'result'],
      registers: [registry],
      collect() {
        for (const m of members.get(registry) ?? []) m.flush();
      },
    });
    reuse<Gauge>(registry, 'sidemesh_dns_cache_entries') ?? new Gauge({
      name: 'sidemesh_dns_cache_entries',
      help: 'Upstream answers held in the DNS cache.',
      registers: [registry],
      collect() {
        let total = 0;
        for (const m of members.get(registry) ?? []) total += m.cacheEntries();
        this.set(total);
      },
    });
    this.upstreamDuration = reuse<Histogram<'transport'>>(registry, 'sidemesh_dns_upstream_duration_seconds') ?? new Histogram({
      name: 'sidemesh_dns_upstream_duration_seconds',
      help: 'Time for an upstream resolver to answer one forwarded query (each attempt).',
      labelNames: ['transport'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    this.upstreamFailures = reuse<Counter<'reason'>>(registry, 'sidemesh_dns_upstream_failures_total') ?? new Counter({
      name: 'sidemesh_dns_upstream_failures_total',
      help: 'Upstream attempts that failed (timeout, error, refused); the query moves on to the next upstream.',
      labelNames: ['reason'],
      registers: [registry],
    });
  }

  /** Counts one query (hot path: a map lookup and an add). */
  count(qtype: number, result: Result): void {
    this.#counts[(typeIndex.get(qtype) ?? OTHER) * RESULTS.length + (resultIndex.get(result) ?? 0)]++;
  }

  /** Folds the counts gathered since the last scrape into the prom-client counter. */
  flush(): void {
    for (let i = 0; i < this.#counts.length; i++) {
      const delta = this.#counts[i] - this.#reported[i];
      if (delta > 0) {
        this.#queries.inc({ type: TYPE_LABELS[Math.floor(i / RESULTS.length)], result: RESULTS[i % RESULTS.length] }, delta);
        this.#reported[i] = this.#counts[i];
      }
    }
  }

  /** Reports the last counts and leaves the registry (the counters keep their values, as counters must). */
  detach(): void {
    this.flush();
    members.get(this.#registry)?.delete(this);
  }
}

function reuse<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

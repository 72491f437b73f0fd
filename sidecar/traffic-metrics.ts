/**
 * What the data plane counts per (direction, source, destination): requests by status and method,
 * body bytes, request durations, TCP connections and bytes, retries. The hot path adds to plain
 * numbers here; metrics.ts folds them into the prom-client metrics when /metrics is scraped. A labelled
 * `inc()` or `observe()` re-hashes its labels on every call, which cost 2–3 % of the fast path's CPU.
 *
 * SidecarMetrics keeps one instance per label triple for the life of the process, so the set is as
 * bounded as the labels and nothing counted is lost when a listener or cluster is replaced.
 */
import type { Counter } from 'prom-client';
import type { Direction } from '../lib/contract.ts';

/** Upper bounds of `sidemesh_request_duration_seconds`, in seconds (+Inf implied). */
export const DURATION_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The counters a caller adds to directly, each a `sidemesh_*_total` series of this triple. */
export type CounterField = 'requestBytes' | 'responseBytes' | 'tcpOpened' | 'tcpClosed' | 'tcpSent' | 'tcpReceived' | 'retries';

interface RequestCount {
  readonly status: number;
  readonly method: string;
  readonly labels: Record<string, string>;
  n: number;
  reported: number;
}

export class TrafficMetrics {
  readonly labels: { readonly direction: Direction; readonly source_service: string; readonly destination_service: string };
  requestBytes = 0;
  responseBytes = 0;
  tcpOpened = 0;
  tcpClosed = 0;
  tcpSent = 0;
  tcpReceived = 0;
  retries = 0;
  /** Durations per bucket (not cumulative); the last slot is +Inf. */
  readonly durationCounts = new Float64Array(DURATION_BUCKETS.length + 1);
  durationSum = 0;
  durationCount = 0;
  /** method label → status → count. */
  readonly #requests = new Map<string, Map<number, RequestCount>>();
  /** The count the last request went to: most requests repeat its method and status (no map look-ups then). */
  #last: RequestCount | undefined;
  readonly #reported: Record<CounterField, number> = { requestBytes: 0, responseBytes: 0, tcpOpened: 0, tcpClosed: 0, tcpSent: 0, tcpReceived: 0, retries: 0 };

  constructor(direction: Direction, source: string, destination: string) {
    this.labels = { direction, source_service: source, destination_service: destination };
  }

  /** Counts one finished request; `status` 0 means no response could be sent (client gone). */
  request(status: number, method: string): void {
    const last = this.#last;
    if (last !== undefined && last.status === status && last.method === method) {
      last.n++;
      return;
    }
    let byStatus = this.#requests.get(method);
    if (byStatus === undefined) this.#requests.set(method, (byStatus = new Map()));
    let c = byStatus.get(status);
    if (c === undefined) byStatus.set(status, (c = { status, method, labels: { ...this.labels, response_code: String(status), method }, n: 0, reported: 0 }));
    c.n++;
    this.#last = c;
  }

  /** A request that reached a cluster ended: its duration and the body bytes it moved. */
  finished(seconds: number, requestBytes: number, responseBytes: number): void {
    // The first bucket whose bound is >= the value, as prom-client's observe() picks it.
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    this.durationCounts[i]++;
    this.durationSum += seconds;
    this.durationCount++;
    this.requestBytes += requestBytes;
    this.responseBytes += responseBytes;
  }

  /** Adds what `field` gained since the last fold to `counter` (scrape time only). */
  foldCounter(counter: Counter<string>, field: CounterField, labels: Record<string, string> = this.labels): void {
    const delta = this[field] - this.#reported[field];
    if (delta <= 0) return;
    counter.inc(labels, delta);
    this.#reported[field] = this[field];
  }

  /** Adds the requests counted since the last fold to `sidemesh_requests_total` (scrape time only). */
  foldRequests(counter: Counter<string>): void {
    for (const byStatus of this.#requests.values()) {
      for (const c of byStatus.values()) {
        if (c.n === c.reported) continue;
        counter.inc(c.labels, c.n - c.reported);
        c.reported = c.n;
      }
    }
  }
}

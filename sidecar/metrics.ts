/**
 * Every metric the sidecar exports, on its own Registry (no global state, so several sidecars can run
 * in one process under test). Labels are bounded (ARCHITECTURE.md "Metrics"): direction, services
 * from the applied document, status code, a fixed method set, a fixed cause set. Never a path, a
 * client address or a request id.
 *
 * The hot path never touches prom-client: listeners and clusters add to the plain numbers of a
 * `TrafficMetrics` (traffic-metrics.ts), and the traffic metrics below fold them in at scrape time.
 */
import { Counter, Gauge, Histogram, Registry } from '../lib/prom.ts';
import type { Direction } from '../lib/contract.ts';
import { DURATION_BUCKETS, TrafficMetrics, type CounterField } from './traffic-metrics.ts';

export type { TrafficMetrics } from './traffic-metrics.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** The `method` label: a standard verb, or OTHER (a client could otherwise mint label values). */
export function methodLabel(method: string | undefined): string {
  return method !== undefined && METHODS.has(method) ? method : 'OTHER';
}

type TrafficLabels = 'direction' | 'source_service' | 'destination_service';
type DurationLabels = 'direction' | 'destination_service';
type PromValue = { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string };

/**
 * `sidemesh_request_duration_seconds`, read at scrape time from the bucket arrays of every
 * TrafficMetrics (summed per direction and destination) instead of an `observe()` per request. The
 * values have the shape prom-client's Histogram gives the Registry, so the text is the same.
 */
class DurationHistogram extends Histogram<DurationLabels> {
  readonly #sources: () => Iterable<TrafficMetrics>;
  readonly #name: string;
  readonly #help: string;

  constructor(name: string, help: string, registers: Registry[], sources: () => Iterable<TrafficMetrics>) {
    super({ name, help, labelNames: ['direction', 'destination_service'], buckets: [...DURATION_BUCKETS], registers });
    this.#name = name;
    this.#help = help;
    this.#sources = sources;
  }

  /** Registry.metrics() uses this when a metric has it (prom-client 15); get() is the public form. */
  async getForPromString() {
    const sums = new Map<string, { labels: Record<string, string>; counts: Float64Array; sum: number; count: number }>();
    for (const t of this.#sources()) {
      if (t.durationCount === 0) continue;
      const key = t.labels.direction + '\0' + t.labels.destination_service;
      let s = sums.get(key);
      if (s === undefined) {
        const labels = { direction: t.labels.direction, destination_service: t.labels.destination_service };
        sums.set(key, (s = { labels, counts: new Float64Array(DURATION_BUCKETS.length + 1), sum: 0, count: 0 }));
      }
      for (let i = 0; i < s.counts.length; i++) s.counts[i] += t.durationCounts[i];
      s.sum += t.durationSum;
      s.count += t.durationCount;
    }
    const bucket = `${this.#name}_bucket`;
    const values: PromValue[] = [];
    for (const s of sums.values()) {
      let acc = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        acc += s.counts[i];
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.#name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.#name}_count` });
    }
    return { name: this.#name, help: this.#help, type: 'histogram' as const, values, aggregator: 'sum' as const };
  }

  override async get(): ReturnType<Histogram<DurationLabels>['get']> {
    const data = await this.getForPromString();
    const values = data.values.map(({ labels, sharedLabels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } }));
    // The typings give `type` as an enum and ask for `collect`; at run time prom-client's own get() returns the string.
    return { ...data, values } as unknown as Awaited<ReturnType<Histogram<DurationLabels>['get']>>;
  }
}

export interface EndpointCounts {
  readonly service: string;
  readonly healthy: number;
  readonly ejected: number;
  readonly terminating: number;
}

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<TrafficLabels | 'response_code' | 'method'>;
  readonly requestDuration: Histogram<DurationLabels>;
  readonly requestBytes: Counter<TrafficLabels>;
  readonly responseBytes: Counter<TrafficLabels>;
  readonly tcpOpened: Counter<TrafficLabels>;
  readonly tcpClosed: Counter<TrafficLabels>;
  readonly tcpSent: Counter<TrafficLabels>;
  readonly tcpReceived: Counter<TrafficLabels>;
  readonly upstreamEndpoints: Gauge<'destination_service' | 'state'>;
  readonly outlierEjections: Counter<'destination_service'>;
  readonly retries: Counter<'destination_service'>;
  readonly proxyErrors: Counter<'cause'>;
  readonly configVersion: Gauge<'version'>;
  readonly configAge: Gauge;
  readonly configLastUpdate: Gauge;
  readonly configLastPoll: Gauge;
  readonly configRejected: Counter<'reason'>;
  readonly discoverErrors: Counter;
  readonly bindFailures: Counter;
  readonly listenersDegraded: Gauge;
  readonly #traffic = new Map<string, TrafficMetrics>();
  #endpointSource: () => Iterable<EndpointCounts> = () => [];
  #configAgeSource: () => number | undefined = () => undefined;

  constructor() {
    const registers = [this.registry];
    const self = this;
    const traffic = ['direction', 'source_service', 'destination_service'] as const;
    const folded = (name: string, help: string, field: CounterField) =>
      new Counter({
        name,
        help,
        labelNames: traffic,
        registers,
        collect() {
          for (const t of self.#traffic.values()) t.foldCounter(this, field);
        },
      });
    this.requests = new Counter({
      name: 'sidemesh_requests_total',
      help: 'HTTP requests proxied, by response code (0: no response sent).',
      labelNames: [...traffic, 'response_code', 'method'],
      registers,
      collect() {
        for (const t of self.#traffic.values()) t.foldRequests(this);
      },
    });
    this.requestDuration = new DurationHistogram('sidemesh_request_duration_seconds', 'HTTP request duration seen by the sidecar, from request head to last response byte.', registers, () => self.#traffic.values());
    this.requestBytes = folded('sidemesh_request_bytes_total', 'HTTP request body bytes sent upstream.', 'requestBytes');
    this.responseBytes = folded('sidemesh_response_bytes_total', 'HTTP response body bytes sent to clients.', 'responseBytes');
    this.tcpOpened = folded('sidemesh_tcp_connections_opened_total', 'TCP connections opened: TCP listeners, and HTTP upgrades (WebSocket).', 'tcpOpened');
    this.tcpClosed = folded('sidemesh_tcp_connections_closed_total', 'TCP connections closed: TCP listeners, and HTTP upgrades (WebSocket).', 'tcpClosed');
    this.tcpSent = folded('sidemesh_tcp_sent_bytes_total', 'TCP bytes sent to the downstream client (upstream to client).', 'tcpSent');
    this.tcpReceived = folded('sidemesh_tcp_received_bytes_total', 'TCP bytes received from the downstream client (client to upstream).', 'tcpReceived');
    this.upstreamEndpoints = new Gauge({
      name: 'sidemesh_upstream_endpoints',
      help: 'Upstream endpoints by state (healthy, ejected, terminating), summed over the service ports.',
      labelNames: ['destination_service', 'state'],
      registers,
      collect() {
        this.reset();
        for (const c of self.#endpointSource()) {
          this.inc({ destination_service: c.service, state: 'healthy' }, c.healthy);
          this.inc({ destination_service: c.service, state: 'ejected' }, c.ejected);
          this.inc({ destination_service: c.service, state: 'terminating' }, c.terminating);
        }
      },
    });
    this.outlierEjections = new Counter({ name: 'sidemesh_outlier_ejections_total', help: 'Endpoints ejected by outlier detection.', labelNames: ['destination_service'], registers });
    this.retries = new Counter({
      name: 'sidemesh_retries_total',
      help: 'Retry attempts made (not counting first attempts).',
      labelNames: ['destination_service'],
      registers,
      collect() {
        for (const t of self.#traffic.values()) t.foldCounter(this, 'retries', { destination_service: t.labels.destination_service });
      },
    });
    this.proxyErrors = new Counter({ name: 'sidemesh_proxy_errors_total', help: 'Requests or connections the sidecar failed itself, by cause (the x-sidemesh-error value).', labelNames: ['cause'], registers });
    this.configVersion = new Gauge({ name: 'sidemesh_config_version_info', help: 'The document version in force (value 1).', labelNames: ['version'], registers });
    this.configAge = new Gauge({
      name: 'sidemesh_config_age_seconds',
      help: 'Seconds since discover last confirmed the document in force, or since the sidecar started while it has none (grows while discover is unreachable).',
      registers,
      collect() {
        const age = self.#configAgeSource();
        if (age !== undefined) this.set(age);
      },
    });
    this.configLastUpdate = new Gauge({ name: 'sidemesh_config_last_update_timestamp_seconds', help: 'Unix time the document in force was applied.', registers });
    this.configLastPoll = new Gauge({ name: 'sidemesh_config_last_poll_success_timestamp_seconds', help: 'Unix time of the last successful poll of discover.', registers });
    this.configRejected = new Counter({ name: 'sidemesh_config_rejected_total', help: 'Documents not applied: decode failures or status invalid while a config runs.', labelNames: ['reason'], registers });
    this.discoverErrors = new Counter({ name: 'sidemesh_discover_poll_errors_total', help: 'Polls of discover that failed (unreachable, timeout, unexpected status).', registers });
    this.bindFailures = new Counter({ name: 'sidemesh_listener_bind_failures_total', help: 'Listener bind attempts that failed (address in use or not assignable).', registers });
    this.listenersDegraded = new Gauge({ name: 'sidemesh_listeners_degraded', help: 'Listeners of the document in force that are not bound.', registers });
  }

  /** The counts of one label triple; the same object for the same triple, for the life of the process. */
  traffic(direction: Direction, source: string, destination: string): TrafficMetrics {
    const key = `${direction}\0${source}\0${destination}`;
    let t = this.#traffic.get(key);
    if (t === undefined) this.#traffic.set(key, (t = new TrafficMetrics(direction, source, destination)));
    return t;
  }

  /** Where the endpoint gauge reads from at scrape time (no hot-path cost). */
  setEndpointSource(source: () => Iterable<EndpointCounts>): void {
    this.#endpointSource = source;
  }

  setConfigAgeSource(source: () => number | undefined): void {
    this.#configAgeSource = source;
  }

  setConfigVersion(version: string, appliedAtMs: number): void {
    this.configVersion.reset();
    this.configVersion.set({ version }, 1);
    this.configLastUpdate.set(appliedAtMs / 1000);
  }
}

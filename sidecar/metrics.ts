/**
 * Every metric the sidecar exports, on its own Registry (no global state, so several sidecars can run
 * in one process under test). Labels are bounded (ARCHITECTURE.md "Metrics"): direction, services
 * from the applied document, status code, a fixed method set, a fixed cause set. Never a path, a
 * client address or a request id.
 *
 * The hot path never builds a label object: listeners and clusters hold `TrafficMetrics` whose
 * label-bound children are created once (`counter.labels(...)`), and per-status children are
 * memoised in a small map.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Direction } from '../lib/contract.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** The `method` label: a standard verb, or OTHER (a client could otherwise mint label values). */
export function methodLabel(method: string | undefined): string {
  return method !== undefined && METHODS.has(method) ? method : 'OTHER';
}

type TrafficLabels = 'direction' | 'source_service' | 'destination_service';
type Child = { inc(value?: number): void };

/** Label-bound children for one (direction, source, destination) triple. */
export class TrafficMetrics {
  readonly #requests: Counter<TrafficLabels | 'response_code' | 'method'>;
  readonly #labels: [string, string, string];
  readonly #byStatus = new Map<string, Child>();
  readonly duration: { observe(value: number): void };
  readonly requestBytes: Child;
  readonly responseBytes: Child;
  readonly tcpOpened: Child;
  readonly tcpClosed: Child;
  readonly tcpSent: Child;
  readonly tcpReceived: Child;
  readonly retries: Child;

  constructor(m: SidecarMetrics, direction: Direction, source: string, destination: string) {
    this.#requests = m.requests;
    this.#labels = [direction, source, destination];
    this.duration = m.requestDuration.labels(direction, destination);
    this.requestBytes = m.requestBytes.labels(direction, source, destination);
    this.responseBytes = m.responseBytes.labels(direction, source, destination);
    this.tcpOpened = m.tcpOpened.labels(direction, source, destination);
    this.tcpClosed = m.tcpClosed.labels(direction, source, destination);
    this.tcpSent = m.tcpSent.labels(direction, source, destination);
    this.tcpReceived = m.tcpReceived.labels(direction, source, destination);
    this.retries = m.retries.labels(destination);
  }

  /** Counts one finished request; `status` 0 means no response could be sent (client gone). */
  request(status: number, method: string): void {
    const key = method + status;
    let child = this.#byStatus.get(key);
    if (child === undefined) {
      const [d, s, t] = this.#labels;
      child = this.#requests.labels(d, s, t, String(status), method);
      this.#byStatus.set(key, child);
    }
    child.inc();
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
  readonly requestDuration: Histogram<'direction' | 'destination_service'>;
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
  #endpointSource: () => Iterable<EndpointCounts> = () => [];
  #configAgeSource: () => number | undefined = () => undefined;

  constructor() {
    const registers = [this.registry];
    const traffic = ['direction', 'source_service', 'destination_service'] as const;
    this.requests = new Counter({ name: 'sidemesh_requests_total', help: 'HTTP requests proxied, by response code (0: no response sent).', labelNames: [...traffic, 'response_code', 'method'], registers });
    this.requestDuration = new Histogram({
      name: 'sidemesh_request_duration_seconds',
      help: 'HTTP request duration seen by the sidecar, from request head to last response byte.',
      labelNames: ['direction', 'destination_service'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.requestBytes = new Counter({ name: 'sidemesh_request_bytes_total', help: 'HTTP request body bytes sent upstream.', labelNames: traffic, registers });
    this.responseBytes = new Counter({ name: 'sidemesh_response_bytes_total', help: 'HTTP response body bytes sent to clients.', labelNames: traffic, registers });
    this.tcpOpened = new Counter({ name: 'sidemesh_tcp_connections_opened_total', help: 'TCP connections accepted by TCP listeners.', labelNames: traffic, registers });
    this.tcpClosed = new Counter({ name: 'sidemesh_tcp_connections_closed_total', help: 'TCP connections closed on TCP listeners.', labelNames: traffic, registers });
    this.tcpSent = new Counter({ name: 'sidemesh_tcp_sent_bytes_total', help: 'TCP bytes sent to the downstream client (upstream to client).', labelNames: traffic, registers });
    this.tcpReceived = new Counter({ name: 'sidemesh_tcp_received_bytes_total', help: 'TCP bytes received from the downstream client (client to upstream).', labelNames: traffic, registers });
    const self = this;
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
    this.retries = new Counter({ name: 'sidemesh_retries_total', help: 'Retry attempts made (not counting first attempts).', labelNames: ['destination_service'], registers });
    this.proxyErrors = new Counter({ name: 'sidemesh_proxy_errors_total', help: 'Requests or connections the sidecar failed itself, by cause (the x-sidemesh-error value).', labelNames: ['cause'], registers });
    this.configVersion = new Gauge({ name: 'sidemesh_config_version_info', help: 'The document version in force (value 1).', labelNames: ['version'], registers });
    this.configAge = new Gauge({
      name: 'sidemesh_config_age_seconds',
      help: 'Seconds since discover last confirmed the document in force (grows while discover is unreachable).',
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

  traffic(direction: Direction, source: string, destination: string): TrafficMetrics {
    return new TrafficMetrics(this, direction, source, destination);
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

/**
 * The sidecar's one config loader: every environment variable it reads, with its default and what it
 * changes. The result is frozen; everything else in sidecar/ receives what it needs from here.
 * docs/sidecar.md repeats this table for operators.
 */
import { parseHostPort } from '../lib/contract-decoder.ts';
import { EnvReader, type Env } from '../lib/env.ts';
import { isLogLevel, type LogLevel } from '../lib/log.ts';
import { h1ParserAvailable } from './h1-parser.ts';
import { DEFAULT_PLUGIN, ENV, PORT_DNS, PORT_SIDECAR_ADMIN, PORT_SIDECAR_METRICS } from '../lib/names.ts';

export interface HostPort {
  readonly host: string;
  /** 0 lets the OS choose (tests). */
  readonly port: number;
}

export interface SidecarConfig {
  /** `DISCOVER_URL` (required): the workload's document; polled with `?wait=` and `If-None-Match`. */
  readonly discoverUrl: string;
  /** `NAMESPACE`, `SERVICE_ALIAS`, `PLUGIN_ID`: the workload; default parsed from DISCOVER_URL's path. Names the cache file and the `source_service` label. */
  readonly namespace: string;
  readonly service: string;
  readonly plugin: string;
  /** `POD_NAME`, `POD_IP`: only added to log lines. */
  readonly podName: string | undefined;
  readonly podIp: string | undefined;
  /** `SIDEMESH_ADMIN_ADDR` (127.0.0.1:15000): /ready, /config, /quitquitquit, /healthz. Loopback only: /quitquitquit stops the pod's proxy. */
  readonly admin: HostPort;
  /** `SIDEMESH_METRICS_ADDR` (0.0.0.0:15090): Prometheus /metrics. */
  readonly metrics: HostPort;
  /** `SIDEMESH_CACHE_DIR` (/var/run/sidemesh): last good document, so a restart serves before discover answers. Unwritable: warn, run without a cache. */
  readonly cacheDir: string;
  /** `SIDEMESH_DRAIN_GRACE_PERIOD` (20s): on SIGTERM / close, how long in-flight requests and connections may run before they are cut. Keep it below the pod's terminationGracePeriodSeconds (30 s by default). */
  readonly drainGraceMs: number;
  /** `SIDEMESH_DNS_ENABLED` (true) and `SIDEMESH_DNS_ADDR` (127.0.0.1:53): the pod's DNS responder (dns/). */
  readonly dnsEnabled: boolean;
  readonly dns: HostPort;
  /** `SIDEMESH_DISCOVER_WAIT` (30s): long-poll hold asked of discover; the request times out 15 s later. */
  readonly pollWaitMs: number;
  /** `SIDEMESH_DISCOVER_BACKOFF_MAX` (30s): longest pause between failed polls (full-jitter exponential from 200 ms). */
  readonly pollBackoffCapMs: number;
  /** `SIDEMESH_HTTP_HEADERS_TIMEOUT` (10s): a client must send its whole request head within this (slowloris defence); else 408 and close. */
  readonly httpHeadersTimeoutMs: number;
  /** `SIDEMESH_HTTP_REQUEST_TIMEOUT` (300s): a client must send its whole request (head and body) within this; 0 = no limit. */
  readonly httpRequestTimeoutMs: number;
  /** `SIDEMESH_HTTP_IDLE_TIMEOUT` (60s): idle keep-alive client connections are closed after this. Longer than usual client pools' idle time, so the app rarely races a close. */
  readonly httpIdleTimeoutMs: number;
  /**
   * `SIDEMESH_HTTP_FAST_PATH` (true): HTTP listeners parse only heads and framing with node's strict
   * parser and forward over their own keep-alive sockets (h1-connection.ts); false = node:http + undici.
   */
  readonly httpFastPath: boolean;
  /** `SIDEMESH_UPSTREAM_IDLE_TIMEOUT` (4s): idle pooled upstream connections are closed after this; below Node's 5 s server default so we close first. */
  readonly upstreamIdleTimeoutMs: number;
  /** `SIDEMESH_BIND_RETRY_INTERVAL` (5s): how often a listener that failed to bind (address in use) is tried again. */
  readonly bindRetryMs: number;
  /** `LOG_LEVEL` (info): debug, info, warn, error, silent. */
  readonly logLevel: LogLevel;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export function loadSidecarConfig(env: Env): SidecarConfig {
  const r = new EnvReader(env);
  const discoverUrl = r.url(ENV.DISCOVER_URL);
  const fromPath = workloadFromUrl(discoverUrl);
  const namespace = r.string(ENV.NAMESPACE, fromPath?.namespace ?? '');
  const service = r.string(ENV.SERVICE_ALIAS, fromPath?.service ?? '');
  const plugin = r.string(ENV.PLUGIN_ID, fromPath?.plugin ?? DEFAULT_PLUGIN);
  if (discoverUrl !== '' && (namespace === '' || service === '')) {
    r.problem(`${ENV.NAMESPACE} and ${ENV.SERVICE_ALIAS} are required when ${ENV.DISCOVER_URL} is not /v1/resources/{namespace}/{service}/{plugin}`);
  }
  const addr = (name: string, fallback: string): HostPort => {
    const text = r.string(name, fallback);
    // Port 0 is allowed (the OS picks one: tests, several sidecars on one machine).
    const hp = parseHostPort(text, { allowPortZero: true });
    if (hp === undefined) {
      r.problem(`${name}=${JSON.stringify(text)} must be ip:port`);
      return parseHostPort(fallback)!;
    }
    return hp;
  };
  const level = r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info');
  const config: SidecarConfig = {
    discoverUrl,
    namespace,
    service,
    plugin,
    podName: r.optionalString(ENV.POD_NAME),
    podIp: r.optionalString(ENV.POD_IP),
    admin: addr('SIDEMESH_ADMIN_ADDR', `127.0.0.1:${PORT_SIDECAR_ADMIN}`),
    metrics: addr('SIDEMESH_METRICS_ADDR', `0.0.0.0:${PORT_SIDECAR_METRICS}`),
    cacheDir: r.string('SIDEMESH_CACHE_DIR', '/var/run/sidemesh'),
    drainGraceMs: r.durationMs('SIDEMESH_DRAIN_GRACE_PERIOD', 20_000),
    dnsEnabled: r.bool('SIDEMESH_DNS_ENABLED', true),
    dns: addr('SIDEMESH_DNS_ADDR', `127.0.0.1:${PORT_DNS}`),
    pollWaitMs: r.durationMs('SIDEMESH_DISCOVER_WAIT', 30_000),
    pollBackoffCapMs: r.durationMs('SIDEMESH_DISCOVER_BACKOFF_MAX', 30_000),
    httpHeadersTimeoutMs: r.durationMs('SIDEMESH_HTTP_HEADERS_TIMEOUT', 10_000),
    httpRequestTimeoutMs: r.durationMs('SIDEMESH_HTTP_REQUEST_TIMEOUT', 300_000),
    httpIdleTimeoutMs: r.durationMs('SIDEMESH_HTTP_IDLE_TIMEOUT', 60_000),
    httpFastPath: r.bool('SIDEMESH_HTTP_FAST_PATH', true) && h1ParserAvailable,
    upstreamIdleTimeoutMs: r.durationMs('SIDEMESH_UPSTREAM_IDLE_TIMEOUT', 4_000),
    bindRetryMs: r.durationMs('SIDEMESH_BIND_RETRY_INTERVAL', 5_000),
    logLevel: isLogLevel(level) ? level : 'info',
  };
  if (config.pollWaitMs < 1000) r.problem('SIDEMESH_DISCOVER_WAIT must be at least 1s');
  if (config.httpHeadersTimeoutMs < 1) r.problem('SIDEMESH_HTTP_HEADERS_TIMEOUT must be positive');
  if (config.httpRequestTimeoutMs !== 0 && config.httpRequestTimeoutMs < config.httpHeadersTimeoutMs) {
    r.problem('SIDEMESH_HTTP_REQUEST_TIMEOUT must be 0 or at least SIDEMESH_HTTP_HEADERS_TIMEOUT');
  }
  r.finish();
  return Object.freeze(config);
}

/** `/v1/resources/{ns}/{service}/{plugin}` → its parts, or undefined for any other path. */
export function workloadFromUrl(url: string): { namespace: string; service: string; plugin: string } | undefined {
  if (url === '') return undefined;
  const m = /\/v1\/resources\/([^/]+)\/([^/]+)\/([^/?]+)\/?$/.exec(new URL(url).pathname);
  if (!m) return undefined;
  return { namespace: decodeURIComponent(m[1]), service: decodeURIComponent(m[2]), plugin: decodeURIComponent(m[3]) };
}

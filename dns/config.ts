/**
 * `sidemesh dns`'s one config loader: flags and environment, every problem reported at once.
 * The result is frozen. (Inside the sidecar, the sidecar's config decides the address and passes
 * DnsServerOptions directly.)
 */
import { parseHostPort } from '../lib/contract-decoder.ts';
import { EnvReader, type Env } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import type { LogLevel } from '../lib/log.ts';
import { PORT_DNS } from '../lib/names.ts';

export interface DnsProcessConfig {
  /** `--document <file.json>` (required): a discover document (its `dns` is used) or a bare DnsConfig. */
  readonly document: string;
  /** `--listen` or `DNS_ADDR` (127.0.0.1:53). Port 0 = any free port (logged as "dns responder listening"). */
  readonly host: string;
  readonly port: number;
  /** `--upstream ip:port` (repeatable) or `DNS_UPSTREAMS` (comma list): replaces the document's upstreams. */
  readonly upstreams: readonly string[] | undefined;
  /** `DNS_UPSTREAM_TIMEOUT` (1500ms): a forwarded query gets SERVFAIL after this, all attempts included. */
  readonly upstreamTimeoutMs: number;
  /** `DNS_UPSTREAM_ATTEMPT_TIMEOUT` (500ms): one try at one upstream before the next is tried. */
  readonly upstreamAttemptTimeoutMs: number;
  /** `DNS_CACHE_MAX_ENTRIES` (10000): upstream answers cached; 1 effectively disables the cache. */
  readonly cacheMaxEntries: number;
  /** `DNS_CACHE_MAX_TTL` (3600s): longest any upstream answer is cached. */
  readonly cacheMaxTtlSeconds: number;
  /** `DNS_TCP` (true): also serve DNS over TCP on the same port. */
  readonly tcp: boolean;
  /** `DNS_TCP_IDLE_TIMEOUT` (10s): idle TCP clients are disconnected. */
  readonly tcpIdleTimeoutMs: number;
  /** `DNS_SEARCH_SHORTCUT` (true): answer provable search-list misses NXDOMAIN locally (docs/dns.md). */
  readonly searchShortcut: boolean;
  /** `LOG_LEVEL` (info). */
  readonly logLevel: LogLevel;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

interface Flags {
  document?: string;
  listen?: string;
  upstreams: string[];
}

function parseFlags(args: readonly string[], problems: string[]): Flags {
  const out: Flags = { upstreams: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (flag !== '--document' && flag !== '--listen' && flag !== '--upstream') {
      problems.push(`unknown argument ${JSON.stringify(a)}`);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (value === undefined || value === '') problems.push(`${flag} needs a value`);
    else if (flag === '--document') out.document = value;
    else if (flag === '--listen') out.listen = value;
    else out.upstreams.push(value);
  }
  return out;
}

/** `documentRequired: false` when the caller feeds the responder itself (`sidemesh dns --file`). */
export function loadDnsConfig(args: readonly string[], env: Env, options: { documentRequired?: boolean } = {}): DnsProcessConfig {
  const problems: string[] = [];
  const flags = parseFlags(args, problems);
  const r = new EnvReader(env);
  if (flags.document === undefined && options.documentRequired !== false) problems.push('--document <file.json> is required');
  const listenText = flags.listen ?? r.string('DNS_ADDR', `127.0.0.1:${PORT_DNS}`);
  const listen = parseHostPort(listenText, { allowPortZero: true });
  if (!listen) problems.push(`listen address ${JSON.stringify(listenText)} must be ip:port`);
  const upstreamList = flags.upstreams.length > 0 ? flags.upstreams : r.list('DNS_UPSTREAMS', []);
  for (const u of upstreamList) if (!parseHostPort(u)) problems.push(`upstream ${JSON.stringify(u)} must be ip:port`);
  const config: DnsProcessConfig = {
    document: flags.document ?? '',
    host: listen?.host ?? '127.0.0.1',
    port: listen?.port ?? PORT_DNS,
    upstreams: upstreamList.length > 0 ? upstreamList : undefined,
    upstreamTimeoutMs: r.durationMs('DNS_UPSTREAM_TIMEOUT', 1500, 'ms'),
    upstreamAttemptTimeoutMs: r.durationMs('DNS_UPSTREAM_ATTEMPT_TIMEOUT', 500, 'ms'),
    cacheMaxEntries: r.int('DNS_CACHE_MAX_ENTRIES', 10_000, { min: 1, max: 10_000_000 }),
    cacheMaxTtlSeconds: Math.round(r.durationMs('DNS_CACHE_MAX_TTL', 3_600_000, 's') / 1000),
    tcp: r.bool('DNS_TCP', true),
    tcpIdleTimeoutMs: r.durationMs('DNS_TCP_IDLE_TIMEOUT', 10_000, 's'),
    searchShortcut: r.bool('DNS_SEARCH_SHORTCUT', true),
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
  };
  if (config.upstreamTimeoutMs < 1) problems.push('DNS_UPSTREAM_TIMEOUT must be at least 1ms');
  try {
    r.finish();
  } catch (err) {
    if (err instanceof ConfigError) problems.push(...err.problems);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

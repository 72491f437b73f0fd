/**
 * Rainbond option keys (docs/discover.md, "Plugin config keys") plus sidemesh's own, validated and turned into
 * a route rule and a ClusterPolicy. Values may be strings (as Rainbond stored them) or numbers.
 * Every problem is collected with its path; a bad key falls back to its default so the rest of the
 * entry can still be checked.
 */
import { LB_POLICIES, RETRY_ON } from '../lib/contract.ts';
import type { ClusterPolicy, ConfigProblem, HashOn, HeaderMatcher, LbPolicy, Options, RetryOn } from '../lib/contract.ts';

/** Production defaults; docs/discover.md explains each. Circuit-breaker values are Rainbond's code defaults. */
export const DEFAULT_POLICY: ClusterPolicy = Object.freeze({
  lb: 'round_robin',
  hashOn: null,
  connectTimeoutMs: 1000,
  requestTimeoutMs: 0,
  idleTimeoutMs: 7_200_000,
  maxRequestsPerConnection: 0,
  healthyPanicThreshold: 50,
  retry: { attempts: 2, on: ['connect-failure', 'reset', 'gateway-error'], statuses: [], budgetPercent: 20, minPerSecond: 10, backoffMs: 25 },
  outlier: { consecutiveErrors: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 },
  circuitBreaker: { maxConnections: 10240, maxPendingRequests: 1024, maxRequests: 10240, maxActiveRetries: 3 },
}) as ClusterPolicy;

const KNOWN_KEYS = new Set([
  'Domains', 'Prefix', 'Headers', 'Weight', 'MaxConnections', 'MaxPendingRequests', 'MaxRequests', 'MaxActiveRetries',
  'MaxRequestsPerConnection', 'ConsecutiveErrors', 'BaseEjectionTimeMS', 'MaxEjectionPercent', 'IntervalMS', 'ConnectionTimeout',
  'HealthyPanicThreshold', 'TCPIdleTimeout', 'LBPolicy', 'HashOn', 'RequestTimeoutMS', 'Retries', 'RetryOn', 'RetryStatuses', 'RetryBudgetPercent',
]);

/** Keys the compiler reads; any other key (Rainbond's `PROXY`, `OPEN_LIMIT`, a plugin's own) is passed through untouched. */
export function knownKey(key: string): boolean {
  return KNOWN_KEYS.has(key);
}

export interface RouteRule {
  /** Lower-case; empty means "this Service's own listener" (Rainbond's `*`). */
  domains: string[];
  prefix: string;
  headers: HeaderMatcher[];
  weight: number;
}

export interface ParsedOptions {
  route: RouteRule;
  policy: ClusterPolicy;
}

const DOMAIN = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

class Reader {
  readonly #options: Options;
  readonly #path: string;
  readonly #problems: ConfigProblem[];

  constructor(options: Options, path: string, problems: ConfigProblem[]) {
    this.#options = options;
    this.#path = path;
    this.#problems = problems;
  }

  problem(key: string, message: string): void {
    this.#problems.push({ path: `${this.#path}.${key}`, message });
  }

  /** The trimmed text of a key; undefined when absent or "" (Rainbond's console writes "" for unset). */
  text(key: string): string | undefined {
    const v = this.#options[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (typeof v !== 'string') {
      this.problem(key, 'must be a string or a number');
      return undefined;
    }
    return v.trim() === '' ? undefined : v.trim();
  }

  int(key: string, fallback: number, min: number, max: number, hint = ''): number {
    const t = this.text(key);
    if (t === undefined) return fallback;
    const n = /^-?\d+$/.test(t) ? Number(t) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.problem(key, `${JSON.stringify(this.#options[key])} must be an integer in [${min}, ${max}]${hint}`);
      return fallback;
    }
    return n;
  }

  list(key: string): string[] | undefined {
    const t = this.text(key);
    return t === undefined ? undefined : t.split(',').map((s) => s.trim()).filter(Boolean);
  }
}

function parseDomains(r: Reader): string[] {
  const raw = r.list('Domains') ?? [];
  const out = new Set<string>();
  for (const d of raw) {
    // Rainbond wrote `host:port` for grpc; the port is implied by the listener.
    const host = d.toLowerCase().replace(/:\d+$/, '');
    if (host === '*') continue;
    if (!DOMAIN.test(host)) r.problem('Domains', `${JSON.stringify(d)} is not a host name (or *.suffix)`);
    else out.add(host);
  }
  if (raw.some((d) => d === '*') && out.size > 0) r.problem('Domains', '"*" cannot be combined with other domains');
  return [...out].sort();
}

function parseHeaders(r: Reader): HeaderMatcher[] {
  const t = r.text('Headers');
  if (t === undefined) return [];
  const byName = new Map<string, string>();
  for (const pair of t.split(';').map((s) => s.trim()).filter(Boolean)) {
    const i = pair.indexOf(':');
    const name = (i < 0 ? pair : pair.slice(0, i)).trim().toLowerCase();
    const value = i < 0 ? '' : pair.slice(i + 1).trim();
    // Rainbond's console wrote `has_header:no` for "no header match"; keep accepting it.
    if (name === 'has_header' && value === 'no') continue;
    if (i < 0 || !HEADER_NAME.test(name)) r.problem('Headers', `${JSON.stringify(pair)} is not name:value`);
    else if (byName.has(name) && byName.get(name) !== value) r.problem('Headers', `header ${name} is given twice with different values`);
    else byName.set(name, value);
  }
  return [...byName].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([name, value]) => ({ name, value }));
}

function parseHashOn(r: Reader, lb: LbPolicy): HashOn | null {
  const t = r.text('HashOn');
  if (t === undefined) return lb === 'ring_hash' ? { kind: 'source' } : null;
  if (lb !== 'ring_hash') r.problem('HashOn', 'only applies with LBPolicy ring_hash');
  if (t === 'source') return { kind: 'source' };
  const m = /^(header|cookie):(.+)$/.exec(t);
  if (!m || (m[1] === 'header' && !HEADER_NAME.test(m[2].toLowerCase()))) {
    r.problem('HashOn', `${JSON.stringify(t)} must be header:<name>, cookie:<name> or source`);
    return lb === 'ring_hash' ? { kind: 'source' } : null;
  }
  return { kind: m[1] as 'header' | 'cookie', name: m[1] === 'header' ? m[2].toLowerCase() : m[2] };
}

function parseRetry(r: Reader): ClusterPolicy['retry'] {
  const d = DEFAULT_POLICY.retry;
  const statuses: number[] = [];
  for (const s of r.list('RetryStatuses') ?? []) {
    const n = /^\d{3}$/.test(s) ? Number(s) : NaN;
    if (!(n >= 100 && n <= 599)) r.problem('RetryStatuses', `${JSON.stringify(s)} is not an HTTP status`);
    else if (!statuses.includes(n)) statuses.push(n);
  }
  statuses.sort((a, b) => a - b);
  const rawOn = r.list('RetryOn');
  let on: RetryOn[] = [...d.on];
  if (rawOn !== undefined) {
    on = [];
    for (const x of rawOn) {
      if (!(RETRY_ON as readonly string[]).includes(x)) r.problem('RetryOn', `${JSON.stringify(x)} must be one of ${RETRY_ON.join(', ')}`);
      else if (!on.includes(x as RetryOn)) on.push(x as RetryOn);
    }
    if (statuses.length > 0 && !on.includes('retriable-status-codes')) r.problem('RetryStatuses', 'needs retriable-status-codes in RetryOn');
  } else if (statuses.length > 0) {
    on.push('retriable-status-codes');
  }
  return {
    attempts: r.int('Retries', d.attempts, 0, 10),
    on: RETRY_ON.filter((x) => on.includes(x)),
    statuses,
    budgetPercent: r.int('RetryBudgetPercent', d.budgetPercent, 0, 100),
    minPerSecond: d.minPerSecond,
    backoffMs: d.backoffMs,
  };
}

/** Parses one entry's `options` (null = all defaults). Problems are appended to `problems`. */
export function parseOptions(options: Options | null, path: string, problems: ConfigProblem[]): ParsedOptions {
  const r = new Reader(options ?? {}, path, problems);
  const d = DEFAULT_POLICY;
  const prefix = r.text('Prefix') ?? '/';
  if (!prefix.startsWith('/')) r.problem('Prefix', `${JSON.stringify(prefix)} must start with /`);
  const lbText = r.text('LBPolicy')?.toLowerCase();
  let lb: LbPolicy = d.lb;
  if (lbText !== undefined) {
    if ((LB_POLICIES as readonly string[]).includes(lbText)) lb = lbText as LbPolicy;
    else r.problem('LBPolicy', `${JSON.stringify(lbText)} must be one of ${LB_POLICIES.join(', ')}`);
  }
  const policy: ClusterPolicy = {
    lb,
    hashOn: parseHashOn(r, lb),
    connectTimeoutMs: r.int('ConnectionTimeout', d.connectTimeoutMs, 1, 600_000, ' (milliseconds)'),
    requestTimeoutMs: r.int('RequestTimeoutMS', d.requestTimeoutMs, 0, 86_400_000),
    idleTimeoutMs: r.int('TCPIdleTimeout', d.idleTimeoutMs / 1000, 0, 604_800, ' (seconds)') * 1000,
    maxRequestsPerConnection: r.int('MaxRequestsPerConnection', d.maxRequestsPerConnection, 0, 1_000_000_000),
    healthyPanicThreshold: r.int('HealthyPanicThreshold', d.healthyPanicThreshold, 0, 100),
    retry: parseRetry(r),
    outlier: {
      consecutiveErrors: r.int('ConsecutiveErrors', d.outlier.consecutiveErrors, 0, 1_000_000),
      // Rainbond read IntervalMS as seconds; a tiny value is almost surely one of those configs.
      intervalMs: r.int('IntervalMS', d.outlier.intervalMs, 100, 3_600_000, ' (milliseconds; Rainbond read it as seconds, so "10" means 10000)'),
      baseEjectionTimeMs: r.int('BaseEjectionTimeMS', d.outlier.baseEjectionTimeMs, 0, 3_600_000),
      maxEjectionPercent: r.int('MaxEjectionPercent', d.outlier.maxEjectionPercent, 0, 100),
    },
    circuitBreaker: {
      maxConnections: r.int('MaxConnections', d.circuitBreaker.maxConnections, 1, 1_000_000_000),
      maxPendingRequests: r.int('MaxPendingRequests', d.circuitBreaker.maxPendingRequests, 0, 1_000_000_000),
      maxRequests: r.int('MaxRequests', d.circuitBreaker.maxRequests, 1, 1_000_000_000),
      maxActiveRetries: r.int('MaxActiveRetries', d.circuitBreaker.maxActiveRetries, 0, 1_000_000_000),
    },
  };
  return {
    route: { domains: parseDomains(r), prefix: prefix.startsWith('/') ? prefix : '/', headers: parseHeaders(r), weight: r.int('Weight', 100, 0, 10_000) },
    policy,
  };
}

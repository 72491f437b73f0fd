/**
 * The logical step of an outbound HTTP request (linkerd's logical → concrete → endpoint): which
 * cluster serves this Host, path and headers. Built once per RouteConfig, consulted per request.
 *
 * Matching, in the order a caller may rely on:
 * 1. Virtual host by the Host header, port stripped, lower-cased, trailing dot dropped: an exact
 *    domain first, then the longest `*.suffix` wildcard (`*.example.com` matches `a.example.com` and
 *    `a.b.example.com`, never `example.com` itself, as in Envoy), then `*`. A missing Host only
 *    matches `*`. When two virtual hosts list the same domain, the first one in the config wins.
 * 2. The first route of that virtual host whose path prefix and headers all match. Routes are tried
 *    in config order: the discover compiler already sorts them (longest prefix, most headers first).
 *    The prefix is compared as plain text against the path without its `?query`, like Envoy's
 *    `prefix` (so `/api` also matches `/apiv2`).
 * 3. A weighted pick among the route's clusters (weight-0 clusters are never picked).
 *
 * Header matchers compare exact values (Rainbond compared prefixes and kept only the last pair;
 * both fixed: every pair must match). Node joins most repeated headers into one string with ", ",
 * and that joined string is what is compared; when the value is an array (set-cookie, or a caller's
 * own headers), a matcher matches if any element equals it or the elements joined with ", " do.
 *
 * Per request this does one lower-casing of the host and, at most, one Map lookup plus a scan of the
 * wildcard domains; routes are scanned in order; the weighted pick is O(log k) over k clusters.
 */
import type { HeaderMatcher, RouteConfig, VirtualHost } from '../../lib/contract.ts';
import { WeightedPicker } from './weighted-picker.ts';

interface CompiledRoute {
  readonly prefix: string;
  readonly headers: readonly HeaderMatcher[];
  readonly clusters: WeightedPicker<string>;
}

interface CompiledHost {
  readonly routes: readonly CompiledRoute[];
}

type Headers = Record<string, string | string[] | undefined>;

export class RouteTable {
  readonly name: string;
  readonly #exact = new Map<string, CompiledHost>();
  /** `.example.com` suffixes, longest first. */
  readonly #wildcards: { suffix: string; host: CompiledHost }[] = [];
  #any: CompiledHost | undefined;
  /** The last Host header looked up and its answer: a client sends the same one on every request. */
  #lastHost = '';
  #lastVhost: CompiledHost | undefined;
  /** Some route matches on headers (the fast path builds a header object only then). */
  readonly usesHeaders: boolean;

  constructor(config: RouteConfig, options: { random?: () => number } = {}) {
    const random = options.random ?? Math.random;
    this.name = config.name;
    const seenSuffix = new Set<string>();
    for (const vh of config.virtualHosts) {
      const host = compileHost(vh, random);
      for (const raw of vh.domains) {
        const domain = normaliseDomain(raw);
        if (domain === '*') {
          this.#any ??= host;
        } else if (domain.startsWith('*.')) {
          const suffix = domain.slice(1);
          if (!seenSuffix.has(suffix)) {
            seenSuffix.add(suffix);
            this.#wildcards.push({ suffix, host });
          }
        } else if (!this.#exact.has(domain)) {
          this.#exact.set(domain, host);
        }
      }
    }
    this.usesHeaders = config.virtualHosts.some((vh) => vh.routes.some((r) => r.match.headers.length > 0));
    // Stable sort: equal-length suffixes keep config order.
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  /**
   * The cluster for a request, or undefined when no route matches (the proxy answers 404 no_route).
   * `host`: the Host header as received (any case, may carry `:port`); `path`: the request target
   * (may carry `?query`); `headers`: node's IncomingHttpHeaders (lower-case names).
   */
  select(host: string | undefined, path: string, headers: Headers): string | undefined {
    const vhost = this.#virtualHost(host);
    if (vhost === undefined) return undefined;
    const q = path.indexOf('?');
    const pathEnd = q === -1 ? path.length : q;
    const routes = vhost.routes;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i];
      if (route.prefix.length > pathEnd || !path.startsWith(route.prefix)) continue;
      if (!headersMatch(route.headers, headers)) continue;
      return route.clusters.pick();
    }
    return undefined;
  }

  #virtualHost(rawHost: string | undefined): CompiledHost | undefined {
    if (rawHost === undefined || rawHost === '') return this.#any;
    if (rawHost === this.#lastHost) return this.#lastVhost;
    const vhost = this.#lookUp(normaliseHost(rawHost));
    this.#lastHost = rawHost;
    this.#lastVhost = vhost;
    return vhost;
  }

  #lookUp(host: string): CompiledHost | undefined {
    const exact = this.#exact.get(host);
    if (exact !== undefined) return exact;
    for (const w of this.#wildcards) {
      if (host.length > w.suffix.length && host.endsWith(w.suffix)) return w.host;
    }
    return this.#any;
  }
}

function compileHost(vh: VirtualHost, random: () => number): CompiledHost {
  return {
    routes: vh.routes.map((r) => ({
      prefix: r.match.prefix,
      headers: r.match.headers.map((h) => ({ name: h.name.toLowerCase(), value: h.value })),
      clusters: new WeightedPicker(
        r.clusters.map((c) => c.cluster),
        r.clusters.map((c) => c.weight),
        random,
      ),
    })),
  };
}

function normaliseDomain(domain: string): string {
  const d = domain.trim().toLowerCase();
  return d.endsWith('.') ? d.slice(0, -1) : d;
}

/** `Foo.Example.com:8080` → `foo.example.com`; `[::1]:80` → `[::1]`; `example.com.` → `example.com`. */
export function normaliseHost(raw: string): string {
  let end = raw.length;
  if (raw.charCodeAt(0) === 0x5b /* [ */) {
    const close = raw.indexOf(']');
    if (close !== -1) end = close + 1;
  } else {
    const colon = raw.lastIndexOf(':');
    // More than one colon without brackets is a bare IPv6 address, not host:port.
    if (colon !== -1 && raw.indexOf(':') === colon) end = colon;
  }
  if (end > 0 && raw.charCodeAt(end - 1) === 0x2e /* . */) end--;
  const host = end === raw.length ? raw : raw.slice(0, end);
  return host.toLowerCase();
}

function headersMatch(matchers: readonly HeaderMatcher[], headers: Headers): boolean {
  for (let i = 0; i < matchers.length; i++) {
    const m = matchers[i];
    const v = headers[m.name];
    if (v === undefined) return false;
    if (typeof v === 'string') {
      if (v !== m.value) return false;
    } else if (!v.includes(m.value) && v.join(', ') !== m.value) {
      return false;
    }
  }
  return true;
}

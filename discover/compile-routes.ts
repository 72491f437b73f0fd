/**
 * HTTP routing for outbound listeners (docs/discover.md, "Routing"):
 * - a rule without Domains applies to its own Service's listener (the `*` virtual host);
 * - rules with Domains form virtual hosts shared by every HTTP listener on that port;
 * - rules with equal (Domains, Prefix, Headers) merge into one weighted route — a 90/10 split is two
 *   entries with the same Domains;
 * - every listener's `*` virtual host ends with `/` → its own Service, unless a rule already covers it.
 */
import type { HeaderMatcher, Route, RouteConfig, VirtualHost } from '../lib/contract.ts';
import type { RouteRule } from './plugin-options.ts';

export interface HttpListenerRef {
  /** Listener, route config and cluster share this name. */
  name: string;
  port: number;
}

export interface RoutedRule {
  /** The cluster of the entry's Service port (also the listener it owns). */
  cluster: string;
  port: number;
  route: RouteRule;
}

interface Draft {
  prefix: string;
  headers: HeaderMatcher[];
  weights: Map<string, number>;
}

const CATCH_ALL = '*';

function addRule(vhosts: Map<string, Map<string, Draft>>, vhost: string, rule: RoutedRule): void {
  let routes = vhosts.get(vhost);
  if (routes === undefined) vhosts.set(vhost, (routes = new Map()));
  const key = JSON.stringify([rule.route.prefix, rule.route.headers]);
  let draft = routes.get(key);
  if (draft === undefined) routes.set(key, (draft = { prefix: rule.route.prefix, headers: rule.route.headers, weights: new Map() }));
  draft.weights.set(rule.cluster, (draft.weights.get(rule.cluster) ?? 0) + rule.route.weight);
}

function compareRoutes(a: Route, b: Route): number {
  if (a.match.prefix.length !== b.match.prefix.length) return b.match.prefix.length - a.match.prefix.length;
  if (a.match.headers.length !== b.match.headers.length) return b.match.headers.length - a.match.headers.length;
  const ka = JSON.stringify(a.match);
  const kb = JSON.stringify(b.match);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function vhostGroup(vh: VirtualHost): number {
  if (vh.domains.includes(CATCH_ALL)) return 2;
  return vh.domains.some((d) => d.startsWith('*.')) ? 1 : 0;
}

function finish(drafts: Map<string, Draft>): Route[] {
  const routes: Route[] = [];
  for (const d of drafts.values()) {
    // Weight 0 keeps a Service in the config without traffic (a drained canary); it never reaches the wire.
    const clusters = [...d.weights].filter(([, w]) => w > 0).sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([cluster, weight]) => ({ cluster, weight }));
    if (clusters.length > 0) routes.push({ match: { prefix: d.prefix, headers: d.headers }, clusters });
  }
  return routes.sort(compareRoutes);
}

/** Builds one RouteConfig per HTTP listener. Rules whose cluster has no HTTP listener are ignored. */
export function buildRouteConfigs(listeners: HttpListenerRef[], rules: RoutedRule[]): RouteConfig[] {
  const live = new Set(listeners.map((l) => l.name));
  const usable = rules.filter((r) => live.has(r.cluster));
  return listeners.map((listener) => {
    const vhosts = new Map<string, Map<string, Draft>>();
    for (const rule of usable) {
      if (rule.route.domains.length > 0 && rule.port === listener.port) addRule(vhosts, rule.route.domains.join(','), rule);
      else if (rule.route.domains.length === 0 && rule.cluster === listener.name) addRule(vhosts, CATCH_ALL, rule);
    }
    const built: VirtualHost[] = [];
    for (const [name, drafts] of vhosts) {
      const routes = finish(drafts);
      if (routes.length > 0 || name === CATCH_ALL) built.push({ name, domains: name.split(','), routes });
    }
    let catchAll = built.find((vh) => vh.name === CATCH_ALL);
    if (catchAll === undefined) built.push((catchAll = { name: CATCH_ALL, domains: [CATCH_ALL], routes: [] }));
    if (!catchAll.routes.some((r) => r.match.prefix === '/' && r.match.headers.length === 0)) {
      catchAll.routes.push({ match: { prefix: '/', headers: [] }, clusters: [{ cluster: listener.name, weight: 100 }] });
    }
    built.sort((a, b) => vhostGroup(a) - vhostGroup(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { name: listener.name, virtualHosts: built };
  });
}

/** Domain → the cluster (Service) whose VIP answers it: the first rule in cluster-name order wins. */
export function domainOwners(rules: RoutedRule[], liveClusters: Set<string>): Map<string, string> {
  const owners = new Map<string, string>();
  const sorted = rules.filter((r) => liveClusters.has(r.cluster)).sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
  for (const r of sorted) for (const d of r.route.domains) if (!d.startsWith('*.') && !owners.has(d)) owners.set(d, r.cluster);
  return owners;
}

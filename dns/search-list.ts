/**
 * Which names inside the cluster domain can be proven not to exist, so a search-list expansion
 * (`www.google.com.shop.svc.cluster.local` under `ndots:5`) is answered NXDOMAIN here instead of
 * costing an upstream round trip before the resolver moves on to the next candidate.
 *
 * The proof rests on the Kubernetes DNS-Based Service Discovery specification
 * (https://github.com/kubernetes/dns/blob/master/docs/specification.md), which fixes every name a
 * cluster DNS serves under `<zone>`:
 *   - `dns-version.<zone>` (TXT),
 *   - `<service>.<ns>.svc.<zone>` (A/AAAA),
 *   - `<hostname>.<service>.<ns>.svc.<zone>` (headless Service endpoints; also `1-2-3-4.<service>…`),
 *   - `_<port>._<proto>.<service>.<ns>.svc.<zone>` (SRV),
 *   - `<a-b-c-d>.<ns>.pod.<zone>` (pods, if enabled).
 *
 * So, with L the labels in front of `.svc.<zone>` (namespace last):
 *   - |L| ≥ 5 cannot exist;
 *   - |L| = 4 exists only as `_port._proto.service.ns` (both first labels start with `_`);
 *   - |L| ≤ 3 might exist (a Service or a headless pod we do not know about): forwarded.
 * And directly under `<zone>`, only `svc`, `pod` and `dns-version` can exist: any other name
 * whose label just below `<zone>` is something else cannot. Names under `pod.<zone>` are always
 * forwarded (no search list produces them).
 *
 * Known limit: a cluster whose DNS serves extra names inside the cluster domain (a CoreDNS `hosts`
 * or `template` block for `registry.cluster.local`, or the long-removed wildcard queries) must turn
 * the shortcut off (`DNS_SEARCH_SHORTCUT=false`).
 */

export interface ClusterZone {
  /** Lower-case, no trailing dot: `cluster.local`. */
  domain: string;
  /** `.cluster.local`, precomputed. */
  dotDomain: string;
  /** `.svc.cluster.local`, precomputed. */
  dotSvc: string;
}

export function clusterZone(domain: string): ClusterZone {
  const d = domain.toLowerCase().replace(/\.$/, '');
  return { domain: d, dotDomain: '.' + d, dotSvc: '.svc.' + d };
}

/** True when `name` (lower-case, no trailing dot) provably does not exist in `zone`. */
export function provablyAbsent(name: string, zone: ClusterZone): boolean {
  if (!name.endsWith(zone.dotDomain)) return false;
  if (name.endsWith(zone.dotSvc)) {
    const front = name.slice(0, name.length - zone.dotSvc.length);
    const labels = front.split('.');
    if (labels.length >= 5) return true;
    if (labels.length === 4) return !(labels[0].startsWith('_') && labels[1].startsWith('_'));
    return false;
  }
  const front = name.slice(0, name.length - zone.dotDomain.length);
  const last = front.slice(front.lastIndexOf('.') + 1);
  if (last === 'svc' || last === 'pod') return false;
  if (front === 'dns-version') return false;
  return true;
}

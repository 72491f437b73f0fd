/**
 * The pod-level changes next to the sidecar: DNS through the sidecar's responder, and the sysctl that
 * lets a non-root sidecar bind :53 and low service ports. Both mutate the injector's private copy of
 * the pod spec and return warnings for whatever the pod had that had to be merged or overridden.
 */
import { jsonClone } from './json-clone.ts';
import type { V1PodDNSConfigOption, V1PodSpec } from '@kubernetes/client-node';

export const UNPRIVILEGED_PORT_SYSCTL = 'net.ipv4.ip_unprivileged_port_start';
export const LOCAL_NAMESERVER = '127.0.0.1';

// API server validation limits for dnsConfig (k8s.io/kubernetes pkg/apis/core/validation,
// validateDNSConfig). The search list is counted in entries and in characters joined with spaces.
// ExpandedDNSConfig (KEP-2595: alpha 1.22, beta and on by default 1.26, GA 1.28) raised 6/256 to
// 32/2048; an older API server rejects a pod over 6/256, so the injected pod would never be created.
const MAX_NAMESERVERS = 3;
export const SEARCH_LIMITS = {
  legacy: { paths: 6, chars: 256 },
  expanded: { paths: 32, chars: 2048 },
} as const;

export interface DnsInput {
  namespace: string;
  clusterDomain: string;
  clusterDnsIp: string;
  /** The API server has ExpandedDNSConfig: allow 32 searches / 2048 characters instead of 6 / 256. */
  expandedDnsConfig: boolean;
}

/** The search list the kubelet writes for ClusterFirst, so short names resolve as they did before. */
export function clusterSearches(namespace: string, clusterDomain: string): string[] {
  return [`${namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
}

/**
 * `dnsPolicy: None` with the sidecar first and the cluster DNS as the fallback. A pod that already
 * brought a dnsConfig keeps its extra nameservers (space permitting), searches and options; a pod
 * whose own options set `ndots` keeps its value.
 */
export function applyDns(spec: V1PodSpec, input: DnsInput): string[] {
  const warnings: string[] = [];
  const policy = spec.dnsPolicy ?? 'ClusterFirst';
  const theirs = spec.dnsConfig ?? {};
  if (policy === 'Default') warnings.push('dnsPolicy Default replaced by None: names now resolve through the sidecar and the cluster DNS');

  // With policy None the pod's nameservers were its only resolvers: they replace the cluster DNS as
  // the fallback. With ClusterFirst they were extras after the cluster DNS.
  const fallback = policy === 'None' && (theirs.nameservers?.length ?? 0) > 0 ? [] : [input.clusterDnsIp];
  const nameservers = unique([LOCAL_NAMESERVER, ...fallback, ...(theirs.nameservers ?? [])]);
  if (nameservers.length > MAX_NAMESERVERS) warnings.push(`dnsConfig: kept ${MAX_NAMESERVERS} nameservers, dropped ${nameservers.slice(MAX_NAMESERVERS).join(',')}`.slice(0, 120));

  const base = policy === 'None' && (theirs.searches?.length ?? 0) > 0 ? [] : clusterSearches(input.namespace, input.clusterDomain);
  const limits = input.expandedDnsConfig ? SEARCH_LIMITS.expanded : SEARCH_LIMITS.legacy;
  const { kept: searches, dropped } = capSearches(unique([...base, ...(theirs.searches ?? [])]), limits);
  if (dropped.length > 0) warnings.push(`dnsConfig searches cut to the API server's ${limits.paths} / ${limits.chars} chars, dropped ${dropped.join(',')}`.slice(0, 120));

  const options: V1PodDNSConfigOption[] = jsonClone(theirs.options ?? []);
  if (!options.some((o) => o.name === 'ndots')) options.unshift({ name: 'ndots', value: '5' });

  if (spec.dnsConfig) warnings.push(`existing dnsConfig merged into sidemesh's (policy ${policy} → None)`);
  spec.dnsPolicy = 'None';
  spec.dnsConfig = { nameservers: nameservers.slice(0, MAX_NAMESERVERS), searches, options };
  return warnings;
}

/** Adds `net.ipv4.ip_unprivileged_port_start=0`, a namespaced "safe" sysctl allowed by every PSS level. */
export function applyUnprivilegedPorts(spec: V1PodSpec): string[] {
  const sc = (spec.securityContext ??= {});
  const sysctls = (sc.sysctls ??= []);
  const existing = sysctls.find((s) => s.name === UNPRIVILEGED_PORT_SYSCTL);
  if (!existing) {
    sysctls.push({ name: UNPRIVILEGED_PORT_SYSCTL, value: '0' });
    return [];
  }
  if (existing.value === '0') return [];
  const was = existing.value;
  existing.value = '0';
  return [`sysctl ${UNPRIVILEGED_PORT_SYSCTL}=${JSON.stringify(was).slice(0, 12)} overridden with 0 so the sidecar can bind :53`];
}

/**
 * The longest prefix of `searches` within the API server's limits: the mesh's own searches come first,
 * so they are kept and the pod's later ones are dropped. Cutting a prefix keeps the search order.
 */
export function capSearches(searches: readonly string[], limits: { paths: number; chars: number }): { kept: string[]; dropped: string[] } {
  let n = 0;
  let chars = -1;
  while (n < searches.length && n < limits.paths && chars + 1 + searches[n].length <= limits.chars) chars += 1 + searches[n++].length;
  return { kept: searches.slice(0, n), dropped: searches.slice(n) };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

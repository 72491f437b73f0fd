/**
 * The pod-level changes next to the sidecar: DNS through the sidecar's responder, and the sysctl that
 * lets a non-root sidecar bind :53 and low service ports. Both mutate the injector's private copy of
 * the pod spec and return warnings for whatever the pod had that had to be merged or overridden.
 */
import { jsonClone } from './json-clone.ts';
import type { V1PodDNSConfigOption, V1PodSpec } from '@kubernetes/client-node';

export const UNPRIVILEGED_PORT_SYSCTL = 'net.ipv4.ip_unprivileged_port_start';
export const LOCAL_NAMESERVER = '127.0.0.1';

// API server validation limits for dnsConfig (k8s.io/kubernetes pkg/apis/core/validation).
const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;

export interface DnsInput {
  namespace: string;
  clusterDomain: string;
  clusterDnsIp: string;
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
  const searches = unique([...base, ...(theirs.searches ?? [])]).slice(0, MAX_SEARCHES);

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

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/**
 * The workload's DNS view: every callable Service under the names a Kubernetes pod may use for it
 * (`name` in its own namespace, `name.ns`, `name.ns.svc`, `name.ns.svc.<domain>`), plus the plugin
 * config's Domains. Service names win over Domains, so a Domain can never hijack a Service name.
 */
import type { DnsConfig, DnsRecord } from '../lib/contract.ts';
import type { CompileOptions } from './compile.ts';
import type { ServiceView } from './model.ts';

export interface DnsInput {
  namespace: string;
  options: CompileOptions;
  services: ServiceView[];
  domains: { domain: string; address: string }[];
}

export function buildDns({ namespace, options, services, domains }: DnsInput): DnsConfig {
  const cd = options.clusterDomain;
  const records = new Map<string, string>();
  for (const s of services) {
    const address = options.vips.get(`${s.namespace}/${s.name}`);
    if (address === undefined) continue;
    const names = [`${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}.svc.${cd}`];
    if (s.namespace === namespace) names.push(s.name);
    for (const n of names) records.set(n.toLowerCase(), address);
  }
  for (const { domain, address } of domains) if (!records.has(domain)) records.set(domain, address);
  const sorted: DnsRecord[] = [...records].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([name, address]) => ({ name, address }));
  return {
    clusterDomain: cd,
    searches: [`${namespace}.svc.${cd}`, `svc.${cd}`, cd],
    ttlSeconds: options.dnsTtlSeconds,
    upstreams: [...options.dnsUpstreams],
    records: sorted,
  };
}

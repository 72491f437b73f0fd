/**
 * What `sidemesh up` suggests trying, built from the document the sidecar just applied, so the
 * commands name the real VIPs, ports and domains of whatever mesh file is running.
 */
import type { ResourceDocument } from '../lib/contract.ts';

export interface BannerPorts {
  dnsPort: number;
  metricsPort: number;
  adminPort: number;
  discoverUrl: string;
  discoverBase: string;
}

/** `unbound`: listener names the sidecar could not bind; commands for them would reach another process. */
export function tryLines(doc: ResourceDocument, ports: BannerPorts, unbound: ReadonlySet<string> = new Set()): string[] {
  const lines: string[] = [];
  const outbound = doc.listeners.filter((l) => l.direction === 'outbound' && !unbound.has(l.name));
  const endpoints = (cluster: string | undefined) => doc.clusters.find((c) => c.name === cluster)?.endpoints.length ?? 0;
  const short = (service: string) => service.slice(0, service.indexOf('.'));

  for (const l of outbound.filter((x) => x.protocol === 'http').slice(0, 2)) {
    const cluster = `outbound|${l.service}|${l.port}`;
    const n = endpoints(cluster);
    lines.push(`curl -s http://${l.address}:${l.port}/            # ${short(l.service)}: balanced across ${n} endpoint${n === 1 ? '' : 's'}`);
  }
  const routed = doc.routes
    .flatMap((r) => r.virtualHosts.map((vh) => ({ route: r.name, domain: vh.domains.find((d) => d !== '*' && !d.startsWith('*.')) })))
    .find((x) => x.domain !== undefined);
  if (routed) {
    const l = outbound.find((x) => x.route === routed.route);
    if (l) lines.push(`curl -s -H 'Host: ${routed.domain}' http://${l.address}:${l.port}/   # routed by the plugin config's Domains`);
  }
  for (const l of outbound.filter((x) => x.protocol === 'tcp').slice(0, 1)) {
    lines.push(`node -e "require('net').connect(${l.port}, '${l.address}').end('hello\\n').pipe(process.stdout)"   # ${short(l.service)}: TCP, per-connection balancing`);
  }
  const record = doc.dns.records.find((r) => r.name.endsWith(`.svc.${doc.dns.clusterDomain}`));
  if (record) lines.push(`dig @127.0.0.1 -p ${ports.dnsPort} +short ${record.name}`);
  lines.push(`curl -s http://127.0.0.1:${ports.metricsPort}/metrics | grep '^sidemesh_requests_total'`);
  lines.push(`curl -s ${ports.discoverUrl}          # the workload's document`);
  lines.push(`curl -s http://127.0.0.1:${ports.adminPort}/config      # what the sidecar applied`);
  return lines;
}

import { describe, expect, it } from 'vitest';
import { generateView } from '../../../bench/lib/discover-host.ts';
import { compileDocument } from '../../../discover/compile.ts';
import { allocateVips, parseVipCidr, type VipCidr } from '../../../discover/vip.ts';

describe('bench/lib/discover-host: the synthetic cluster of the discover scenario', () => {
  it('gives every workload a document that calls each Service of its namespace, so an endpoint change reaches its pollers', () => {
    const view = generateView({ namespaces: 2, servicesPerNs: 3, endpointsPerService: 2, workloadsPerNs: 2 });
    const vips = allocateVips(view.services.values(), parseVipCidr() as VipCidr).vips;
    const doc = compileDocument({ view, workload: { namespace: 'ns1', service: 'wl0', plugin: 'mesh' }, options: { clusterDomain: 'cluster.local', dnsUpstreams: [], dnsTtlSeconds: 30, vips } })!;
    expect(doc.status.errors).toEqual([]);
    expect(doc.clusters.filter((c) => c.direction === 'outbound').map((c) => c.service)).toEqual(['svc0.ns1', 'svc1.ns1', 'svc2.ns1']);
    expect(doc.clusters.find((c) => c.service === 'svc0.ns1')!.endpoints).toHaveLength(2);
  });
});

import type { ClusterView } from '../discover/model.ts';
import type { WorkloadRef } from '../lib/contract.ts';
import { DEFAULT_PLUGIN } from '../lib/names.ts';

/**
 * The workload a one-machine process acts for: `ns/service` (or `service` in `default`) when given,
 * else the mesh file's first workload in name order.
 */
export function pickWorkload(view: ClusterView, wanted: string | undefined): WorkloadRef {
  const pods = [...view.pods.values()].filter((p) => p.service !== undefined);
  if (wanted !== undefined) {
    const [namespace, service] = wanted.includes('/') ? wanted.split('/', 2) : ['default', wanted];
    const pod = pods.find((p) => p.namespace === namespace && p.service === service);
    return { namespace, service, plugin: pod?.plugin ?? DEFAULT_PLUGIN };
  }
  const first = pods.sort((a, b) => `${a.namespace}/${a.service}`.localeCompare(`${b.namespace}/${b.service}`))[0];
  if (first === undefined) throw new Error('the mesh file has no workloads: add one under `workloads:` or pass --workload ns/service');
  return { namespace: first.namespace, service: first.service!, plugin: first.plugin };
}

import type { ClusterView } from '../discover/model.ts';
import type { WorkloadRef } from '../lib/contract.ts';
import { DEFAULT_PLUGIN } from '../lib/names.ts';

/**
 * The workload a one-machine process acts for: `ns/service` (or `service` in `default`) when given,
 * else the mesh file's first workload in name order.
 *
 * A `--workload` the file does not define throws here: discover would answer its document with 404
 * forever, and the sidecar (or `dns --file`) would keep polling under a "discover unreachable" warning
 * instead of naming the typo. "Defined" is discover's own rule (discover/compile.ts): a meshed pod or a
 * plugin config names it, or it is the default plugin of a Service.
 */
export function pickWorkload(view: ClusterView, wanted: string | undefined): WorkloadRef {
  const pods = [...view.pods.values()].filter((p) => p.service !== undefined);
  if (wanted !== undefined) {
    const parts = wanted.split('/');
    const [namespace, service] = parts.length === 1 ? ['default', parts[0]] : parts;
    if (parts.length > 2 || namespace === '' || service === '') throw new Error(`--workload ${JSON.stringify(wanted)} must be ns/service or service (in namespace default)`);
    const pod = pods.find((p) => p.namespace === namespace && p.service === service);
    const config = [...view.configs.values()].find((c) => c.namespace === namespace && c.service === service);
    const plugin = pod?.plugin ?? config?.plugin ?? DEFAULT_PLUGIN;
    if (pod === undefined && config === undefined && !view.services.has(`${namespace}/${service}`)) {
      const known = [...new Set(pods.map((p) => `${p.namespace}/${p.service}`))].sort();
      throw new Error(`--workload ${wanted}: the mesh file has no workload, plugin config or Service ${namespace}/${service} (its workloads: ${known.join(', ') || 'none'})`);
    }
    return { namespace, service, plugin };
  }
  const first = pods.sort((a, b) => `${a.namespace}/${a.service}`.localeCompare(`${b.namespace}/${b.service}`))[0];
  if (first === undefined) throw new Error('the mesh file has no workloads: add one under `workloads:` or pass --workload ns/service');
  return { namespace: first.namespace, service: first.service!, plugin: first.plugin };
}

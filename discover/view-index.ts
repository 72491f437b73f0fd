/**
 * Lookups over a ClusterView that the compiler needs many times per batch. Built once per batch of
 * changes (O(objects)), so compiling N workloads does not scan every slice N times.
 */
import { parseInboundPorts } from '../lib/names.ts';
import type { ClusterView, EndpointSliceView, MeshedPodView, PluginConfigView, ServiceView } from './model.ts';

export interface ParsedPod {
  pod: MeshedPodView;
  /** appPort → listenPort, or the parse error of the annotation. */
  inbound: Map<number, number> | { error: string };
  /**
   * The appPort → listenPort map its sidecar serves: its workload's, the same object for each of its
   * pods, merged over them in name order, first claim of an app or listen port winning. Pods of one
   * workload can disagree (a rollout that moves a named target port 8080 → 8081 gives 8080=65301 and
   * 8081=65301), and the one document, so every pod's sidecar, serves this map.
   */
  served?: Map<number, number>;
}

export interface ViewIndex {
  /** `namespace/service` → its slices, sorted by name. */
  slicesByService: Map<string, EndpointSliceView[]>;
  /** `namespace/podName` and `namespace@ip` → the meshed pod. */
  podsByName: Map<string, ParsedPod>;
  podsByIp: Map<string, ParsedPod>;
  /** `namespace/service/plugin` → the workload's meshed pods, sorted by name. */
  workloadPods: Map<string, ParsedPod[]>;
  /**
   * `namespace/service/plugin` → its plugin ConfigMaps, sorted by name. More than one is an invalid
   * config (plugin-config.ts, readPluginConfigMaps): none of them is picked silently.
   */
  configs: Map<string, PluginConfigView[]>;
  /** namespace → its Services, sorted by name. */
  servicesByNamespace: Map<string, ServiceView[]>;
}

export function workloadKey(namespace: string, service: string, plugin: string): string {
  return `${namespace}/${service}/${plugin}`;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export function buildIndex(view: ClusterView): ViewIndex {
  const idx: ViewIndex = {
    slicesByService: new Map(),
    podsByName: new Map(),
    podsByIp: new Map(),
    workloadPods: new Map(),
    configs: new Map(),
    servicesByNamespace: new Map(),
  };
  for (const s of view.slices.values()) push(idx.slicesByService, `${s.namespace}/${s.serviceName}`, s);
  for (const list of idx.slicesByService.values()) list.sort(byName);

  for (const pod of view.pods.values()) {
    const parsed: ParsedPod = { pod, inbound: parseInboundPorts(pod.inboundPorts) };
    idx.podsByName.set(`${pod.namespace}/${pod.name}`, parsed);
    if (pod.ip) idx.podsByIp.set(`${pod.namespace}@${pod.ip}`, parsed);
    if (pod.service) push(idx.workloadPods, workloadKey(pod.namespace, pod.service, pod.plugin), parsed);
  }
  for (const list of idx.workloadPods.values()) {
    list.sort((a, b) => byName(a.pod, b.pod));
    const served = list.length === 1 && list[0].inbound instanceof Map && distinctValues(list[0].inbound) ? list[0].inbound : mergeInbound(list);
    for (const parsed of list) parsed.served = served;
  }

  for (const c of view.configs.values()) push(idx.configs, workloadKey(c.namespace, c.service, c.plugin), c);
  for (const list of idx.configs.values()) list.sort(byName);
  for (const s of view.services.values()) push(idx.servicesByNamespace, s.namespace, s);
  for (const list of idx.servicesByNamespace.values()) list.sort(byName);
  return idx;
}

/** The pods' maps merged in order, the first claim of an app or a listen port winning. */
function mergeInbound(list: readonly ParsedPod[]): Map<number, number> {
  const served = new Map<number, number>();
  const listens = new Set<number>();
  for (const { inbound } of list) {
    if (!(inbound instanceof Map)) continue;
    for (const [app, listen] of inbound) {
      if (served.has(app) || listens.has(listen)) continue;
      served.set(app, listen);
      listens.add(listen);
    }
  }
  return served;
}

/** Whether no two app ports share a listen port (then a lone pod's map is served as it is). */
function distinctValues(map: ReadonlyMap<number, number>): boolean {
  const values = [...map.values()];
  for (let i = 1; i < values.length; i++) if (values.indexOf(values[i]) < i) return false;
  return true;
}

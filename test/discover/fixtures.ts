import { emptyView } from '../../discover/model.ts';
import type { ClusterSource, ClusterView, EndpointSliceView, MeshedPodView, ServiceView, SourceState, ViewChange } from '../../discover/model.ts';
import { allocateVips, parseVipCidr } from '../../discover/vip.ts';
import type { VipCidr } from '../../discover/vip.ts';
import type { CompileOptions } from '../../discover/compile.ts';

export function service(namespace: string, name: string, ports: { port: number; name?: string; appProtocol?: string; protocol?: 'TCP' | 'UDP' }[], extra: Partial<ServiceView> = {}): ServiceView {
  return {
    namespace,
    name,
    type: 'ClusterIP',
    headless: false,
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) })),
    labels: {},
    annotations: {},
    ...extra,
  };
}

export function slice(namespace: string, name: string, serviceName: string, ports: { name?: string; port: number }[], endpoints: EndpointSliceView['endpoints'], addressType: EndpointSliceView['addressType'] = 'IPv4'): EndpointSliceView {
  return { namespace, name, serviceName, addressType, ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: 'TCP' })), endpoints };
}

export function pod(namespace: string, name: string, service: string, inboundPorts: string, ip?: string, plugin = 'mesh'): MeshedPodView {
  return { namespace, name, service, plugin, inboundPorts, ...(ip ? { ip } : {}) };
}

export function viewOf(objects: { services?: ServiceView[]; slices?: EndpointSliceView[]; pods?: MeshedPodView[]; configs?: { namespace: string; service: string; plugin?: string; text: string | undefined }[] }): ClusterView {
  const v = emptyView();
  for (const s of objects.services ?? []) v.services.set(`${s.namespace}/${s.name}`, s);
  for (const s of objects.slices ?? []) v.slices.set(`${s.namespace}/${s.name}`, s);
  for (const p of objects.pods ?? []) v.pods.set(`${p.namespace}/${p.name}`, p);
  for (const c of objects.configs ?? []) {
    const plugin = c.plugin ?? 'mesh';
    v.configs.set(`${c.namespace}/config-${c.service}-${plugin}`, { namespace: c.namespace, name: `config-${c.service}-${plugin}`, service: c.service, plugin, text: c.text });
  }
  return v;
}

export const cidr = parseVipCidr('127.128.0.0/16') as VipCidr;

export function optionsFor(view: ClusterView): CompileOptions {
  return { clusterDomain: 'cluster.local', dnsUpstreams: ['127.0.0.1:5353'], dnsTtlSeconds: 5, vips: allocateVips(view.services.values(), cidr).vips };
}

/** A hand-driven ClusterSource: tests mutate `view` and call `emit`. */
export class FakeSource implements ClusterSource {
  readonly view: ClusterView;
  isSynced = true;
  readonly #listeners: ((c: ViewChange) => void)[] = [];
  closed = 0;

  constructor(view: ClusterView = emptyView()) {
    this.view = view;
  }
  async start(): Promise<void> {}
  async close(): Promise<void> {
    this.closed++;
  }
  synced(): boolean {
    return this.isSynced;
  }
  states(): SourceState[] {
    return [{ name: 'fake', synced: this.isSynced, state: 'running', restarts: 0 }];
  }
  onChange(listener: (change: ViewChange) => void): void {
    this.#listeners.push(listener);
  }
  emit(change: ViewChange): void {
    for (const l of this.#listeners) l(change);
  }
}

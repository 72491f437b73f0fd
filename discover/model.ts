/**
 * The cluster view discover compiles from. Both sources (the Kubernetes informers and a local mesh
 * file) fill the same plain-data model, so one compiler serves both. No Kubernetes client types here:
 * the Kubernetes source converts its objects at the edge.
 */

export interface ServicePortView {
  /** Port name ('' when the Service has a single unnamed port). Matches EndpointSlice port names. */
  name: string;
  port: number;
  /** `appProtocol` of the port, if set (`http`, `kubernetes.io/h2c`, `tcp`, …). */
  appProtocol?: string;
  /** L4 protocol: only TCP ports are meshed. */
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface ServiceView {
  namespace: string;
  name: string;
  /** RFC 3339; orders VIP collision resolution (older Services keep their slot). */
  creationTimestamp?: string;
  /** `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`; headless Services have clusterIP None. */
  type: string;
  headless: boolean;
  /**
   * `spec.internalTrafficPolicy: Local`: kube-proxy sends a pod's calls only to endpoints on its own
   * node. Absent means `Cluster`.
   */
  nodeLocal?: boolean;
  ports: ServicePortView[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface SliceEndpointView {
  addresses: string[];
  /** As in the API: undefined means "unknown" and is read per the EndpointSlice rules. */
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  /** The pod behind the endpoint, when the slice names it. */
  podName?: string;
  zone?: string;
}

export interface SlicePortView {
  name: string;
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
}

export interface EndpointSliceView {
  namespace: string;
  name: string;
  /** From label `kubernetes.io/service-name`. */
  serviceName: string;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  ports: SlicePortView[];
  endpoints: SliceEndpointView[];
}

export interface MeshedPodView {
  namespace: string;
  name: string;
  ip?: string;
  /** Workload identity: annotation `sidemesh.io/service`, else label `app.kubernetes.io/name`, else `app`. */
  service?: string;
  /** Annotation `sidemesh.io/plugin`, default `mesh`. */
  plugin: string;
  /** Raw `sidemesh.io/inbound-ports` annotation ('' when absent); parsed by the compiler, which reports errors. */
  inboundPorts: string;
  /** Raw `sidemesh.io/app-bind` annotation, when set; the compiler checks it. */
  appBind?: string;
}

export interface PluginConfigView {
  namespace: string;
  /** ConfigMap name (for error messages). */
  name: string;
  /** Labels `service_alias` and `plugin_id`. */
  service: string;
  plugin: string;
  /** Data key `plugin-config`: the ResourceSpec JSON text, or undefined when the key is missing. */
  text: string | undefined;
}

/** Everything discover knows. Keys are `namespace/name`. Sources mutate it in place and then emit a change. */
export interface ClusterView {
  services: Map<string, ServiceView>;
  slices: Map<string, EndpointSliceView>;
  pods: Map<string, MeshedPodView>;
  configs: Map<string, PluginConfigView>;
}

export function emptyView(): ClusterView {
  return { services: new Map(), slices: new Map(), pods: new Map(), configs: new Map() };
}

export type ChangeKind = 'service' | 'slice' | 'pod' | 'config';

/** One object changed (added, updated or deleted); `reset` means "anything may have changed" (a relist). */
export type ViewChange = { kind: ChangeKind; namespace: string; name: string } | { kind: 'reset' };

export interface SourceState {
  /** `services`, `endpointslices`, `pods`, `configmaps`, or `file`. */
  name: string;
  synced: boolean;
  /** `running`, `restarting` (after an error, with backoff), `stopped`. */
  state: 'running' | 'restarting' | 'stopped';
  restarts: number;
  /** Objects skipped as malformed since start (Kubernetes sources only). */
  skipped?: number;
  lastError?: string;
}

/** A source of the cluster view: Kubernetes informers or a mesh file. */
export interface ClusterSource {
  readonly view: ClusterView;
  /** Resolves once started (not necessarily synced). Fails fast on bad start-up config (unreadable file, no kubeconfig). */
  start(): Promise<void>;
  close(): Promise<void>;
  /** True once every part of the view has been listed at least once. */
  synced(): boolean;
  states(): SourceState[];
  /** Called after the view changed. */
  onChange(listener: (change: ViewChange) => void): void;
}

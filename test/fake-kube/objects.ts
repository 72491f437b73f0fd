/**
 * Builders for the objects discover watches, shaped as a user would apply them (the fake adds uid,
 * creationTimestamp, resourceVersion and the API defaults). Shared by the unit, integration and e2e suites.
 */
export interface PortSpec {
  name?: string;
  port: number;
  targetPort?: number;
  appProtocol?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export function service(namespace: string, name: string, ports: PortSpec[], extra: { headless?: boolean; labels?: Record<string, string>; annotations?: Record<string, string> } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace, name, labels: extra.labels ?? {}, annotations: extra.annotations ?? {} },
    spec: {
      selector: { app: name },
      ...(extra.headless ? { clusterIP: 'None' } : {}),
      ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, targetPort: p.targetPort ?? p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) })),
    },
  };
}

export interface EndpointSpec {
  ip: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  pod?: string;
  zone?: string;
}

export function endpointSlice(namespace: string, name: string, serviceName: string, ports: PortSpec[], endpoints: EndpointSpec[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace,
      name,
      labels: { 'kubernetes.io/service-name': serviceName, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ...(e.ready !== undefined ? { ready: e.ready } : {}),
        ...(e.serving !== undefined ? { serving: e.serving } : {}),
        ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
      },
      ...(e.pod ? { targetRef: { kind: 'Pod', namespace, name: e.pod } } : {}),
      ...(e.zone ? { zone: e.zone } : {}),
    })),
  };
}

export function meshedPod(namespace: string, name: string, opts: { ip?: string; service?: string; app?: string; plugin?: string; inboundPorts?: string; injected?: boolean } = {}) {
  const annotations: Record<string, string> = {};
  if (opts.service) annotations['sidemesh.io/service'] = opts.service;
  if (opts.plugin) annotations['sidemesh.io/plugin'] = opts.plugin;
  if (opts.inboundPorts !== undefined) annotations['sidemesh.io/inbound-ports'] = opts.inboundPorts;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace,
      name,
      labels: { ...(opts.app ? { app: opts.app } : {}), 'sidemesh.io/injected': opts.injected === false ? 'false' : 'true' },
      annotations,
    },
    spec: { containers: [{ name: 'app', image: 'example/app:1' }] },
    status: { phase: 'Running', ...(opts.ip ? { podIP: opts.ip, podIPs: [{ ip: opts.ip }] } : {}) },
  };
}

export function pluginConfig(namespace: string, name: string, service: string, plugin: string, text: string | undefined) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { namespace, name, labels: { plugin_id: plugin, service_alias: service } },
    data: text === undefined ? {} : { 'plugin-config': text },
  };
}

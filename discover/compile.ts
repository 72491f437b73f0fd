/**
 * The compiler: (cluster view, workload, options) → the workload's ResourceDocument. Pure and
 * deterministic: the same view gives byte-identical output (and so the same version) on every
 * replica, whatever order the objects arrived in.
 */
import type { BasePort, BaseService, Cluster, ConfigProblem, DocumentStatus, Listener, ResourceDocument, ResourceSpec, WorkloadRef } from '../lib/contract.ts';
import { canonicalJson, contentHash } from '../lib/hash.ts';
import { ANNOTATION_APP_BIND, ANNOTATION_INBOUND_PORTS, APP_BIND_VALUES, DEFAULT_PLUGIN } from '../lib/names.ts';
import { portProtocol, serviceEndpoints, targetPorts } from './compile-endpoints.ts';
import { buildRouteConfigs, domainOwners } from './compile-routes.ts';
import type { HttpListenerRef, RoutedRule } from './compile-routes.ts';
import { buildDns } from './compile-dns.ts';
import type { ClusterView, ServicePortView, ServiceView } from './model.ts';
import { readPluginConfigMaps } from './plugin-config.ts';
import type { ParsedService, PluginConfig } from './plugin-config.ts';
import { DEFAULT_POLICY, parseOptions } from './plugin-options.ts';
import type { ParsedOptions } from './plugin-options.ts';
import { buildIndex, workloadKey } from './view-index.ts';
import type { ViewIndex } from './view-index.ts';

export interface CompileOptions {
  clusterDomain: string;
  /** `ip:port` resolvers for names outside the mesh. */
  dnsUpstreams: string[];
  dnsTtlSeconds: number;
  /** `namespace/name` → VIP, from allocateVips over the whole view. */
  vips: ReadonlyMap<string, string>;
}

export interface CompileInput {
  view: ClusterView;
  workload: WorkloadRef;
  options: CompileOptions;
  /** The last valid plugin config seen for this workload, used while the current one is invalid. */
  lastGood?: PluginConfig;
  /** Reuse one index across a batch of workloads; built on demand otherwise. */
  index?: ViewIndex;
}

const HTTP_ENTRY_PROTOCOLS = new Set(['http', 'http2', 'h2c', 'grpc']);
/** The sidecar's metrics port (`0.0.0.0:15090`, ARCHITECTURE.md). */
const METRICS_PORT = 15090;
const DEFAULTS = parseOptions(null, '', []);

export function outboundName(service: ServiceView, port: number): string {
  return `outbound|${service.name}.${service.namespace}|${port}`;
}

function callable(s: ServiceView | undefined, vips: ReadonlyMap<string, string>): s is ServiceView {
  return s !== undefined && dnsOnly(s) === undefined && vips.has(`${s.namespace}/${s.name}`);
}

/** Headless Services have no single address to stand in for, ExternalName ones no endpoints: callers use cluster DNS. */
function dnsOnly(s: ServiceView): 'headless' | 'ExternalName' | undefined {
  return s.headless ? 'headless' : s.type === 'ExternalName' ? 'ExternalName' : undefined;
}

/**
 * Why a Service the workload may call stays off the mesh, its callers going to its ClusterIP, or
 * undefined. `tcpPorts`: its TCP ports; `podPorts`: ports bound on every address of the pods.
 */
function offMesh(svc: ServiceView, tcpPorts: readonly ServicePortView[], podPorts: ReadonlySet<number>): string | undefined {
  // The sidecar proxies TCP only. A name on the VIP would send the Service's UDP/SCTP traffic
  // (a DNS server's 53/UDP, a Jaeger agent's 6831/UDP) to a loopback address where nothing
  // listens: such a Service is left out, name and all, so every port keeps its ClusterIP.
  const notTcp = svc.ports.find((p) => p.protocol !== 'TCP');
  if (notTcp !== undefined) return `port ${notTcp.port}/${notTcp.protocol} cannot be proxied (TCP only)`;
  // One document serves the workload's pods on every node, so it cannot pick each pod's node-local
  // endpoints; balancing over all of them would send a node agent's traffic to other nodes.
  if (svc.nodeLocal === true) return 'internalTrafficPolicy is Local (node-local endpoints only)';
  const clash = tcpPorts.find((p) => podPorts.has(p.port));
  if (clash !== undefined) return `port ${clash.port} is also bound on every address of this workload's pods (${clash.port === METRICS_PORT ? "the sidecar's metrics port" : 'an app or inbound port'})`;
  return undefined;
}

/** The plugin config in force and the document status it implies. */
function chooseConfig(input: CompileInput, idx: ViewIndex): { config?: PluginConfig; status: DocumentStatus } {
  const { namespace, service, plugin } = input.workload;
  const cms = idx.configs.get(workloadKey(namespace, service, plugin));
  if (cms === undefined) return { status: { state: 'ok', errors: [], source: 'defaults' } };
  const result = readPluginConfigMaps(cms, namespace);
  if (result.ok) return { config: result.config, status: { state: 'ok', errors: [], source: 'config' } };
  return { config: input.lastGood, status: { state: 'invalid', errors: result.problems, source: input.lastGood ? 'last-good' : 'defaults' } };
}

export function compileDocument(input: CompileInput): ResourceDocument | undefined {
  const { view, workload, options } = input;
  const idx = input.index ?? buildIndex(view);
  const { namespace, service, plugin } = workload;
  const pods = idx.workloadPods.get(workloadKey(namespace, service, plugin)) ?? [];
  const own = view.services.get(`${namespace}/${service}`);
  // A workload is a real (service, plugin) pair: a meshed pod or a ConfigMap names it, or it is the
  // default plugin of an existing Service. Any other plugin id beside a Service is unknown, so a
  // client cannot have a document compiled (and cached, and recompiled) per made-up plugin id.
  const named = pods.length > 0 || idx.configs.has(workloadKey(namespace, service, plugin));
  if (!named && !(own !== undefined && plugin === DEFAULT_PLUGIN)) return undefined;

  const { config, status } = chooseConfig(input, idx);
  const problems: ConfigProblem[] = [...status.errors];

  // Inbound: the meshed pods' port map is what peers' endpoints were rewritten to, so it wins over base_ports.
  // Every pod of the workload carries its one served map (view-index.ts); a copy, base_ports join it.
  const inbound = new Map(pods[0]?.served);
  for (const { pod, inbound: map } of pods) {
    const path = `pods/${pod.name}.annotations["${ANNOTATION_INBOUND_PORTS}"]`;
    if (!(map instanceof Map)) {
      problems.push({ path, message: map.error });
      continue;
    }
    // Peers reach such a pod's app port directly instead (compile-endpoints.ts): its sidecar serves the workload's map.
    for (const [app, listen] of map) {
      if (inbound.get(app) !== listen) problems.push({ path, message: `${app}=${listen} disagrees with the workload's other pods: not served by the sidecar, peers call port ${app} directly` });
    }
  }
  const portEntries = new Map<number, { entry: BasePort; options: ParsedOptions }>();
  for (const p of config?.ports ?? []) {
    portEntries.set(p.entry.port, p);
    if (!inbound.has(p.entry.port) && ![...inbound.values()].includes(p.entry.listen_port)) inbound.set(p.entry.port, p.entry.listen_port);
  }
  // Ports bound on every address of the pod (the app's own ports as declared, the inbound listen
  // ports, the metrics port): a VIP listener on the same port cannot be bound beside them (Linux
  // refuses a specific address next to a wildcard one on one port), and in the native-sidecar order
  // the app would fail to bind instead. A Service on such a port is left out, name and all, so calls
  // to it go to its ClusterIP, outside the mesh, rather than to the app itself.
  // The document is the same for every pod of the workload, and its pods may differ (a rollout
  // changes the port map): the ports of every pod count. An app that binds a specific address
  // (annotation sidemesh.io/app-bind: specific) leaves its own ports free on the VIPs.
  const podPorts = new Set<number>([METRICS_PORT, ...inbound.values()]);
  let appBindsWildcard = pods.length === 0;
  for (const { pod, inbound: map } of pods) {
    const specific = pod.appBind === 'specific';
    if (!specific) appBindsWildcard = true;
    if (pod.appBind !== undefined && !specific && pod.appBind !== 'wildcard') {
      problems.push({ path: `pods/${pod.name}.annotations["${ANNOTATION_APP_BIND}"]`, message: `must be one of ${APP_BIND_VALUES.join(', ')} (read as wildcard)` });
    }
    if (!(map instanceof Map)) continue;
    for (const [app, listen] of map) {
      podPorts.add(listen);
      if (!specific) podPorts.add(app);
    }
  }
  if (appBindsWildcard) for (const app of inbound.keys()) podPorts.add(app);

  // Outbound: the Services the workload may call, and per Service port the entry that configures it.
  const entries = new Map<string, ParsedService>();
  const targets = new Map<string, ServiceView>();
  if (config !== undefined) {
    for (const s of config.services) {
      const svc = view.services.get(`${s.namespace}/${s.name}`);
      // Named by the config, yet left to cluster DNS (callable): say why, once per Service. One that
      // does not exist yet is no problem: it is meshed when it appears.
      const dns = svc === undefined ? undefined : dnsOnly(svc);
      if (dns !== undefined) {
        const path = `services["${s.namespace}/${s.name}"]`;
        if (!problems.some((p) => p.path === path)) problems.push({ path, message: `${dns}: no single address for a VIP to stand in for; not meshed, callers use cluster DNS` });
      }
      if (!callable(svc, options.vips)) continue;
      targets.set(`${svc.namespace}/${svc.name}`, svc);
      const key = outboundName(svc, s.entry.port);
      if (!entries.has(key)) entries.set(key, s);
    }
  } else {
    for (const svc of idx.servicesByNamespace.get(namespace) ?? []) if (svc.name !== service && callable(svc, options.vips)) targets.set(`${svc.namespace}/${svc.name}`, svc);
  }

  const listeners: Listener[] = [];
  const clusters: Cluster[] = [];
  const httpListeners: HttpListenerRef[] = [];
  const rules: RoutedRule[] = [];
  const generated: BaseService[] = [];
  const withListeners: ServiceView[] = [];
  for (const svc of [...targets.values()].sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1))) {
    const vip = options.vips.get(`${svc.namespace}/${svc.name}`)!;
    const ports = svc.ports.filter((p) => p.protocol === 'TCP').sort((a, b) => a.port - b.port);
    const why = offMesh(svc, ports, podPorts);
    if (why !== undefined) {
      problems.push({ path: `services["${svc.namespace}/${svc.name}"]`, message: `${why}: not meshed, calls go to its ClusterIP` });
      targets.delete(`${svc.namespace}/${svc.name}`);
      continue;
    }
    if (ports.length > 0) withListeners.push(svc);
    for (const p of ports) {
      const name = outboundName(svc, p.port);
      const entry = entries.get(name);
      const protocol = portProtocol(p) === 'http' || HTTP_ENTRY_PROTOCOLS.has(entry?.entry.protocol.toLowerCase() ?? '') ? 'http' : 'tcp';
      const dotted = `${svc.name}.${svc.namespace}`;
      const opts: ParsedOptions = entry?.options ?? DEFAULTS;
      listeners.push({ name, direction: 'outbound', address: vip, port: p.port, protocol, ...(protocol === 'http' ? { route: name } : { cluster: name }), service: dotted });
      clusters.push({ name, direction: 'outbound', service: dotted, port: p.port, protocol, policy: opts.policy, endpoints: serviceEndpoints(idx, svc, p) });
      if (protocol === 'http') httpListeners.push({ name, port: p.port });
      const depend = svc.namespace === namespace ? svc.name : dotted;
      generated.push({ service_alias: service, service_id: '', depend_service_alias: depend, depend_service_id: '', port: p.port, protocol, options: null });
    }
  }
  for (const s of config?.services ?? []) {
    const svc = targets.get(`${s.namespace}/${s.name}`);
    if (svc !== undefined) rules.push({ cluster: outboundName(svc, s.entry.port), port: s.entry.port, route: s.options.route });
  }
  const routes = buildRouteConfigs(httpListeners, rules);
  const owners = domainOwners(rules, new Set(clusters.map((c) => c.name)));
  const vipOfCluster = new Map(listeners.map((l) => [l.name, l.address]));

  const ownTargets = own !== undefined ? targetPorts(idx, own) : new Map();
  const basePorts: BasePort[] = [];
  for (const [appPort, listenPort] of [...inbound].sort((a, b) => a[0] - b[0])) {
    const servicePort = ownTargets.get(appPort) ?? own?.ports.find((p) => p.port === appPort && p.protocol === 'TCP');
    const entry = portEntries.get(appPort);
    const protocol = (servicePort !== undefined && portProtocol(servicePort) === 'http') || HTTP_ENTRY_PROTOCOLS.has(entry?.entry.protocol.toLowerCase() ?? '') ? 'http' : 'tcp';
    const name = `inbound|${appPort}`;
    listeners.push({ name, direction: 'inbound', address: '0.0.0.0', port: listenPort, protocol, cluster: name, appPort, service: `${service}.${namespace}` });
    clusters.push({
      name,
      direction: 'inbound',
      service: `${service}.${namespace}`,
      port: appPort,
      protocol,
      policy: entry?.options.policy ?? DEFAULT_POLICY,
      endpoints: [{ address: '127.0.0.1', port: appPort, ready: true, serving: true, terminating: false, meshed: false, weight: 1 }],
    });
    basePorts.push({ service_alias: service, service_id: '', port: appPort, listen_port: listenPort, protocol, options: null });
  }

  const spec: ResourceSpec = config?.spec ?? {
    base_ports: basePorts.length > 0 ? basePorts : null,
    base_services: generated.length > 0 ? generated : null,
    base_normal: { options: null },
  };
  const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const body: Omit<ResourceDocument, 'version'> = {
    ...spec,
    workload: { namespace, service, plugin },
    status: { ...status, errors: problems },
    listeners: listeners.sort(byName),
    routes: routes.sort(byName),
    clusters: clusters.sort(byName),
    dns: buildDns({ namespace, options, services: withListeners, domains: [...owners].map(([domain, cluster]) => ({ domain, address: vipOfCluster.get(cluster)! })) }),
  };
  return { version: contentHash(canonicalJson(body)), ...body };
}

/**
 * The mesh file: a hand-written stand-in for a cluster (`sidemesh discover --file mesh.yaml`,
 * `sidemesh up`). Parsing is pure: text in, a ClusterView out, or a MeshFileError listing every
 * problem with its path. The format is documented in docs/discover.md, "Mesh file".
 */
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { parseHostPort } from '../lib/contract-decoder.ts';
import { MeshFileError } from '../lib/errors.ts';
import { ANNOTATION_VIP, APP_BIND_VALUES, DEFAULT_PLUGIN, formatInboundPorts, parseInboundPorts } from '../lib/names.ts';
import { emptyView } from './model.ts';
import type { ClusterView, EndpointSliceView, ServicePortView, SliceEndpointView } from './model.ts';

export interface MeshFileSettings {
  clusterDomain?: string;
  dnsUpstreams?: string[];
  dnsTtlSeconds?: number;
}

export interface MeshFile {
  view: ClusterView;
  settings: MeshFileSettings;
}

type Obj = Record<string, unknown>;
const NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

class Checker {
  readonly problems: string[] = [];

  problem(path: string, message: string): void {
    this.problems.push(`${path}: ${message}`);
  }
  obj(v: unknown, path: string): Obj | undefined {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Obj;
    this.problem(path, 'must be a mapping');
    return undefined;
  }
  list(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (Array.isArray(v)) return v;
    this.problem(path, 'must be a list');
    return [];
  }
  name(v: unknown, path: string, fallback?: string): string {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v === 'string' && NAME.test(v)) return v;
    this.problem(path, `${JSON.stringify(v)} must be a lower-case DNS label (e.g. "orders")`);
    return fallback ?? 'invalid';
  }
  port(v: unknown, path: string): number {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535) return v;
    this.problem(path, `${JSON.stringify(v)} must be a port number in [1, 65535]`);
    return 1;
  }
  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined || typeof v === 'boolean') return v;
    this.problem(path, 'must be true or false');
    return undefined;
  }
}

function parsePorts(c: Checker, list: unknown[], path: string): (ServicePortView & { targetPort: number })[] {
  const out: (ServicePortView & { targetPort: number })[] = [];
  list.forEach((raw, i) => {
    const p = c.obj(raw, `${path}[${i}]`);
    if (!p) return;
    const port = c.port(p.port, `${path}[${i}].port`);
    const protocol = p.protocol ?? 'tcp';
    if (protocol !== 'http' && protocol !== 'tcp') c.problem(`${path}[${i}].protocol`, 'must be http or tcp');
    const name = p.name === undefined ? (list.length === 1 ? '' : undefined) : typeof p.name === 'string' && NAME.test(p.name) ? p.name : undefined;
    if (name === undefined) c.problem(`${path}[${i}].name`, list.length === 1 ? 'must be a DNS label' : 'is required when a Service has several ports');
    if (out.some((q) => q.port === port)) c.problem(`${path}[${i}].port`, `port ${port} is listed twice`);
    const targetPort = p.targetPort === undefined ? port : c.port(p.targetPort, `${path}[${i}].targetPort`);
    // Unset stays unset, as appProtocol in a Service: the port name convention then decides (compile-endpoints.ts).
    out.push({ name: name ?? '', port, protocol: 'TCP', ...(p.protocol !== undefined ? { appProtocol: String(protocol) } : {}), targetPort });
  });
  if (list.length === 0) c.problem(path, 'needs at least one port');
  return out;
}

function parseService(c: Checker, view: ClusterView, raw: unknown, path: string): void {
  const s = c.obj(raw, path);
  if (!s) return;
  const name = c.name(s.name, `${path}.name`);
  const namespace = c.name(s.namespace, `${path}.namespace`, 'default');
  const ports = parsePorts(c, c.list(s.ports, `${path}.ports`), `${path}.ports`);
  const annotations: Record<string, string> = {};
  if (s.vip !== undefined) annotations[ANNOTATION_VIP] = String(s.vip);
  if (view.services.has(`${namespace}/${name}`)) c.problem(`${path}.name`, `Service ${namespace}/${name} is listed twice`);
  view.services.set(`${namespace}/${name}`, { namespace, name, type: 'ClusterIP', headless: false, ports: ports.map(({ targetPort: _t, ...p }) => p), labels: {}, annotations });
  // One slice per distinct set of endpoint ports: replicas on one host listen on different ports.
  const groups = new Map<string, { ports: number[]; endpoints: SliceEndpointView[] }>();
  c.list(s.endpoints, `${path}.endpoints`).forEach((rawEp, i) => {
    const q = `${path}.endpoints[${i}]`;
    const e = c.obj(rawEp, q);
    if (!e) return;
    if (typeof e.address !== 'string' || isIP(e.address) === 0) c.problem(`${q}.address`, `${JSON.stringify(e.address)} must be an IP address`);
    if (e.port !== undefined && ports.length !== 1) c.problem(`${q}.port`, 'is only allowed when the Service has one port; use ports: {name: port}');
    const named = e.ports === undefined ? {} : (c.obj(e.ports, `${q}.ports`) ?? {});
    const resolved = ports.map((p) => (e.port !== undefined ? c.port(e.port, `${q}.port`) : named[p.name] !== undefined ? c.port(named[p.name], `${q}.ports.${p.name}`) : p.targetPort));
    const ep: SliceEndpointView = { addresses: [String(e.address)], ready: c.bool(e.ready, `${q}.ready`), serving: c.bool(e.serving, `${q}.serving`), terminating: c.bool(e.terminating, `${q}.terminating`) };
    if (e.pod !== undefined) ep.podName = c.name(e.pod, `${q}.pod`);
    if (typeof e.zone === 'string') ep.zone = e.zone;
    const key = resolved.join(',');
    const g = groups.get(key) ?? { ports: resolved, endpoints: [] };
    g.endpoints.push(ep);
    groups.set(key, g);
  });
  let n = 0;
  for (const g of groups.values()) {
    const slice: EndpointSliceView = {
      namespace,
      name: `${name}-${n++}`,
      serviceName: name,
      addressType: 'IPv4',
      ports: ports.map((p, i) => ({ name: p.name, port: g.ports[i], protocol: 'TCP' })),
      endpoints: g.endpoints.filter((e) => isIP(e.addresses[0]) === 4),
    };
    const v6 = g.endpoints.filter((e) => isIP(e.addresses[0]) === 6);
    view.slices.set(`${namespace}/${slice.name}`, slice);
    if (v6.length > 0) view.slices.set(`${namespace}/${slice.name}-v6`, { ...slice, name: `${slice.name}-v6`, addressType: 'IPv6', endpoints: v6 });
  }
}

function parseWorkload(c: Checker, view: ClusterView, raw: unknown, path: string): void {
  const w = c.obj(raw, path);
  if (!w) return;
  const namespace = c.name(w.namespace, `${path}.namespace`, 'default');
  const service = c.name(w.service, `${path}.service`);
  const plugin = typeof w.plugin === 'string' && w.plugin !== '' ? w.plugin : DEFAULT_PLUGIN;
  let inboundPorts = '';
  if (typeof w.inboundPorts === 'string') inboundPorts = w.inboundPorts;
  else if (w.inboundPorts !== undefined) {
    const o = c.obj(w.inboundPorts, `${path}.inboundPorts`) ?? {};
    inboundPorts = Object.entries(o).map(([k, v]) => `${k}=${String(v)}`).join(',');
  }
  const parsed = parseInboundPorts(inboundPorts);
  if (!(parsed instanceof Map)) c.problem(`${path}.inboundPorts`, parsed.error);
  else inboundPorts = formatInboundPorts(parsed);
  let appBind: string | undefined;
  if (w.appBind !== undefined) {
    if (typeof w.appBind !== 'string' || !(APP_BIND_VALUES as readonly string[]).includes(w.appBind)) c.problem(`${path}.appBind`, `must be one of ${APP_BIND_VALUES.join(', ')}`);
    else appBind = w.appBind;
  }
  const pods = c.list(w.pods, `${path}.pods`);
  if (pods.length === 0) c.problem(`${path}.pods`, 'needs at least one pod');
  pods.forEach((rawPod, i) => {
    const p = c.obj(rawPod, `${path}.pods[${i}]`);
    if (!p) return;
    const name = c.name(p.name, `${path}.pods[${i}].name`);
    if (p.ip !== undefined && (typeof p.ip !== 'string' || isIP(p.ip) === 0)) c.problem(`${path}.pods[${i}].ip`, 'must be an IP address');
    if (view.pods.has(`${namespace}/${name}`)) c.problem(`${path}.pods[${i}].name`, `pod ${namespace}/${name} is listed twice`);
    view.pods.set(`${namespace}/${name}`, { namespace, name, ip: typeof p.ip === 'string' ? p.ip : undefined, service, plugin, inboundPorts, ...(appBind !== undefined ? { appBind } : {}) });
  });
}

function parsePlugin(c: Checker, view: ClusterView, raw: unknown, path: string): void {
  const p = c.obj(raw, path);
  if (!p) return;
  const namespace = c.name(p.namespace, `${path}.namespace`, 'default');
  const service = c.name(p.service, `${path}.service`);
  const plugin = typeof p.plugin === 'string' && p.plugin !== '' ? p.plugin : DEFAULT_PLUGIN;
  // The config itself is validated by the compiler, like a ConfigMap: a bad one shows in the document status.
  let text: string | undefined;
  if (typeof p.config === 'string') text = p.config;
  else if (p.config !== null && typeof p.config === 'object') text = JSON.stringify(p.config);
  else c.problem(`${path}.config`, 'must be a mapping or a JSON string');
  const name = `config-${service}-${plugin}`;
  if (view.configs.has(`${namespace}/${name}`)) c.problem(path, `a config for ${namespace}/${service}/${plugin} is listed twice`);
  view.configs.set(`${namespace}/${name}`, { namespace, name, service, plugin, text });
}

function parseSettings(c: Checker, root: Obj): MeshFileSettings {
  const out: MeshFileSettings = {};
  if (root.clusterDomain !== undefined) {
    if (typeof root.clusterDomain === 'string' && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(root.clusterDomain)) out.clusterDomain = root.clusterDomain;
    else c.problem('clusterDomain', 'must be a domain such as cluster.local');
  }
  if (root.dns !== undefined) {
    const d = c.obj(root.dns, 'dns') ?? {};
    if (d.upstreams !== undefined) {
      out.dnsUpstreams = c.list(d.upstreams, 'dns.upstreams').map(String);
      out.dnsUpstreams.forEach((u, i) => parseHostPort(u) === undefined && c.problem(`dns.upstreams[${i}]`, `${JSON.stringify(u)} must be ip:port`));
    }
    if (d.ttlSeconds !== undefined) {
      if (typeof d.ttlSeconds === 'number' && Number.isInteger(d.ttlSeconds) && d.ttlSeconds >= 0 && d.ttlSeconds <= 86_400) out.dnsTtlSeconds = d.ttlSeconds;
      else c.problem('dns.ttlSeconds', 'must be an integer in [0, 86400]');
    }
  }
  return out;
}

/** Parses a mesh file; throws MeshFileError with every problem found. */
export function parseMeshFile(text: string, file: string): MeshFile {
  let root: unknown;
  try {
    root = parseYaml(text);
  } catch (err) {
    throw new MeshFileError(file, [`not YAML: ${(err as Error).message.split('\n')[0]}`], { cause: err });
  }
  const c = new Checker();
  const o = c.obj(root ?? {}, '$');
  const view = emptyView();
  let settings: MeshFileSettings = {};
  if (o) {
    const known = new Set(['clusterDomain', 'dns', 'services', 'workloads', 'plugins']);
    for (const k of Object.keys(o)) if (!known.has(k)) c.problem(k, `unknown key (expected one of ${[...known].join(', ')})`);
    settings = parseSettings(c, o);
    c.list(o.services, 'services').forEach((s, i) => parseService(c, view, s, `services[${i}]`));
    c.list(o.workloads, 'workloads').forEach((w, i) => parseWorkload(c, view, w, `workloads[${i}]`));
    c.list(o.plugins, 'plugins').forEach((p, i) => parsePlugin(c, view, p, `plugins[${i}]`));
  }
  if (c.problems.length > 0) throw new MeshFileError(file, c.problems);
  return { view, settings };
}

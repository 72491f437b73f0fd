import {
  ANNOTATION_APP_BIND,
  ANNOTATION_INBOUND_PORTS,
  ANNOTATION_PLUGIN,
  ANNOTATION_SERVICE,
  CONFIGMAP_DATA_KEY,
  CONFIGMAP_LABEL_PLUGIN,
  CONFIGMAP_LABEL_SERVICE,
  DEFAULT_PLUGIN,
} from '../lib/names.ts';
import type {
  EndpointSliceView,
  MeshedPodView,
  PluginConfigView,
  ServicePortView,
  ServiceView,
  SliceEndpointView,
  SlicePortView,
} from './model.ts';

/**
 * API objects → the plain views of model.ts, at the edge. Pure and total: any input, however
 * malformed (the API server does not validate what a watch hands us twice), gives a view or a reason
 * to skip it, never an exception. Objects arrive as raw watch JSON or as @kubernetes/client-node
 * models from a list (whose timestamps are Dates), so both shapes are read.
 */
export type Converted<T> = { view: T } | { skip: string } | { detached: string };

/**
 * A well-formed object that is not part of the view: an EndpointSlice without the
 * `kubernetes.io/service-name` label belongs to no Service (a custom or multi-cluster slice, or one
 * whose label was removed). The informer removes it from the view if it was there, without counting
 * it as malformed.
 */
class Detached extends Error {}

type Obj = Record<string, unknown>;
type Protocol = 'TCP' | 'UDP' | 'SCTP';

const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
const LABEL_APP_NAME = 'app.kubernetes.io/name';
const LABEL_APP = 'app';

class Malformed extends Error {}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(why: string): never {
  throw new Malformed(why);
}

function guard<T>(fn: () => T): Converted<T> {
  try {
    return { view: fn() };
  } catch (err) {
    if (err instanceof Detached) return { detached: err.message };
    if (err instanceof Malformed) return { skip: err.message };
    return { skip: `unreadable object: ${(err as Error).message}` };
  }
}

/** `namespace/name` of any object with a usable metadata, else undefined. */
export function objectKey(obj: unknown): { namespace: string; name: string; key: string } | undefined {
  if (!isObj(obj) || !isObj(obj.metadata)) return undefined;
  const { namespace, name } = obj.metadata;
  if (typeof namespace !== 'string' || namespace === '' || typeof name !== 'string' || name === '') return undefined;
  return { namespace, name, key: `${namespace}/${name}` };
}

function meta(obj: unknown): { namespace: string; name: string; labels: Record<string, string>; annotations: Record<string, string>; m: Obj } {
  const id = objectKey(obj) ?? fail('metadata.namespace and metadata.name must be non-empty strings');
  const m = (obj as Obj).metadata as Obj;
  return { ...id, labels: stringMap(m.labels, 'metadata.labels'), annotations: stringMap(m.annotations, 'metadata.annotations'), m };
}

function stringMap(v: unknown, path: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) fail(`${path} must be a map`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') fail(`${path}.${k} must be a string`);
    out[k] = val;
  }
  return out;
}

function array(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`${path} must be a list`);
  return v;
}

function optString(v: unknown, path: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(`${path} must be a string`);
  return v;
}

function optBool(v: unknown, path: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(`${path} must be a boolean`);
  return v;
}

function port(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) fail(`${path} must be an integer in [1, 65535]`);
  return v;
}

function protocol(v: unknown, path: string): Protocol {
  if (v === undefined || v === null) return 'TCP';
  if (v !== 'TCP' && v !== 'UDP' && v !== 'SCTP') fail(`${path} must be TCP, UDP or SCTP`);
  return v;
}

/** RFC 3339 at second precision, whether the client handed us a Date (list) or a string (watch). */
function timestamp(v: unknown): string | undefined {
  const d = v instanceof Date ? v : typeof v === 'string' ? new Date(v) : undefined;
  if (!d || Number.isNaN(d.getTime())) return undefined;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function toServiceView(obj: unknown): Converted<ServiceView> {
  return guard(() => {
    const { namespace, name, labels, annotations, m } = meta(obj);
    const spec = (obj as Obj).spec;
    if (!isObj(spec)) fail('spec must be an object');
    const ports = array(spec.ports, 'spec.ports').map((p, i): ServicePortView => {
      if (!isObj(p)) fail(`spec.ports[${i}] must be an object`);
      const appProtocol = optString(p.appProtocol, `spec.ports[${i}].appProtocol`);
      return {
        name: optString(p.name, `spec.ports[${i}].name`) ?? '',
        port: port(p.port, `spec.ports[${i}].port`),
        protocol: protocol(p.protocol, `spec.ports[${i}].protocol`),
        ...(appProtocol !== undefined ? { appProtocol } : {}),
      };
    });
    const creationTimestamp = timestamp(m.creationTimestamp);
    return {
      namespace,
      name,
      ...(creationTimestamp !== undefined ? { creationTimestamp } : {}),
      type: optString(spec.type, 'spec.type') ?? 'ClusterIP',
      headless: spec.clusterIP === 'None',
      ...(spec.internalTrafficPolicy === 'Local' ? { nodeLocal: true } : {}),
      ports,
      labels,
      annotations,
    };
  });
}

export function toEndpointSliceView(obj: unknown): Converted<EndpointSliceView> {
  return guard(() => {
    const { namespace, name, labels } = meta(obj);
    const o = obj as Obj;
    const serviceName = labels[LABEL_SERVICE_NAME];
    if (!serviceName) throw new Detached(`no label ${LABEL_SERVICE_NAME}: the slice belongs to no Service`);
    const addressType = o.addressType;
    if (addressType !== 'IPv4' && addressType !== 'IPv6' && addressType !== 'FQDN') fail('addressType must be IPv4, IPv6 or FQDN');
    const ports: SlicePortView[] = [];
    array(o.ports, 'ports').forEach((p, i) => {
      if (!isObj(p)) fail(`ports[${i}] must be an object`);
      // A port without a number means "all ports" in the API; a mesh cannot route that, so it is left out.
      if (p.port === undefined || p.port === null) return;
      const appProtocol = optString(p.appProtocol, `ports[${i}].appProtocol`);
      ports.push({
        name: optString(p.name, `ports[${i}].name`) ?? '',
        port: port(p.port, `ports[${i}].port`),
        protocol: protocol(p.protocol, `ports[${i}].protocol`),
        ...(appProtocol !== undefined ? { appProtocol } : {}),
      });
    });
    const endpoints = array(o.endpoints, 'endpoints').map((e, i): SliceEndpointView => {
      if (!isObj(e)) fail(`endpoints[${i}] must be an object`);
      const addresses = array(e.addresses, `endpoints[${i}].addresses`);
      if (!addresses.every((a) => typeof a === 'string')) fail(`endpoints[${i}].addresses must be strings`);
      const c = e.conditions ?? {};
      if (!isObj(c)) fail(`endpoints[${i}].conditions must be an object`);
      const out: SliceEndpointView = { addresses: addresses as string[] };
      // Conditions stay as given: undefined means "unknown" and the compiler reads it per the API rules.
      const ready = optBool(c.ready, `endpoints[${i}].conditions.ready`);
      const serving = optBool(c.serving, `endpoints[${i}].conditions.serving`);
      const terminating = optBool(c.terminating, `endpoints[${i}].conditions.terminating`);
      if (ready !== undefined) out.ready = ready;
      if (serving !== undefined) out.serving = serving;
      if (terminating !== undefined) out.terminating = terminating;
      const ref = e.targetRef;
      if (isObj(ref) && ref.kind === 'Pod' && typeof ref.name === 'string') out.podName = ref.name;
      const zone = optString(e.zone, `endpoints[${i}].zone`);
      if (zone !== undefined) out.zone = zone;
      return out;
    });
    return { namespace, name, serviceName, addressType, ports, endpoints };
  });
}

export function toMeshedPodView(obj: unknown): Converted<MeshedPodView> {
  return guard(() => {
    const { namespace, name, labels, annotations } = meta(obj);
    const status = (obj as Obj).status;
    const ip = isObj(status) ? optString(status.podIP, 'status.podIP') : undefined;
    const service = nonEmpty(annotations[ANNOTATION_SERVICE]) ?? nonEmpty(labels[LABEL_APP_NAME]) ?? nonEmpty(labels[LABEL_APP]);
    const view: MeshedPodView = {
      namespace,
      name,
      plugin: nonEmpty(annotations[ANNOTATION_PLUGIN]) ?? DEFAULT_PLUGIN,
      inboundPorts: annotations[ANNOTATION_INBOUND_PORTS] ?? '',
    };
    const appBind = annotations[ANNOTATION_APP_BIND];
    if (appBind !== undefined) view.appBind = appBind;
    if (ip) view.ip = ip;
    if (service !== undefined) view.service = service;
    return view;
  });
}

export function toPluginConfigView(obj: unknown): Converted<PluginConfigView> {
  return guard(() => {
    const { namespace, name, labels } = meta(obj);
    const plugin = nonEmpty(labels[CONFIGMAP_LABEL_PLUGIN]) ?? fail(`label ${CONFIGMAP_LABEL_PLUGIN} is missing`);
    const service = nonEmpty(labels[CONFIGMAP_LABEL_SERVICE]) ?? fail(`label ${CONFIGMAP_LABEL_SERVICE} is missing`);
    const data = stringMap((obj as Obj).data, 'data');
    return { namespace, name, service, plugin, text: data[CONFIGMAP_DATA_KEY] };
  });
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

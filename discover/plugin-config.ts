/**
 * The `plugin-config` ConfigMap value: Rainbond's ResourceSpec JSON (github.com/goodrain/rainbond).
 * Decoding keeps the spec as given (unknown option keys such as Rainbond's `PROXY` or `OPEN_LIMIT`
 * stay in base_* for plugins that read them); validation collects every problem with its path.
 */
import { decodeResourceSpec } from '../lib/contract-decoder.ts';
import type { BasePort, BaseService, ConfigProblem, ResourceSpec } from '../lib/contract.ts';
import { ContractError } from '../lib/errors.ts';
import { CONFIGMAP_DATA_KEY, CONFIGMAP_LABEL_PLUGIN, CONFIGMAP_LABEL_SERVICE } from '../lib/names.ts';
import type { PluginConfigView } from './model.ts';
import { knownKey, parseOptions } from './plugin-options.ts';
import type { ParsedOptions } from './plugin-options.ts';

export interface ParsedService {
  entry: BaseService;
  /** Where the dependency lives: `depend_service_alias` is `name` (the workload's namespace) or `name.namespace`. */
  name: string;
  namespace: string;
  options: ParsedOptions;
}

export interface ParsedPort {
  entry: BasePort;
  options: ParsedOptions;
}

export interface PluginConfig {
  spec: ResourceSpec;
  services: ParsedService[];
  ports: ParsedPort[];
}

export type PluginConfigResult = { ok: true; config: PluginConfig } | { ok: false; problems: ConfigProblem[] };

const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Parses and validates the JSON text of a plugin config for a workload in `namespace`. */
export function parsePluginConfig(text: string, namespace: string): PluginConfigResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [{ path: '$', message: `not JSON: ${(err as Error).message}` }] };
  }
  let spec: ResourceSpec;
  try {
    spec = decodeResourceSpec(value);
  } catch (err) {
    if (err instanceof ContractError) return { ok: false, problems: [...shapeProblems(value), { path: err.path, message: err.message.slice(err.path.length + 2) }].filter(unique) };
    throw err;
  }
  const problems: ConfigProblem[] = [];
  const services = (spec.base_services ?? []).map((entry, i): ParsedService => {
    const path = `$.base_services[${i}]`;
    const [name, ns = namespace, ...rest] = entry.depend_service_alias.split('.');
    if (rest.length > 0 || !DNS_LABEL.test(name) || !DNS_LABEL.test(ns)) {
      problems.push({ path: `${path}.depend_service_alias`, message: `${JSON.stringify(entry.depend_service_alias)} must be a Service name or name.namespace` });
    }
    return { entry, name, namespace: ns, options: parseOptions(entry.options, `${path}.options`, problems) };
  });
  const ports = (spec.base_ports ?? []).map((entry, i): ParsedPort => ({ entry, options: parseOptions(entry.options, `$.base_ports[${i}].options`, problems) }));
  checkPorts(ports, problems);
  checkWeights(services, problems);
  checkPolicyOwners(services, problems);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: { spec, services, ports } };
}

/**
 * The plugin config of one workload from its ConfigMaps (sorted by name). Two or more ConfigMaps
 * for one workload are an invalid config naming every one of them: picking one by name would
 * silently ignore whatever the user just added or renamed.
 */
export function readPluginConfigMaps(cms: readonly PluginConfigView[], namespace: string): PluginConfigResult & { text?: string } {
  if (cms.length > 1) {
    const { service, plugin } = cms[0];
    const names = cms.map((c) => c.name).join(', ');
    return {
      ok: false,
      problems: [{ path: '$', message: `${cms.length} ConfigMaps configure this workload (labels ${CONFIGMAP_LABEL_PLUGIN}=${plugin}, ${CONFIGMAP_LABEL_SERVICE}=${service}): ${names}; keep exactly one` }],
    };
  }
  const cm = cms[0];
  if (cm.text === undefined) return { ok: false, problems: [{ path: '$', message: `ConfigMap ${cm.name} has no ${CONFIGMAP_DATA_KEY} key` }] };
  const result = parsePluginConfig(cm.text, namespace);
  return result.ok ? { ...result, text: cm.text } : result;
}

function unique(p: ConfigProblem, i: number, all: ConfigProblem[]): boolean {
  return all.findIndex((q) => q.path === p.path && q.message === p.message) === i;
}

/**
 * decodeResourceSpec stops at the first shape error; walk the entries so a user sees every missing
 * field at once rather than fixing them one deploy at a time.
 */
function shapeProblems(value: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return out;
  for (const key of ['base_services', 'base_ports'] as const) {
    const list = (value as Record<string, unknown>)[key];
    if (!Array.isArray(list)) continue;
    list.forEach((item, i) => {
      try {
        decodeResourceSpec({ [key]: [item] }, `$.${key}[${i}]`);
      } catch (err) {
        if (err instanceof ContractError) out.push({ path: err.path.replace(`$.${key}[${i}].${key}[0]`, `$.${key}[${i}]`), message: err.message.slice(err.path.length + 2) });
      }
    });
  }
  return out;
}

function checkPorts(ports: ParsedPort[], problems: ConfigProblem[]): void {
  const apps = new Set<number>();
  const listens = new Set<number>();
  ports.forEach(({ entry }, i) => {
    if (apps.has(entry.port)) problems.push({ path: `$.base_ports[${i}].port`, message: `port ${entry.port} is listed twice` });
    if (listens.has(entry.listen_port)) problems.push({ path: `$.base_ports[${i}].listen_port`, message: `listen_port ${entry.listen_port} is listed twice` });
    apps.add(entry.port);
    listens.add(entry.listen_port);
  });
}

/** Entries that merge into one weighted route must leave at least one cluster with weight > 0. */
function checkWeights(services: ParsedService[], problems: ConfigProblem[]): void {
  const groups = new Map<string, { sum: number; first: number }>();
  services.forEach((s, i) => {
    const r = s.options.route;
    const owner = r.domains.length === 0 ? `${s.name}.${s.namespace}` : r.domains.join(',');
    const key = JSON.stringify([owner, s.entry.port, r.prefix, r.headers]);
    const g = groups.get(key) ?? { sum: 0, first: i };
    g.sum += r.weight;
    groups.set(key, g);
  });
  for (const g of groups.values()) {
    if (g.sum === 0) problems.push({ path: `$.base_services[${g.first}].options.Weight`, message: 'every entry of this route has weight 0, so it would send traffic nowhere' });
  }
}

const ROUTE_KEYS = new Set(['Domains', 'Prefix', 'Headers', 'Weight']);

/**
 * A Service port has one cluster, so one policy: the first entry for it owns the policy keys. A
 * later entry (another route to the same port) setting them would be silently ignored; say so.
 */
function checkPolicyOwners(services: ParsedService[], problems: ConfigProblem[]): void {
  const seen = new Set<string>();
  services.forEach((s, i) => {
    const key = `${s.name}.${s.namespace}|${s.entry.port}`;
    if (!seen.has(key)) {
      seen.add(key);
      return;
    }
    for (const k of Object.keys(s.entry.options ?? {})) {
      if (!ROUTE_KEYS.has(k) && knownKey(k)) problems.push({ path: `$.base_services[${i}].options.${k}`, message: `only the first entry for ${s.entry.depend_service_alias}:${s.entry.port} may set cluster options; move it there` });
    }
  });
}

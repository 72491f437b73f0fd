/**
 * The per-pod injection settings: the webhook's defaults (flags/env, admission/config.ts) with the
 * pod's `sidemesh.io/*` annotation overrides applied. A bad override is a warning and the default
 * stays in force, except where guessing would mesh the pod wrongly (an unparseable explicit
 * `sidemesh.io/inbound-ports`): then the pod is not injected at all.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { parseDurationMs } from '../lib/duration.ts';
import {
  ANNOTATION_COPY_ENV,
  ANNOTATION_DEFAULT_CONTAINER,
  ANNOTATION_DNS,
  ANNOTATION_INBOUND_PORTS,
  ANNOTATION_MAIN_CONTAINER,
  ANNOTATION_NATIVE_SIDECAR,
  ANNOTATION_PLUGIN,
  ANNOTATION_PLUGIN_ENV,
  ANNOTATION_PROXY_CPU_LIMIT,
  ANNOTATION_PROXY_CPU_REQUEST,
  ANNOTATION_PROXY_IMAGE,
  ANNOTATION_PROXY_MEMORY_LIMIT,
  ANNOTATION_PROXY_MEMORY_REQUEST,
  ANNOTATION_READY_TIMEOUT,
  ANNOTATION_SERVICE,
  DEFAULT_PLUGIN,
  parseInboundPorts,
} from '../lib/names.ts';

/** Sidecar resources; `undefined` leaves that request/limit unset. */
export interface ProxyResources {
  cpuRequest?: string;
  memoryRequest?: string;
  cpuLimit?: string;
  memoryLimit?: string;
}

/** The webhook-wide defaults the settings start from (a subset of AdmissionConfig). */
export interface InjectDefaults {
  sidecarImage: string;
  nativeSidecar: boolean;
  dns: boolean;
  copyEnv: boolean;
  resources: ProxyResources;
  readyTimeoutSeconds: number;
  /** How the native sidecar's startup probe checks /ready (see sidecar-container.ts). */
  readyProbe: 'exec' | 'http';
}

export interface PodSettings {
  image: string;
  nativeSidecar: boolean;
  dns: boolean;
  copyEnv: boolean;
  resources: ProxyResources;
  readyTimeoutSeconds: number;
  readyProbe: 'exec' | 'http';
  service: string;
  plugin: string;
  /** Name of the container whose env the sidecar shares (Rainbond's "shared variables"). */
  mainContainer: string;
  pluginEnv: Array<{ name: string; value: string }>;
  /** Given explicitly by the pod; otherwise the injector allocates. */
  inboundPorts?: Map<number, number>;
}

export type SettingsResult = { settings: PodSettings; warnings: string[] } | { error: string; warnings: string[] };

// Kubernetes resource.Quantity, as accepted by the API server (decimal or binary suffix, or exponent).
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
// A label value: the service name usually comes from a label, and discover matches it verbatim.
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export function resolvePodSettings(pod: V1Pod, defaults: InjectDefaults): SettingsResult {
  const ann = pod.metadata?.annotations ?? {};
  const labels = pod.metadata?.labels ?? {};
  const warnings: string[] = [];

  const bool = (key: string, fallback: boolean): boolean => {
    const raw = ann[key];
    if (raw === undefined) return fallback;
    if (raw === 'true' || raw === 'enabled') return true;
    if (raw === 'false' || raw === 'disabled') return false;
    warnings.push(`${key}=${JSON.stringify(raw)} is not true/false; using ${fallback}`);
    return fallback;
  };
  const quantity = (key: string, fallback: string | undefined): string | undefined => {
    const raw = ann[key];
    if (raw === undefined) return fallback;
    if (raw === 'none') return undefined;
    if (QUANTITY.test(raw)) return raw;
    warnings.push(`${key}=${JSON.stringify(raw).slice(0, 20)} is not a quantity; using ${fallback ?? 'none'}`);
    return fallback;
  };

  const containers = pod.spec?.containers ?? [];
  const names = containers.map((c) => c.name);
  const wantedMain = ann[ANNOTATION_MAIN_CONTAINER] ?? ann[ANNOTATION_DEFAULT_CONTAINER];
  let mainContainer = names[0] ?? '';
  if (wantedMain !== undefined) {
    if (names.includes(wantedMain)) mainContainer = wantedMain;
    else warnings.push(`main container ${JSON.stringify(wantedMain).slice(0, 40)} not found; using ${JSON.stringify(mainContainer)}`);
  }

  // An empty value counts as unset, as in discover (discover/kube-convert.ts): both must name the
  // same workload, or the sidecar polls a document discover never serves.
  const service = nonEmpty(ann[ANNOTATION_SERVICE]) ?? nonEmpty(labels['app.kubernetes.io/name']) ?? nonEmpty(labels.app);
  if (!service) return { error: 'no service name: set label app.kubernetes.io/name or annotation sidemesh.io/service', warnings };
  if (!LABEL_VALUE.test(service)) return { error: `service name ${JSON.stringify(service).slice(0, 40)} is not a label value`, warnings };
  const plugin = nonEmpty(ann[ANNOTATION_PLUGIN]) ?? DEFAULT_PLUGIN;
  if (!LABEL_VALUE.test(plugin)) return { error: `plugin id ${JSON.stringify(plugin).slice(0, 40)} is not a label value`, warnings };

  let inboundPorts: Map<number, number> | undefined;
  const explicit = ann[ANNOTATION_INBOUND_PORTS];
  if (explicit !== undefined) {
    const parsed = parseInboundPorts(explicit);
    if (!(parsed instanceof Map)) return { error: `sidemesh.io/inbound-ports: ${parsed.error}`, warnings };
    inboundPorts = parsed;
  }

  const pluginEnv: Array<{ name: string; value: string }> = [];
  const rawEnv = ann[ANNOTATION_PLUGIN_ENV];
  if (rawEnv !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawEnv);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      warnings.push(`${ANNOTATION_PLUGIN_ENV} is not a JSON object of strings; ignored`);
    } else {
      for (const [name, value] of Object.entries(parsed)) {
        if (ENV_NAME.test(name) && ['string', 'number', 'boolean'].includes(typeof value)) pluginEnv.push({ name, value: String(value) });
        else warnings.push(`${ANNOTATION_PLUGIN_ENV}: entry ${JSON.stringify(name).slice(0, 40)} ignored`);
      }
    }
  }

  let readyTimeoutSeconds = defaults.readyTimeoutSeconds;
  const rawTimeout = ann[ANNOTATION_READY_TIMEOUT];
  if (rawTimeout !== undefined) {
    const ms = parseDurationMs(rawTimeout);
    if (ms === undefined || ms < 1000 || ms > 3_600_000) warnings.push(`${ANNOTATION_READY_TIMEOUT} must be a duration in [1s, 1h]; using ${readyTimeoutSeconds}s`);
    else readyTimeoutSeconds = Math.ceil(ms / 1000);
  }

  const image = ann[ANNOTATION_PROXY_IMAGE]?.trim() || defaults.sidecarImage;
  const settings: PodSettings = {
    image,
    nativeSidecar: bool(ANNOTATION_NATIVE_SIDECAR, defaults.nativeSidecar),
    dns: bool(ANNOTATION_DNS, defaults.dns),
    copyEnv: bool(ANNOTATION_COPY_ENV, defaults.copyEnv),
    resources: {
      cpuRequest: quantity(ANNOTATION_PROXY_CPU_REQUEST, defaults.resources.cpuRequest),
      memoryRequest: quantity(ANNOTATION_PROXY_MEMORY_REQUEST, defaults.resources.memoryRequest),
      cpuLimit: quantity(ANNOTATION_PROXY_CPU_LIMIT, defaults.resources.cpuLimit),
      memoryLimit: quantity(ANNOTATION_PROXY_MEMORY_LIMIT, defaults.resources.memoryLimit),
    },
    readyTimeoutSeconds,
    readyProbe: defaults.readyProbe,
    service,
    plugin,
    mainContainer,
    pluginEnv,
    inboundPorts,
  };
  return { settings, warnings };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === '' ? undefined : v;
}

/** Quantities as the sidecar's config loader and the docs accept them (exported for config.ts). */
export function isQuantity(text: string): boolean {
  return QUANTITY.test(text);
}

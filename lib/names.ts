/**
 * Names, ports, env vars and annotations that cross component boundaries
 * (../shared/ARCHITECTURE.md, "Names and ports"), and the annotations users write on their pods.
 * Change them here only.
 */
export const PREFIX = 'sidemesh.io/';

export const LABEL_INJECT = 'sidemesh.io/inject';
export const LABEL_INJECTED = 'sidemesh.io/injected';
export const ANNOTATION_STATUS = 'sidemesh.io/status';
export const ANNOTATION_SERVICE = 'sidemesh.io/service';
export const ANNOTATION_PLUGIN = 'sidemesh.io/plugin';
export const ANNOTATION_INBOUND_PORTS = 'sidemesh.io/inbound-ports';
/**
 * How the app binds its ports: `wildcard` (default: 0.0.0.0 or ::) or `specific` (127.0.0.1 or the
 * pod IP). A VIP listener cannot share a port with a wildcard listener, so with `wildcard` discover
 * leaves Services on the app's own ports out of the workload's mesh (docs/discover.md).
 */
export const ANNOTATION_APP_BIND = 'sidemesh.io/app-bind';
export const APP_BIND_VALUES = ['wildcard', 'specific'] as const;
/** On a Service: pins its loopback VIP (discover/vip.ts). */
export const ANNOTATION_VIP = 'sidemesh.io/vip';

/**
 * Per-pod overrides of the webhook's defaults (admission/pod-settings.ts; docs/admission.md,
 * "Pod annotations"). Only the webhook reads them.
 */
export const ANNOTATION_NATIVE_SIDECAR = 'sidemesh.io/native-sidecar';
export const ANNOTATION_DNS = 'sidemesh.io/dns';
export const ANNOTATION_COPY_ENV = 'sidemesh.io/copy-env';
export const ANNOTATION_PROXY_IMAGE = 'sidemesh.io/proxy-image';
export const ANNOTATION_PROXY_CPU_REQUEST = 'sidemesh.io/proxy-cpu-request';
export const ANNOTATION_PROXY_MEMORY_REQUEST = 'sidemesh.io/proxy-memory-request';
export const ANNOTATION_PROXY_CPU_LIMIT = 'sidemesh.io/proxy-cpu-limit';
export const ANNOTATION_PROXY_MEMORY_LIMIT = 'sidemesh.io/proxy-memory-limit';
export const ANNOTATION_MAIN_CONTAINER = 'sidemesh.io/main-container';
export const ANNOTATION_PLUGIN_ENV = 'sidemesh.io/plugin-env';
export const ANNOTATION_READY_TIMEOUT = 'sidemesh.io/ready-timeout';
/** kubectl's own convention for "the container `kubectl logs/exec` picks". */
export const ANNOTATION_DEFAULT_CONTAINER = 'kubectl.kubernetes.io/default-container';

/** Plugin id when a pod names none. */
export const DEFAULT_PLUGIN = 'mesh';

/** Rainbond's plugin-config ConfigMap convention: labels plugin_id + service_alias, data key plugin-config. */
export const CONFIGMAP_LABEL_PLUGIN = 'plugin_id';
export const CONFIGMAP_LABEL_SERVICE = 'service_alias';
export const CONFIGMAP_DATA_KEY = 'plugin-config';

export const PORT_DISCOVER = 6100;
export const PORT_ADMISSION = 8443;
export const PORT_SIDECAR_ADMIN = 15000;
export const PORT_SIDECAR_METRICS = 15090;
export const PORT_DNS = 53;

/** Inbound listen ports are allocated from this range (Rainbond's). */
export const INBOUND_PORT_MIN = 65301;
export const INBOUND_PORT_MAX = 65400;

/** Outbound VIPs: one loopback address per Service, from this CIDR by default. */
export const DEFAULT_VIP_CIDR = '127.128.0.0/16';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/** Env vars the webhook sets on the sidecar and the sidecar reads. */
export const ENV = {
  DISCOVER_URL: 'DISCOVER_URL',
  NAMESPACE: 'NAMESPACE',
  SERVICE_ALIAS: 'SERVICE_ALIAS',
  PLUGIN_ID: 'PLUGIN_ID',
  POD_NAME: 'POD_NAME',
  POD_IP: 'POD_IP',
} as const;

/** Path of the workload document on discover: Rainbond's form. */
export function resourcesPath(namespace: string, service: string, plugin: string): string {
  return `/v1/resources/${encodeURIComponent(namespace)}/${encodeURIComponent(service)}/${encodeURIComponent(plugin)}`;
}

/** Parses `sidemesh.io/inbound-ports` ("8080=65301,9090=65302") into appPort → listenPort. */
export function parseInboundPorts(text: string): Map<number, number> | { error: string } {
  const out = new Map<number, number>();
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d{1,5})=(\d{1,5})$/.exec(part);
    if (!m) return { error: `"${part}" is not appPort=listenPort` };
    const app = Number(m[1]);
    const listen = Number(m[2]);
    if (app < 1 || app > 65535 || listen < 1 || listen > 65535) return { error: `"${part}" has a port out of range` };
    if (out.has(app)) return { error: `app port ${app} is mapped twice` };
    out.set(app, listen);
  }
  return out;
}

export function formatInboundPorts(map: ReadonlyMap<number, number>): string {
  return [...map].sort((a, b) => a[0] - b[0]).map(([a, l]) => `${a}=${l}`).join(',');
}

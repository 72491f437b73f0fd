/**
 * The sidecar container the webhook adds (ARCHITECTURE.md "Injection"). Pure: built from the pod's
 * resolved settings and its inbound port plan.
 */
import { jsonClone } from './json-clone.ts';
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import { ENV, PORT_SIDECAR_ADMIN, PORT_SIDECAR_METRICS, resourcesPath } from '../lib/names.ts';
import type { PodSettings } from './pod-settings.ts';

export const SIDECAR_NAME = 'sidemesh-proxy';
export const CACHE_VOLUME = 'sidemesh-cache';
export const CACHE_MOUNT_PATH = '/var/run/sidemesh';
export const METRICS_PORT_NAME = 'sm-metrics';
/** The UID (and GID) the images run as (distroless "nonroot"). */
export const SIDECAR_UID = 65532;

export interface SidecarInput {
  settings: PodSettings;
  namespace: string;
  /** `http://sidemesh-discover.sidemesh-system.svc:6100`, no trailing slash. */
  discoverBaseUrl: string;
  /** appPort → listenPort. */
  inboundPorts: ReadonlyMap<number, number>;
  /** The container whose env is shared, if any. */
  main?: V1Container;
  /** Port names other containers already use: a duplicate name would make the pod invalid. */
  takenPortNames: ReadonlySet<string>;
}

/** Env names the webhook owns: a copied or plugin variable of the same name is dropped. */
const OWN_ENV = new Set<string>(Object.values(ENV));

/**
 * The app's settings that would configure the sidecar's own process, not the mesh: its log level,
 * Node.js itself (`NODE_OPTIONS=--require /app/tracing.js` stops the sidecar starting, since that file
 * is not in its image), and the sidecar's settings. Never copied from the main container's `env`.
 */
export function isSidecarOwnSetting(name: string): boolean {
  return name === 'LOG_LEVEL' || name.startsWith('NODE_') || name.startsWith('SIDEMESH_');
}

/**
 * `envFrom` cannot be filtered by name, but an `env` entry always wins over `envFrom` in Kubernetes,
 * whatever their order. So with a copied `envFrom` these are set explicitly to the empty string, which
 * the sidecar reads as unset (lib/env.ts): its own default, and for Node "no options". Every name the
 * sidecar's config loader reads is here (test/admission/sidecar-container.test.ts checks
 * sidecar/config.ts against this list). NODE_ENV is left alone: an empty value would hide the image's
 * NODE_ENV=production, and neither the sidecar's code nor its dependencies read it.
 */
export const ENV_FROM_OVERRIDES: readonly string[] = [
  'LOG_LEVEL',
  'NODE_OPTIONS',
  'SIDEMESH_ADMIN_ADDR',
  'SIDEMESH_METRICS_ADDR',
  'SIDEMESH_CACHE_DIR',
  'SIDEMESH_DRAIN_GRACE_PERIOD',
  'SIDEMESH_DNS_ENABLED',
  'SIDEMESH_DNS_ADDR',
  'SIDEMESH_DISCOVER_WAIT',
  'SIDEMESH_DISCOVER_BACKOFF_MAX',
  'SIDEMESH_HTTP_HEADERS_TIMEOUT',
  'SIDEMESH_HTTP_REQUEST_TIMEOUT',
  'SIDEMESH_HTTP_IDLE_TIMEOUT',
  'SIDEMESH_HTTP_FAST_PATH',
  'SIDEMESH_UPSTREAM_IDLE_TIMEOUT',
  'SIDEMESH_BIND_RETRY_INTERVAL',
];

const READY_URL = `http://127.0.0.1:${PORT_SIDECAR_ADMIN}/ready`;

/**
 * postStart for the pre-1.29 layout: the kubelet starts the next container only when this returns,
 * so the app starts after the sidecar is ready (Rainbond PR 1017, Istio holdApplicationUntilProxyStarts).
 * It runs inside the sidecar's own image, so it may use loopback and the admin port.
 */
export function waitReadyScript(timeoutSeconds: number): string {
  return (
    `const end=Date.now()+${timeoutSeconds * 1000};` +
    `const again=()=>Date.now()>end?process.exit(1):setTimeout(poll,250);` +
    `function poll(){require('node:http').get('${READY_URL}',` +
    `(r)=>{r.resume();r.statusCode===200?process.exit(0):again()}).on('error',again)}poll()`
  );
}

/** One readiness check for an exec probe: exit 0 on 200 from the admin port, 1 otherwise. */
export function probeReadyScript(): string {
  return (
    `require('node:http').get('${READY_URL}',{timeout:900},` +
    `(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))`
  );
}

function sharedEnv(main: V1Container | undefined, pluginNames: ReadonlySet<string>): V1EnvVar[] {
  const out: V1EnvVar[] = [];
  for (const e of main?.env ?? []) {
    if (OWN_ENV.has(e.name) || pluginNames.has(e.name) || isSidecarOwnSetting(e.name)) continue;
    const copy = jsonClone(e);
    // A resourceFieldRef without containerName means "this container": in the sidecar it would read
    // the sidecar's own limits. Pin it to the main container so the value means what the app sees.
    const rf = copy.valueFrom?.resourceFieldRef;
    if (rf && !rf.containerName && main) rf.containerName = main.name;
    out.push(copy);
  }
  return out;
}

export function buildSidecar(input: SidecarInput): V1Container {
  const { settings, namespace } = input;
  const pluginNames = new Set(settings.pluginEnv.map((e) => e.name).filter((n) => !OWN_ENV.has(n)));
  const copyEnvFrom = settings.copyEnv && (input.main?.envFrom?.length ?? 0) > 0;
  // A plugin variable is the operator's choice for the sidecar, and SIDEMESH_DNS_ENABLED=false below
  // is the webhook's: both are set explicitly already, and one name appears once.
  const setBelow = new Set([...pluginNames, ...(settings.dns ? [] : ['SIDEMESH_DNS_ENABLED'])]);
  const env: V1EnvVar[] = [
    // The webhook's own variables first: Kubernetes expands `$(VAR)` in a value only from entries
    // defined before it (and envFrom), so a copied `ADVERTISE=http://$(POD_IP):8080` must follow
    // POD_IP. No copied or plugin entry has one of these names (OWN_ENV): the order changes no value.
    { name: ENV.NAMESPACE, value: namespace },
    { name: ENV.SERVICE_ALIAS, value: settings.service },
    { name: ENV.PLUGIN_ID, value: settings.plugin },
    { name: ENV.DISCOVER_URL, value: input.discoverBaseUrl + resourcesPath(namespace, settings.service, settings.plugin) },
    { name: ENV.POD_NAME, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: ENV.POD_IP, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ...(settings.copyEnv ? sharedEnv(input.main, pluginNames) : []),
    ...(copyEnvFrom ? ENV_FROM_OVERRIDES.filter((n) => !setBelow.has(n)).map((name) => ({ name, value: '' })) : []),
    ...settings.pluginEnv.filter((e) => !OWN_ENV.has(e.name)),
    // The pod's resolv.conf does not point at the sidecar: its DNS responder would answer nobody.
    ...(settings.dns ? [] : [{ name: 'SIDEMESH_DNS_ENABLED', value: 'false' }]),
  ];

  const portName = (name: string) => (input.takenPortNames.has(name) ? {} : { name });
  const ports = [
    { ...portName(METRICS_PORT_NAME), containerPort: PORT_SIDECAR_METRICS, protocol: 'TCP' },
    ...[...input.inboundPorts.values()].sort((a, b) => a - b).map((listen) => ({ ...portName(`sm-in-${listen}`), containerPort: listen, protocol: 'TCP' })),
  ];

  const r = settings.resources;
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpuRequest) requests.cpu = r.cpuRequest;
  if (r.memoryRequest) requests.memory = r.memoryRequest;
  if (r.cpuLimit) limits.cpu = r.cpuLimit;
  if (r.memoryLimit) limits.memory = r.memoryLimit;

  const container: V1Container = {
    name: SIDECAR_NAME,
    image: settings.image,
    imagePullPolicy: 'IfNotPresent',
    env,
    ports,
    resources: { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) },
    // Passes the "restricted" Pod Security Standard on its own, whatever the app's pod-level settings.
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_UID,
      runAsGroup: SIDECAR_UID,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: CACHE_VOLUME, mountPath: CACHE_MOUNT_PATH }],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (copyEnvFrom) container.envFrom = jsonClone(input.main!.envFrom!);

  if (settings.nativeSidecar) {
    container.restartPolicy = 'Always';
    // The kubelet probes the pod IP, and the admin server binds 127.0.0.1 only: `http` asks /ready on
    // the metrics port (status only); `exec` runs the check inside the sidecar, one short Node process
    // per attempt, for clusters that block the kubelet from 15090 (docs/admission.md, "Readiness").
    container.startupProbe = {
      ...(settings.readyProbe === 'http'
        ? { httpGet: { path: '/ready', port: PORT_SIDECAR_METRICS, scheme: 'HTTP' } }
        : { exec: { command: ['node', '-e', probeReadyScript()] } }),
      periodSeconds: 1,
      timeoutSeconds: settings.readyProbe === 'http' ? 1 : 2,
      failureThreshold: settings.readyTimeoutSeconds,
    };
  } else {
    container.lifecycle = { postStart: { exec: { command: ['node', '-e', waitReadyScript(settings.readyTimeoutSeconds)] } } };
  }
  return container;
}

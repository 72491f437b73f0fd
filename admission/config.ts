/**
 * The webhook's one config loader. Every setting is an env var and the same-named flag
 * (`--sidecar-image x` ≡ `SIDECAR_IMAGE=x`; flags win). Defaults and consequences are in
 * docs/admission.md, "Settings". Bad values fail the start-up, all listed at once.
 *
 * No setting is called `SIDEMESH_ADMISSION_*` or `SIDEMESH_DISCOVER_*`: the kubelet injects
 * `<SERVICE>_PORT`-style variables for Services of the namespace (`SIDEMESH_ADMISSION_PORT=tcp://…`).
 */
import { isIP } from 'node:net';
import type { Env } from '../lib/env.ts';
import { EnvReader } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import { isLogLevel, type LogLevel } from '../lib/log.ts';
import { DEFAULT_CLUSTER_DOMAIN, PORT_ADMISSION, PORT_DISCOVER } from '../lib/names.ts';
import type { InjectOptions } from './inject-pod.ts';
import { isQuantity } from './pod-settings.ts';

export interface AdmissionConfig {
  host: string;
  port: number;
  /** Plain-HTTP port for /metrics, /healthz, /readyz; 0 = not served. */
  metricsPort: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  /** CA certificate to publish in the webhook's caBundle (file mode), if any. */
  tlsCaFile?: string;
  tlsReloadIntervalMs: number;
  selfSigned: boolean;
  selfSignedDir?: string;
  serviceName: string;
  namespace: string;
  webhookConfigName: string;
  caBundleSync: boolean;
  caBundleSyncIntervalMs: number;
  maxBodyBytes: number;
  logLevel: LogLevel;
  inject: Readonly<InjectOptions>;
}

const FLAG = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s;
/** Flags that take no value. */
const SWITCHES = new Set(['self-signed']);
/** Every setting loadAdmissionConfig reads; an unknown flag is a start-up error, not a silent no-op. */
export const SETTINGS = [
  'HOST', 'PORT', 'METRICS_PORT', 'TLS_CERT_FILE', 'TLS_KEY_FILE', 'TLS_CA_FILE', 'TLS_RELOAD_INTERVAL',
  'SELF_SIGNED', 'SELF_SIGNED_DIR', 'SERVICE_NAME', 'POD_NAMESPACE', 'WEBHOOK_CONFIG_NAME', 'CA_BUNDLE_SYNC',
  'CA_BUNDLE_SYNC_INTERVAL', 'MAX_BODY_BYTES', 'LOG_LEVEL', 'SIDECAR_IMAGE', 'NATIVE_SIDECAR', 'POD_DNS',
  'COPY_ENV', 'PROXY_CPU_REQUEST', 'PROXY_MEMORY_REQUEST', 'PROXY_CPU_LIMIT', 'PROXY_MEMORY_LIMIT',
  'READY_TIMEOUT', 'READY_PROBE', 'CLUSTER_DOMAIN', 'CLUSTER_DNS_IP', 'EXPANDED_DNS_CONFIG', 'DISCOVER_SERVICE',
  'DISCOVER_NAMESPACE', 'DISCOVER_PORT', 'EXCLUDED_NAMESPACES',
] as const;
const KNOWN = new Set<string>(SETTINGS);

/** `--tls-cert-file=/x` or `--tls-cert-file /x` → `{ TLS_CERT_FILE: '/x' }`; a switch → `'true'`. */
export function flagsToEnv(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = FLAG.exec(args[i]);
    if (!m) {
      problems.push(`unexpected argument ${JSON.stringify(args[i])}`);
      continue;
    }
    const key = m[1].replace(/-/g, '_').toUpperCase();
    if (!KNOWN.has(key)) {
      problems.push(`unknown flag --${m[1]}`);
      if (m[2] === undefined && i + 1 < args.length && !args[i + 1].startsWith('--')) i++;
      continue;
    }
    if (m[2] !== undefined) out[key] = m[2];
    else if (SWITCHES.has(m[1])) out[key] = 'true';
    else if (i + 1 < args.length && !args[i + 1].startsWith('--')) out[key] = args[++i];
    else problems.push(`--${m[1]} needs a value`);
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

export function loadAdmissionConfig(env: Env, version: string): Readonly<AdmissionConfig> {
  const r = new EnvReader(env);
  const namespace = r.string('POD_NAMESPACE', 'sidemesh-system');
  const selfSigned = r.bool('SELF_SIGNED', false);
  const tlsCaFile = r.optionalString('TLS_CA_FILE');
  const clusterDnsIp = r.string('CLUSTER_DNS_IP', '10.96.0.10');
  if (isIP(clusterDnsIp) === 0) r.problem(`CLUSTER_DNS_IP=${JSON.stringify(clusterDnsIp)} must be an IP address`);
  const quantity = (name: string, fallback: string | undefined): string | undefined => {
    const v = r.optionalString(name);
    if (v === undefined) return fallback;
    if (v === 'none') return undefined;
    if (!isQuantity(v)) r.problem(`${name}=${JSON.stringify(v)} must be a Kubernetes quantity (e.g. 64Mi, 10m) or none`);
    return v;
  };
  const discoverService = r.string('DISCOVER_SERVICE', 'sidemesh-discover');
  const discoverNamespace = r.string('DISCOVER_NAMESPACE', namespace);
  const discoverPort = r.port('DISCOVER_PORT', PORT_DISCOVER);
  const logLevel = r.string('LOG_LEVEL', 'info');
  if (!isLogLevel(logLevel)) r.problem(`LOG_LEVEL=${JSON.stringify(logLevel)} must be debug, info, warn, error or silent`);
  const excluded = new Set(['kube-system', namespace, ...r.list('EXCLUDED_NAMESPACES', [])]);

  const nativeSidecar = r.bool('NATIVE_SIDECAR', true);
  const inject: InjectOptions = Object.freeze({
    sidecarImage: r.string('SIDECAR_IMAGE', `sidemesh/sidecar:${version}`),
    nativeSidecar,
    dns: r.bool('POD_DNS', true),
    copyEnv: r.bool('COPY_ENV', true),
    resources: Object.freeze({
      cpuRequest: quantity('PROXY_CPU_REQUEST', '10m'),
      memoryRequest: quantity('PROXY_MEMORY_REQUEST', '32Mi'),
      cpuLimit: quantity('PROXY_CPU_LIMIT', undefined),
      memoryLimit: quantity('PROXY_MEMORY_LIMIT', '128Mi'),
    }),
    readyTimeoutSeconds: Math.ceil(r.durationMs('READY_TIMEOUT', 120_000) / 1000),
    readyProbe: r.oneOf('READY_PROBE', ['exec', 'http'] as const, 'http'),
    clusterDomain: r.string('CLUSTER_DOMAIN', DEFAULT_CLUSTER_DOMAIN),
    clusterDnsIp,
    // Native sidecars need Kubernetes 1.29, where ExpandedDNSConfig is GA: the same cluster assumption.
    expandedDnsConfig: r.bool('EXPANDED_DNS_CONFIG', nativeSidecar),
    discoverBaseUrl: `http://${discoverService}.${discoverNamespace}.svc:${discoverPort}`,
    excludedNamespaces: Object.freeze([...excluded]),
    version,
  });
  if (inject.readyTimeoutSeconds < 1) r.problem('READY_TIMEOUT must be at least 1s');

  const config: AdmissionConfig = {
    host: r.string('HOST', '0.0.0.0'),
    port: r.port('PORT', PORT_ADMISSION),
    metricsPort: r.port('METRICS_PORT', 9090),
    tlsCertFile: r.string('TLS_CERT_FILE', '/etc/sidemesh/tls/tls.crt'),
    tlsKeyFile: r.string('TLS_KEY_FILE', '/etc/sidemesh/tls/tls.key'),
    tlsCaFile,
    tlsReloadIntervalMs: r.durationMs('TLS_RELOAD_INTERVAL', 30_000),
    selfSigned,
    selfSignedDir: r.optionalString('SELF_SIGNED_DIR'),
    serviceName: r.string('SERVICE_NAME', 'sidemesh-admission'),
    namespace,
    webhookConfigName: r.string('WEBHOOK_CONFIG_NAME', 'sidemesh-admission'),
    caBundleSync: r.bool('CA_BUNDLE_SYNC', selfSigned || tlsCaFile !== undefined),
    caBundleSyncIntervalMs: r.durationMs('CA_BUNDLE_SYNC_INTERVAL', 60_000),
    maxBodyBytes: r.int('MAX_BODY_BYTES', 4 * 1024 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
    logLevel: isLogLevel(logLevel) ? logLevel : 'info',
    inject,
  };
  if (config.caBundleSync && !selfSigned && tlsCaFile === undefined) r.problem('CA_BUNDLE_SYNC=true needs SELF_SIGNED=true or TLS_CA_FILE');
  r.finish();
  return Object.freeze(config);
}

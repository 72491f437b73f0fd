/**
 * What the admission webhook would do to a pod, turned into what a process runner needs: the pod
 * object to store (annotations, labels) and the sidecar's environment (with the downward-API
 * `fieldRef`s resolved, as the kubelet would).
 *
 * The mutation itself comes from admission's pure injection function, so the e2e pods carry exactly
 * the annotations and env a real cluster would give them.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { loadAdmissionConfig } from '../../../admission/config.ts';
import { injectPod, type InjectOptions } from '../../../admission/inject-pod.ts';
import { ANNOTATION_INBOUND_PORTS, ENV, parseInboundPorts } from '../../../lib/names.ts';

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: 'TCP';
}

/** A pod as a user writes it (before injection). */
export interface PodSpecInput {
  namespace: string;
  name: string;
  /** Label `app`: the workload identity discover derives the service from. */
  app: string;
  ports: ContainerPort[];
  annotations?: Record<string, string>;
}

export interface InjectedPod {
  /** The mutated pod (plain JSON, Kubernetes shape), without status. */
  pod: KubePod;
  /** App port → inbound listen port, from `sidemesh.io/inbound-ports`. */
  inbound: Map<number, number>;
  /** The sidecar container's env, fieldRefs resolved. */
  sidecarEnv: Record<string, string>;
  /** The resolv.conf the kubelet would write from the mutated pod's dnsConfig. */
  resolvConf: string;
  /** Pod-level sysctls the webhook set (applied with `sysctl -w` inside the namespace). */
  sysctls: Array<{ name: string; value: string }>;
  warnings: string[];
  /** The injected sidecar's startup probe, as the kubelet would run it. */
  startupProbe: StartupProbe | undefined;
}

export interface StartupProbe {
  httpGet?: { path: string; port: number | string };
  exec?: { command: string[] };
}

export interface KubePod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: { namespace: string; name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { containers: KubeContainer[]; initContainers?: KubeContainer[]; dnsConfig?: unknown; securityContext?: unknown; [k: string]: unknown };
  status?: Record<string, unknown>;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

interface KubeContainer {
  name: string;
  image?: string;
  env?: EnvVar[];
  ports?: ContainerPort[];
  [k: string]: unknown;
}

export function podSpec(input: PodSpecInput): KubePod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: input.namespace,
      name: input.name,
      labels: { app: input.app, 'sidemesh.io/inject': 'true' },
      annotations: { ...(input.annotations ?? {}) },
    },
    spec: { containers: [{ name: 'app', image: 'example/e2e-app:1', ports: input.ports.map((p) => ({ protocol: 'TCP', ...p })) }] },
  };
}

/** Resolves `valueFrom.fieldRef` the way the kubelet does for the fields the webhook uses. */
export function resolveEnv(env: readonly EnvVar[], pod: KubePod, podIp: string): Record<string, string> {
  const out: Record<string, string> = {};
  const fields: Record<string, string> = {
    'metadata.name': pod.metadata.name,
    'metadata.namespace': pod.metadata.namespace,
    'status.podIP': podIp,
    'status.hostIP': podIp,
    'spec.nodeName': 'e2e-node',
    'spec.serviceAccountName': 'default',
  };
  for (const e of env) {
    if (e.value !== undefined) out[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => out[v] ?? m);
    else if (e.valueFrom?.fieldRef) out[e.name] = fields[e.valueFrom.fieldRef.fieldPath] ?? '';
  }
  return out;
}

/**
 * The webhook's settings as its own config loader builds them (production defaults), with this
 * machine's discover address and the bridge address standing in for the cluster DNS Service.
 */
export function injectOptions(discoverBase: string, clusterDnsIp: string): InjectOptions {
  const config = loadAdmissionConfig({ CLUSTER_DNS_IP: clusterDnsIp }, 'e2e');
  return { ...config.inject, discoverBaseUrl: discoverBase };
}

/** Runs admission's own pure injection function on the pod and resolves what the kubelet would. */
export function inject(input: PodSpecInput, podIp: string, options: InjectOptions): InjectedPod {
  const original = podSpec(input);
  const result = injectPod(original as unknown as V1Pod, input.namespace, options);
  if (result.skipped) throw new Error(`admission skipped ${input.name}: ${result.skipped} ${result.warnings.join('; ')}`);
  const pod = result.pod as unknown as KubePod;
  const sidecar = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => (c.env ?? []).some((e) => e.name === ENV.DISCOVER_URL));
  if (!sidecar) throw new Error(`injection of ${input.name} produced no container with ${ENV.DISCOVER_URL}`);
  const inbound = parseInboundPorts(pod.metadata.annotations[ANNOTATION_INBOUND_PORTS] ?? '');
  if ('error' in inbound) throw new Error(`injection of ${input.name}: bad ${ANNOTATION_INBOUND_PORTS}: ${inbound.error}`);
  const dns = pod.spec.dnsConfig as { nameservers?: string[]; searches?: string[]; options?: Array<{ name: string; value?: string }> } | undefined;
  const resolv = [
    ...(dns?.nameservers ?? []).map((n) => `nameserver ${n}`),
    ...(dns?.searches?.length ? [`search ${dns.searches.join(' ')}`] : []),
    ...(dns?.options?.length ? [`options ${dns.options.map((o) => (o.value === undefined ? o.name : `${o.name}:${o.value}`)).join(' ')}`] : []),
    '',
  ].join('\n');
  const sc = pod.spec.securityContext as { sysctls?: Array<{ name: string; value: string }> } | undefined;
  return {
    pod,
    inbound,
    sidecarEnv: resolveEnv(sidecar.env ?? [], pod, podIp),
    resolvConf: resolv,
    sysctls: sc?.sysctls ?? [],
    warnings: result.warnings,
    startupProbe: sidecar.startupProbe as StartupProbe | undefined,
  };
}

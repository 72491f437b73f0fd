/**
 * Sidecar injection as a pure function over a copy of the pod (ARCHITECTURE.md "Injection"). The
 * webhook sends `diffJson(pod, result.pod)`; the end-to-end suite calls this directly to build the
 * annotations and env a meshed pod would have.
 *
 * What a caller may assume:
 * - the input pod is never modified; a skipped pod comes back as the same object;
 * - injecting an injected pod is a no-op (`skipped: 'already-injected'`), so reinvocation
 *   (`reinvocationPolicy: IfNeeded`) and retries converge;
 * - nothing here throws for a malformed pod that the API server would accept: what cannot be
 *   injected is reported as `skipped: 'not-injectable'` with a warning;
 * - every warning starts with `sidemesh: ` and is at most 120 characters (the limit the Kubernetes docs
 *   ask of admission warnings, extensible-admission-controllers, "Response").
 */
import { jsonClone } from './json-clone.ts';
import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_DEFAULT_CONTAINER, ANNOTATION_INBOUND_PORTS, ANNOTATION_STATUS, LABEL_INJECT, LABEL_INJECTED, formatInboundPorts } from '../lib/names.ts';
import { planInboundPorts } from './inbound-ports.ts';
import { applyDns, applyUnprivilegedPorts } from './pod-dns.ts';
import { type InjectDefaults, resolvePodSettings } from './pod-settings.ts';
import { CACHE_VOLUME, SIDECAR_NAME, buildSidecar } from './sidecar-container.ts';
import { resolvePortClashes } from './sidecar-ports.ts';

export interface InjectOptions extends InjectDefaults {
  clusterDomain: string;
  clusterDnsIp: string;
  /**
   * The API server accepts up to 32 DNS search domains (ExpandedDNSConfig, GA in 1.28); otherwise the
   * merged list is cut to 6 and 256 characters (pod-dns.ts).
   */
  expandedDnsConfig: boolean;
  /** `http://<discover service>.<namespace>.svc:6100`, no trailing slash. */
  discoverBaseUrl: string;
  /** Never injected, whatever the labels: the webhook's own namespace and kube-system at least. */
  excludedNamespaces: readonly string[];
  /** Recorded in `sidemesh.io/status`. */
  version: string;
}

export type SkipReason = 'excluded-namespace' | 'opted-out' | 'host-network' | 'already-injected' | 'not-injectable';

export interface InjectResult {
  pod: V1Pod;
  warnings: string[];
  skipped?: SkipReason;
}

/** What `sidemesh.io/status` records: enough for a human and for a future "uninject". */
export interface InjectionStatus {
  version: string;
  sidecar: string;
  native: boolean;
  dns: boolean;
  volumes: string[];
  inboundPorts: string;
}

const MAX_WARNING = 120;

function warning(text: string): string {
  const w = `sidemesh: ${text}`;
  return w.length <= MAX_WARNING ? w : `${w.slice(0, MAX_WARNING - 1)}…`;
}

export function isInjected(pod: V1Pod): boolean {
  if (pod.metadata?.labels?.[LABEL_INJECTED] === 'true') return true;
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return all.some((c) => c?.name === SIDECAR_NAME);
}

export function injectPod(pod: V1Pod, namespace: string, options: InjectOptions): InjectResult {
  if (options.excludedNamespaces.includes(namespace)) return { pod, warnings: [], skipped: 'excluded-namespace' };
  if (pod.metadata?.labels?.[LABEL_INJECT] === 'false') return { pod, warnings: [], skipped: 'opted-out' };
  if (isInjected(pod)) return { pod, warnings: [], skipped: 'already-injected' };
  if (pod.spec?.hostNetwork === true) {
    return { pod, warnings: [warning('hostNetwork pod not injected: the sidecar would bind ports on the node')], skipped: 'host-network' };
  }
  const notInjectable = (reason: string, earlier: string[] = []): InjectResult => ({
    pod,
    warnings: [...earlier.map(warning), warning(`not injected: ${reason}`)],
    skipped: 'not-injectable',
  });
  if (!Array.isArray(pod.spec?.containers) || pod.spec.containers.length === 0) return notInjectable('the pod has no containers');
  if (pod.spec.os?.name === 'windows') return notInjectable('Windows pods are not supported');

  const resolved = resolvePodSettings(pod, options);
  if ('error' in resolved) return notInjectable(resolved.error, resolved.warnings);
  // The app binding one of the sidecar's ports would crash-loop the pod: settle that first.
  const clashes = resolvePortClashes(pod, resolved.settings.dns, resolved.settings.inboundPorts);
  if ('error' in clashes) return notInjectable(clashes.error, [...resolved.warnings, ...clashes.warnings]);
  const settings = clashes.dns === resolved.settings.dns ? resolved.settings : { ...resolved.settings, dns: clashes.dns };
  const plan = planInboundPorts(pod, settings.inboundPorts, settings.dns);
  if ('error' in plan) return notInjectable(plan.error, [...resolved.warnings, ...clashes.warnings, ...plan.warnings]);
  if ((pod.spec.volumes ?? []).some((v) => v.name === CACHE_VOLUME)) return notInjectable(`volume name ${CACHE_VOLUME} is already taken`);

  const out = jsonClone(pod);
  const spec = out.spec!;
  const warnings = [...resolved.warnings, ...clashes.warnings, ...plan.warnings];

  const takenPortNames = new Set<string>();
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) for (const p of c.ports ?? []) if (p.name) takenPortNames.add(p.name);
  const sidecar = buildSidecar({
    settings,
    namespace,
    discoverBaseUrl: options.discoverBaseUrl,
    inboundPorts: plan.ports,
    main: spec.containers.find((c) => c.name === settings.mainContainer),
    takenPortNames,
  });
  // Native: first init container, so later init containers can already use the mesh. Otherwise the
  // first regular container: the kubelet starts containers in order and waits for its postStart.
  if (settings.nativeSidecar) spec.initContainers = [sidecar, ...(spec.initContainers ?? [])];
  else spec.containers = [sidecar, ...spec.containers];

  spec.volumes = [...(spec.volumes ?? []), { name: CACHE_VOLUME, emptyDir: { sizeLimit: '16Mi' } }];
  if (settings.dns) {
    const { clusterDomain, clusterDnsIp, expandedDnsConfig } = options;
    warnings.push(...applyDns(spec, { namespace, clusterDomain, clusterDnsIp, expandedDnsConfig }));
  }
  warnings.push(...applyUnprivilegedPorts(spec));

  const meta = (out.metadata ??= {});
  meta.labels = { ...meta.labels, [LABEL_INJECTED]: 'true' };
  const inbound = formatInboundPorts(plan.ports);
  const status: InjectionStatus = {
    version: options.version,
    sidecar: SIDECAR_NAME,
    native: settings.nativeSidecar,
    dns: settings.dns,
    volumes: [CACHE_VOLUME],
    inboundPorts: inbound,
  };
  const annotations: Record<string, string> = { ...meta.annotations, [ANNOTATION_STATUS]: JSON.stringify(status) };
  // An explicit map stays exactly as the user wrote it; an allocated one is recorded for discover.
  if (settings.inboundPorts === undefined) annotations[ANNOTATION_INBOUND_PORTS] = inbound;
  // kubectl logs/exec pick the first container without this; in the non-native layout that would be the sidecar.
  annotations[ANNOTATION_DEFAULT_CONTAINER] ??= settings.mainContainer;
  meta.annotations = annotations;

  return { pod: out, warnings: warnings.map(warning) };
}

import { CoreV1Api, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { BackoffOptions } from '../lib/backoff.ts';
import { type Clock, systemClock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { CONFIGMAP_LABEL_PLUGIN, LABEL_INJECTED } from '../lib/names.ts';
import { loadKubeConfig } from './kube-config.ts';
import { toEndpointSliceView, toMeshedPodView, toPluginConfigView, toServiceView } from './kube-convert.ts';
import { slimConfigMap, slimPod } from './kube-slim.ts';
import { KubeInformer } from './kube-informer.ts';
import type { WatchOptions } from './kube-watch.ts';
import { type ClusterSource, type ClusterView, emptyView, type SourceState, type ViewChange } from './model.ts';

export interface KubeSourceOptions {
  logger: Logger;
  clock?: Clock;
  /** A kubeconfig file; default KUBECONFIG, then ~/.kube/config, then the in-cluster service account. */
  kubeconfigPath?: string;
  /** Takes precedence over kubeconfigPath (tests point it at the fake API server). */
  kubeConfig?: KubeConfig;
  /** Restart delays of a stopped informer. */
  backoff?: BackoffOptions;
  /** Watch timings; only tests change them. */
  watch?: WatchOptions;
  /** Only for tests of the config lookup: the env read instead of process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The Kubernetes source, plus what only it knows. */
export interface KubeSource extends ClusterSource {
  /** Objects skipped as malformed, per informer, since start. */
  skippedObjects(): Record<string, number>;
}

/**
 * The cluster view from four informers: Services and EndpointSlices in all namespaces, meshed Pods
 * (label `sidemesh.io/injected=true`) and plugin-config ConfigMaps (label `plugin_id` exists).
 * The kubeconfig is resolved in start(), which throws SIDEMESH_KUBE_CONFIG_* when there is none;
 * everything after that degrades and recovers (see kube-informer.ts) instead of failing.
 */
export function createKubeSource(options: KubeSourceOptions): KubeSource {
  const clock = options.clock ?? systemClock;
  const logger = options.logger.child({ component: 'kube-source' });
  const view: ClusterView = emptyView();
  const listeners: ((change: ViewChange) => void)[] = [];
  let informers: KubeInformer<unknown>[] = [];
  let phase: 'new' | 'started' | 'closed' = 'new';

  const emit = (change: ViewChange) => {
    for (const l of listeners) l(change);
  };

  function build(kc: KubeConfig): KubeInformer<unknown>[] {
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const deps = { kubeConfig: kc, clock, backoff: options.backoff, watch: options.watch, logger, emit };
    const podSelector = `${LABEL_INJECTED}=true`;
    return [
      new KubeInformer(
        { name: 'services', kind: 'service', path: '/api/v1/services', list: () => core.listServiceForAllNamespaces(), convert: toServiceView, target: view.services },
        deps,
      ),
      new KubeInformer(
        {
          name: 'endpointslices',
          kind: 'slice',
          path: '/apis/discovery.k8s.io/v1/endpointslices',
          list: () => discovery.listEndpointSliceForAllNamespaces(),
          convert: toEndpointSliceView,
          target: view.slices,
        },
        deps,
      ),
      new KubeInformer(
        {
          name: 'pods',
          kind: 'pod',
          path: '/api/v1/pods',
          labelSelector: podSelector,
          list: () => core.listPodForAllNamespaces({ labelSelector: podSelector }),
          convert: toMeshedPodView,
          slim: slimPod,
          target: view.pods,
        },
        deps,
      ),
      new KubeInformer(
        {
          name: 'configmaps',
          kind: 'config',
          path: '/api/v1/configmaps',
          labelSelector: CONFIGMAP_LABEL_PLUGIN,
          list: () => core.listConfigMapForAllNamespaces({ labelSelector: CONFIGMAP_LABEL_PLUGIN }),
          convert: toPluginConfigView,
          slim: slimConfigMap,
          target: view.configs,
        },
        deps,
      ),
    ] as KubeInformer<unknown>[];
  }

  return {
    view,
    async start() {
      if (phase !== 'new') return;
      const kc = loadKubeConfig({ kubeConfig: options.kubeConfig, kubeconfigPath: options.kubeconfigPath, env: options.env });
      phase = 'started';
      informers = build(kc);
      logger.info('kube source starting', { server: kc.getCurrentCluster()?.server });
      for (const i of informers) i.start();
    },
    async close() {
      if (phase === 'closed') return;
      phase = 'closed';
      await Promise.all(informers.map((i) => i.close()));
    },
    synced: () => informers.length > 0 && informers.every((i) => i.synced),
    states: (): SourceState[] => informers.map((i) => i.state()),
    onChange(listener) {
      listeners.push(listener);
    },
    skippedObjects: () => Object.fromEntries(informers.map((i) => [i.state().name, i.skipped])),
  };
}

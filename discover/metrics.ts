/**
 * discover's Prometheus metrics, in one registry per process (so tests and several instances in one
 * process never collide). Labels are bounded: route kind, status code, source name — never a
 * workload, path or client address.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SourceState } from './model.ts';

export type RouteKind = 'resources' | 'listeners' | 'clusters' | 'routes' | 'registration' | 'ping' | 'health' | 'metrics' | 'unknown';

export interface DiscoverMetrics {
  registry: Registry;
  served: Counter<'route' | 'code'>;
  parked: Gauge;
  compileSeconds: Histogram;
  workloadsCached: Gauge;
  invalidConfigs: Gauge;
  configErrors: Counter;
  vipProblems: Gauge;
}

export function createMetrics(states: () => SourceState[]): DiscoverMetrics {
  const registry = new Registry();
  const p = 'sidemesh_discover_';
  // Sources keep plain running totals; these counters export them by adding what grew since the last scrape.
  const totalFromStates = (name: string, help: string, field: 'restarts' | 'skipped') => {
    const seen = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames: ['source'],
      registers: [registry],
      collect() {
        for (const s of states()) {
          const total = s[field] ?? 0;
          const delta = total - (seen.get(s.name) ?? 0);
          if (delta > 0) this.inc({ source: s.name }, delta);
          seen.set(s.name, total);
        }
      },
    });
  };
  totalFromStates(`${p}source_restarts_total`, 'Restarts of a cluster-view source (an informer or the file watcher) after an error.', 'restarts');
  totalFromStates(`${p}objects_skipped_total`, 'API objects a source skipped as malformed (logged with SIDEMESH_KUBE_OBJECT_MALFORMED).', 'skipped');
  new Gauge({
    name: `${p}source_synced`,
    help: '1 when the source has listed everything at least once.',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      for (const s of states()) this.set({ source: s.name }, s.synced ? 1 : 0);
    },
  });
  new Gauge({
    name: `${p}source_up`,
    help: '1 when the source is running, 0 while it restarts after an error or is stopped.',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      for (const s of states()) this.set({ source: s.name }, s.state === 'running' ? 1 : 0);
    },
  });
  return {
    registry,
    served: new Counter({ name: `${p}responses_total`, help: 'HTTP responses by route kind and status code.', labelNames: ['route', 'code'], registers: [registry] }),
    parked: new Gauge({ name: `${p}long_polls_parked`, help: 'Long-poll requests waiting for a document change.', registers: [registry] }),
    compileSeconds: new Histogram({
      name: `${p}compile_duration_seconds`,
      help: 'Time to compile one workload document.',
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
    workloadsCached: new Gauge({ name: `${p}workloads_cached`, help: 'Workload documents held in the cache.', registers: [registry] }),
    invalidConfigs: new Gauge({ name: `${p}plugin_configs_invalid`, help: 'Cached workloads whose plugin config does not validate (served from last-good or defaults).', registers: [registry] }),
    configErrors: new Counter({ name: `${p}plugin_config_rejections_total`, help: 'Times a workload plugin config turned invalid (once per transition).', registers: [registry] }),
    vipProblems: new Gauge({ name: `${p}vip_problems`, help: 'Services whose VIP pin was rejected or that got no VIP.', registers: [registry] }),
  };
}

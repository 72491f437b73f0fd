import { describe, expect, it } from 'vitest';
import type { Clock } from '../../lib/clock.ts';
import { createLogger } from '../../lib/log.ts';
import { createMetrics } from '../../discover/metrics.ts';
import { IDLE_EVICT_MS, SnapshotCache } from '../../discover/snapshot-cache.ts';
import { FakeSource, cidr, service, slice, viewOf } from './fixtures.ts';

/** A clock whose timers run only when the test says so. */
function manualClock(): Clock & { fire(): void; pending(): number; advance(ms: number): void } {
  const timers = new Map<number, () => void>();
  let id = 0;
  let now = 0;
  return {
    now: () => now,
    advance: (ms) => void (now += ms),
    setTimeout: (fn) => (timers.set(++id, fn), id),
    clearTimeout: (h) => void timers.delete(h as number),
    fire: () => {
      const fns = [...timers.values()];
      timers.clear();
      for (const f of fns) f();
    },
    pending: () => timers.size,
  };
}

const good = JSON.stringify({ base_services: [{ service_alias: 'web', depend_service_alias: 'orders', port: 80 }] });

function setup() {
  const source = new FakeSource(
    viewOf({
      services: [service('a', 'web', [{ port: 80 }]), service('a', 'orders', [{ port: 80 }]), service('b', 'api', [{ port: 80 }]), service('b', 'db', [{ port: 5432 }])],
      slices: [slice('b', 'db-x', 'db', [{ port: 5432 }], [{ addresses: ['198.18.0.5'] }])],
      configs: [{ namespace: 'a', service: 'web', text: good }],
    }),
  );
  const clock = manualClock();
  const lines: string[] = [];
  const metrics = createMetrics(() => source.states());
  const cache = new SnapshotCache({ source, clusterDomain: 'cluster.local', dnsUpstreams: [], dnsTtlSeconds: 5, vipCidr: cidr, clock, debounceMs: 10, logger: createLogger({}, { write: (l) => lines.push(l) }), metrics });
  cache.start();
  const woken: string[] = [];
  cache.onDocument((key) => woken.push(key));
  return { source, clock, cache, woken, lines, metrics };
}

describe('SnapshotCache', () => {
  it('debounces changes and notifies only workloads whose version changed', () => {
    const { source, clock, cache, woken } = setup();
    cache.get({ namespace: 'a', service: 'web', plugin: 'mesh' });
    cache.get({ namespace: 'b', service: 'api', plugin: 'mesh' });
    source.view.slices.get('b/db-x')!.endpoints.push({ addresses: ['198.18.0.6'] });
    source.emit({ kind: 'slice', namespace: 'b', name: 'db-x' });
    source.emit({ kind: 'slice', namespace: 'b', name: 'db-x' });
    expect(woken).toEqual([]);
    expect(clock.pending()).toBe(1);
    clock.fire();
    expect(woken).toEqual(['b/api/mesh']);
  });

  it('falls back to the last good config, logging the transition once', () => {
    const { source, clock, cache, woken, lines } = setup();
    const ref = { namespace: 'a', service: 'web', plugin: 'mesh' };
    expect(cache.get(ref)!.status.source).toBe('config');
    const cm = source.view.configs.get('a/config-web-mesh')!;
    for (const text of ['{"base_services": 1}', '{"base_services": 1}']) {
      cm.text = text;
      source.emit({ kind: 'config', namespace: 'a', name: cm.name });
      clock.fire();
    }
    const doc = cache.get(ref)!;
    expect(doc.status).toMatchObject({ state: 'invalid', source: 'last-good' });
    expect(doc.listeners.map((l) => l.name)).toEqual(['outbound|orders.a|80']);
    expect(woken).toEqual(['a/web/mesh']);
    expect(lines.filter((l) => l.includes('"plugin config rejected"'))).toHaveLength(1);
  });

  it('rejects two ConfigMaps for one workload as an invalid config naming both, and keeps the last good one', async () => {
    const { source, clock, cache, woken, lines, metrics } = setup();
    const ref = { namespace: 'a', service: 'web', plugin: 'mesh' };
    expect(cache.get(ref)!.status.source).toBe('config');
    // A second config for web/mesh, sorting after the first: picking the first by name would hide it.
    const other = JSON.stringify({ base_services: [{ service_alias: 'web', depend_service_alias: 'api.b', port: 80 }] });
    source.view.configs.set('a/web-mesh-b', { namespace: 'a', name: 'web-mesh-b', service: 'web', plugin: 'mesh', text: other });
    source.emit({ kind: 'config', namespace: 'a', name: 'web-mesh-b' });
    clock.fire();
    const doc = cache.get(ref)!;
    expect(doc.status.state).toBe('invalid');
    expect(doc.status.source).toBe('last-good');
    expect(doc.status.errors).toHaveLength(1);
    expect(doc.status.errors[0].message).toContain('config-web-mesh, web-mesh-b');
    expect(doc.listeners.map((l) => l.name)).toEqual(['outbound|orders.a|80']);
    expect(woken).toEqual(['a/web/mesh']);
    const rejected = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'plugin config rejected');
    expect(rejected).toMatchObject([{ level: 'warn', workload: 'a/web/mesh', configmaps: ['config-web-mesh', 'web-mesh-b'], code: 'SIDEMESH_DISCOVER_PLUGIN_CONFIG_INVALID', fallback: 'last-good' }]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('sidemesh_discover_plugin_configs_invalid 1');
    expect(text).toContain('sidemesh_discover_plugin_config_rejections_total 1');
    // One of them deleted: valid again, from the one left.
    source.view.configs.delete('a/config-web-mesh');
    source.emit({ kind: 'config', namespace: 'a', name: 'config-web-mesh' });
    clock.fire();
    expect(cache.get(ref)!.status).toEqual({ state: 'ok', errors: [], source: 'config' });
    expect(cache.get(ref)!.listeners.map((l) => l.name)).toEqual(['outbound|api.b|80']);
  });

  it('evicts documents nobody asked for in IDLE_EVICT_MS, unless held (a parked poll)', async () => {
    const { clock, cache, metrics } = setup();
    const cached = async () => Number(/^sidemesh_discover_workloads_cached (\d+)/m.exec(await metrics.registry.metrics())![1]);
    const held = new Set(['b/db/mesh']);
    cache.retainWhile((key) => held.has(key));
    for (const service of ['web', 'orders']) cache.get({ namespace: 'a', service, plugin: 'mesh' });
    cache.get({ namespace: 'b', service: 'db', plugin: 'mesh' });
    expect(await cached()).toBe(3);
    clock.advance(IDLE_EVICT_MS / 2);
    cache.get({ namespace: 'a', service: 'web', plugin: 'mesh' });
    clock.advance(IDLE_EVICT_MS / 2 + 1);
    // Any request sweeps: orders (idle) goes; web (asked for since) and db (held) stay.
    cache.get({ namespace: 'b', service: 'api', plugin: 'mesh' });
    expect(await cached()).toBe(3);
    expect(cache.get({ namespace: 'a', service: 'orders', plugin: 'mesh' })).toBeDefined();
    expect(await cached()).toBe(4);
  });

  it('drops a workload whose last object went away and tells its listeners', () => {
    const { source, clock, cache, woken } = setup();
    expect(cache.get({ namespace: 'b', service: 'api', plugin: 'mesh' })).toBeDefined();
    source.view.services.delete('b/api');
    source.emit({ kind: 'service', namespace: 'b', name: 'api' });
    clock.fire();
    expect(woken).toEqual(['b/api/mesh']);
    expect(cache.get({ namespace: 'b', service: 'api', plugin: 'mesh' })).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import type { Clock } from '../../lib/clock.ts';
import { createLogger } from '../../lib/log.ts';
import { createMetrics } from '../../discover/metrics.ts';
import { SnapshotCache } from '../../discover/snapshot-cache.ts';
import { FakeSource, cidr, service, slice, viewOf } from './fixtures.ts';

/** A clock whose timers run only when the test says so. */
function manualClock(): Clock & { fire(): void; pending(): number } {
  const timers = new Map<number, () => void>();
  let id = 0;
  return {
    now: () => 0,
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

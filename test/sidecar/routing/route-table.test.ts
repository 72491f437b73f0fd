import { describe, expect, it } from 'vitest';
import type { Route, RouteConfig, VirtualHost } from '../../../lib/contract.ts';
import { normaliseHost, RouteTable } from '../../../sidecar/routing/route-table.ts';
import { WeightedPicker } from '../../../sidecar/routing/weighted-picker.ts';
import { mulberry32 } from '../balancer/fixtures.ts';

function route(prefix: string, cluster: string, headers: Record<string, string> = {}): Route {
  return { match: { prefix, headers: Object.entries(headers).map(([name, value]) => ({ name, value })) }, clusters: [{ cluster, weight: 1 }] };
}

function vhost(name: string, domains: string[], routes: Route[]): VirtualHost {
  return { name, domains, routes };
}

function table(virtualHosts: VirtualHost[], random?: () => number): RouteTable {
  const config: RouteConfig = { name: 'outbound|8080', virtualHosts };
  return new RouteTable(config, { random });
}

describe('RouteTable: virtual hosts', () => {
  const t = table([
    vhost('any', ['*'], [route('/', 'default')]),
    vhost('wide', ['*.example.com'], [route('/', 'wide')]),
    vhost('narrow', ['*.api.example.com'], [route('/', 'narrow')]),
    vhost('exact', ['orders', 'orders.shop.svc.cluster.local', 'api.example.com'], [route('/', 'orders')]),
  ]);

  it('prefers an exact domain, ignoring case, port and a trailing dot', () => {
    expect(t.select('orders', '/', {})).toBe('orders');
    expect(t.select('ORDERS:8080', '/', {})).toBe('orders');
    expect(t.select('Orders.Shop.svc.cluster.local.:8080', '/', {})).toBe('orders');
    expect(t.select('api.example.com', '/', {})).toBe('orders');
  });

  it('then the longest wildcard suffix, which never matches the bare domain', () => {
    expect(t.select('v1.api.example.com', '/', {})).toBe('narrow');
    expect(t.select('www.example.com:443', '/', {})).toBe('wide');
    expect(t.select('a.b.example.com', '/', {})).toBe('wide');
    expect(t.select('example.com', '/', {})).toBe('default');
  });

  it('then `*`, also for a missing Host; without `*`, an unknown host has no route', () => {
    expect(t.select('unknown', '/', {})).toBe('default');
    expect(t.select(undefined, '/', {})).toBe('default');
    const strict = table([vhost('exact', ['orders'], [route('/', 'orders')])]);
    expect(strict.select('other', '/', {})).toBeUndefined();
    expect(strict.select(undefined, '/', {})).toBeUndefined();
  });

  it('answers a repeated Host from its last lookup, and every other Host afresh', () => {
    const hosts = ['orders', 'orders', 'www.example.com', 'www.example.com', 'orders', 'x', 'x', '', 'x', 'ORDERS'];
    const want = ['orders', 'orders', 'wide', 'wide', 'orders', 'default', 'default', 'default', 'default', 'orders'];
    expect(hosts.map((h) => t.select(h, '/', {}))).toEqual(want);
    // A table without `*`: a miss is remembered as a miss, and a hit after it is still found.
    const strict = table([vhost('exact', ['orders'], [route('/', 'orders')])]);
    expect(['other', 'other', 'orders', 'other'].map((h) => strict.select(h, '/', {}))).toEqual([undefined, undefined, 'orders', undefined]);
  });

  it('keeps the first virtual host when two claim the same domain', () => {
    const dup = table([vhost('a', ['orders'], [route('/', 'first')]), vhost('b', ['orders'], [route('/', 'second')])]);
    expect(dup.select('orders', '/', {})).toBe('first');
  });

  it('normalises IPv6 hosts with and without ports', () => {
    expect(normaliseHost('[FD00::1]:8080')).toBe('[fd00::1]');
    expect(normaliseHost('fd00::1')).toBe('fd00::1');
    expect(normaliseHost('10.0.0.1:80')).toBe('10.0.0.1');
  });
});

describe('RouteTable: routes', () => {
  const t = table([
    vhost('any', ['*'], [
      route('/api/v2', 'v2', { 'x-canary': 'yes', 'x-team': 'blue' }),
      route('/api', 'api'),
      route('/static', 'static'),
    ]),
  ]);

  it('takes the first route whose prefix matches the path without its query', () => {
    expect(t.select('h', '/api/v2/orders', {})).toBe('api');
    expect(t.select('h', '/api?x=/static', {})).toBe('api');
    expect(t.select('h', '/static/app.js?v=1', {})).toBe('static');
    expect(t.select('h', '/stat?ic', {})).toBeUndefined();
    expect(t.select('h', '/', {})).toBeUndefined();
  });

  it('never lets a prefix reach into the query string', () => {
    const q = table([vhost('any', ['*'], [route('/search?q', 'query'), route('/', 'rest')])]);
    expect(q.select('h', '/search?q=1', {})).toBe('rest');
  });

  it('requires every header pair to match exactly (Rainbond kept only the last, by prefix)', () => {
    expect(t.select('h', '/api/v2/x', { 'x-canary': 'yes', 'x-team': 'blue' })).toBe('v2');
    expect(t.select('h', '/api/v2/x', { 'x-canary': 'yes' })).toBe('api');
    expect(t.select('h', '/api/v2/x', { 'x-team': 'blue' })).toBe('api');
    expect(t.select('h', '/api/v2/x', { 'x-canary': 'yes-please', 'x-team': 'blue' })).toBe('api');
  });

  it('matches a multi-valued header when any value, or the joined value, is equal', () => {
    expect(t.select('h', '/api/v2', { 'x-canary': ['no', 'yes'], 'x-team': 'blue' })).toBe('v2');
    const joined = table([vhost('any', ['*'], [route('/', 'joined', { 'x-a': 'p, q' })])]);
    expect(joined.select('h', '/', { 'x-a': ['p', 'q'] })).toBe('joined');
    expect(joined.select('h', '/', { 'x-a': 'p, q' })).toBe('joined');
    expect(joined.select('h', '/', { 'x-a': ['p'] })).toBeUndefined();
  });
});

describe('RouteTable: weighted clusters', () => {
  it('splits traffic by weight within 1.5 % (seeded, 40 000 requests) and never picks weight 0', () => {
    const split: Route = { match: { prefix: '/', headers: [] }, clusters: [{ cluster: 'stable', weight: 90 }, { cluster: 'off', weight: 0 }, { cluster: 'canary', weight: 10 }] };
    const t = table([vhost('any', ['*'], [split])], mulberry32(21));
    const counts = new Map<string, number>();
    for (let i = 0; i < 40_000; i++) {
      const c = t.select('h', '/', {})!;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    expect(counts.has('off')).toBe(false);
    expect(Math.abs(counts.get('canary')! / 40_000 - 0.1)).toBeLessThan(0.015);
  });

  it('draws no randomness for a single-cluster route', () => {
    let draws = 0;
    const t = table([vhost('any', ['*'], [route('/', 'only')])], () => (draws++, 0.5));
    expect(t.select('h', '/', {})).toBe('only');
    expect(draws).toBe(0);
  });

  it('picks the exact boundaries of the cumulative weights', () => {
    let r = 0;
    const p = new WeightedPicker(['a', 'zero', 'b'], [1, 0, 3], () => r);
    const at = (x: number) => ((r = x), p.pick());
    expect([at(0), at(0.2499), at(0.25), at(0.9999)]).toEqual(['a', 'a', 'b', 'b']);
    expect(new WeightedPicker(['x'], [0], () => 0).pick()).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { decodeDocument } from '../../lib/contract-decoder.ts';
import type { ResourceDocument } from '../../lib/contract.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileDocument } from '../../discover/compile.ts';
import { parseMeshFile } from '../../discover/mesh-file.ts';
import { parsePluginConfig } from '../../discover/plugin-config.ts';
import { emptyView } from '../../discover/model.ts';
import type { ClusterView } from '../../discover/model.ts';
import { optionsFor, pod, service, slice, viewOf } from './fixtures.ts';

const web = { namespace: 'shop', service: 'web', plugin: 'mesh' };

function compile(view: ClusterView, workload = web, lastGood?: Parameters<typeof compileDocument>[0]['lastGood']): ResourceDocument {
  const doc = compileDocument({ view, workload, options: optionsFor(view), lastGood });
  if (!doc) throw new Error('no document');
  return doc;
}

function baseView(configText?: string): ClusterView {
  return viewOf({
    services: [
      service('shop', 'web', [{ port: 8080, name: 'http' }]),
      service('shop', 'orders', [{ port: 8080, name: 'http' }]),
      service('shop', 'billing', [{ port: 8080, name: 'http' }]),
      service('shop', 'redis', [{ port: 6379, name: 'redis' }]),
    ],
    slices: [
      slice('shop', 'orders-a', 'orders', [{ name: 'http', port: 9000 }], [{ addresses: ['198.18.0.2'], podName: 'orders-0' }, { addresses: ['198.18.0.3'], podName: 'orders-1', ready: false, serving: true, terminating: true }]),
      slice('shop', 'orders-b', 'orders', [{ name: 'http', port: 9000 }], [{ addresses: ['198.18.0.2'], podName: 'orders-0' }]),
      slice('shop', 'billing-a', 'billing', [{ name: 'http', port: 8080 }], [{ addresses: ['198.18.0.9'] }]),
      slice('shop', 'web-a', 'web', [{ name: 'http', port: 8081 }], [{ addresses: ['198.18.0.7'], podName: 'web-0' }]),
    ],
    pods: [pod('shop', 'web-0', 'web', '8081=65301', '198.18.0.7'), pod('shop', 'orders-0', 'orders', '9000=65301', '198.18.0.2')],
    configs: configText === undefined ? [] : [{ namespace: 'shop', service: 'web', text: configText }],
  });
}

const split = JSON.stringify({
  base_services: [
    { service_alias: 'web', depend_service_alias: 'orders', port: 8080, protocol: 'http', options: { Domains: 'api.example', Weight: '90' } },
    { service_alias: 'web', depend_service_alias: 'billing', port: 8080, protocol: 'http', options: { Domains: 'api.example', Weight: 10 } },
    { service_alias: 'web', depend_service_alias: 'billing', port: 8080, protocol: 'http', options: { Domains: 'api.example', Prefix: '/v2', Headers: 'x-a:1;x-b:2' } },
  ],
});

describe('compileDocument', () => {
  it('returns undefined for an unknown workload (404)', () => {
    expect(compileDocument({ view: baseView(), workload: { namespace: 'nope', service: 'x', plugin: 'mesh' }, options: optionsFor(baseView()) })).toBeUndefined();
  });

  it('knows a Service alone only under the default plugin id; other ids need a meshed pod or a ConfigMap', () => {
    const view = baseView();
    const of = (service: string, plugin: string) => compileDocument({ view, workload: { namespace: 'shop', service, plugin }, options: optionsFor(view) });
    expect(of('billing', 'mesh')).toBeDefined();
    expect(of('billing', 'junk')).toBeUndefined();
    view.pods.set('shop/billing-0', pod('shop', 'billing-0', 'billing', '', undefined, 'canary'));
    view.configs.set('shop/billing-tracer', { namespace: 'shop', name: 'billing-tracer', service: 'billing', plugin: 'tracer', text: '{}' });
    expect(of('billing', 'canary')).toBeDefined();
    expect(of('billing', 'tracer')).toBeDefined();
  });

  it('reads two ConfigMaps for one workload as an invalid config naming both, never picking one', () => {
    const view = baseView(split);
    view.configs.set('shop/a-first', { namespace: 'shop', name: 'a-first', service: 'web', plugin: 'mesh', text: '{}' });
    const doc = compile(view);
    expect(doc.status.state).toBe('invalid');
    expect(doc.status.source).toBe('defaults');
    expect(doc.status.errors).toEqual([{ path: '$', message: expect.stringContaining('2 ConfigMaps configure this workload (labels plugin_id=mesh, service_alias=web): a-first, config-web-mesh') }]);
    const lastGood = parsePluginConfig(split, 'shop');
    if (!lastGood.ok) throw new Error('split does not parse');
    expect(compile(view, web, lastGood.config).status).toMatchObject({ state: 'invalid', source: 'last-good' });
  });

  it('with no config, calls every other Service of its namespace except itself', () => {
    const doc = compile(baseView());
    expect(doc.status).toEqual({ state: 'ok', errors: [], source: 'defaults' });
    expect(doc.listeners.filter((l) => l.direction === 'outbound').map((l) => `${l.name} ${l.protocol}`)).toEqual([
      'outbound|billing.shop|8080 http',
      'outbound|orders.shop|8080 http',
      'outbound|redis.shop|6379 tcp',
    ]);
    expect(doc.base_services?.map((s) => `${s.depend_service_alias}:${s.port}`)).toEqual(['billing:8080', 'orders:8080', 'redis:6379']);
    expect(doc.base_ports).toEqual([{ service_alias: 'web', service_id: '', port: 8081, listen_port: 65301, protocol: 'http', options: null }]);
  });

  it('leaves out a Service with a UDP port, name and all, so its UDP port keeps its ClusterIP', () => {
    const view = baseView();
    view.services.set('shop/jaeger', service('shop', 'jaeger', [{ port: 5778, name: 'config' }, { port: 6831, name: 'compact', protocol: 'UDP' }]));
    view.services.set('shop/statsd', service('shop', 'statsd', [{ port: 8125, protocol: 'UDP' }]));
    const doc = compile(view);
    expect(doc.listeners.some((l) => l.service === 'jaeger.shop')).toBe(false);
    expect(doc.clusters.some((c) => c.service === 'jaeger.shop')).toBe(false);
    expect(doc.dns.records.filter((r) => r.name.startsWith('jaeger') || r.name.startsWith('statsd'))).toEqual([]);
    expect(doc.base_services?.map((s) => s.depend_service_alias)).not.toContain('jaeger');
    expect(doc.status.state).toBe('ok');
    expect(doc.status.errors.map((e) => e.path)).toEqual(['services["shop/jaeger"]', 'services["shop/statsd"]']);
  });

  it('takes a set appProtocol over the port name: https or tcp on a port named http stays tcp', () => {
    const view = baseView();
    view.services.set('shop/vault', service('shop', 'vault', [{ port: 8200, name: 'http-api', appProtocol: 'https' }]));
    view.services.set('shop/legacy', service('shop', 'legacy', [{ port: 9000, name: 'http', appProtocol: 'tcp' }]));
    view.services.set('shop/rpc', service('shop', 'rpc', [{ port: 9090, name: 'api', appProtocol: 'grpc' }]));
    const doc = compile(view);
    const protocols = Object.fromEntries(doc.listeners.filter((l) => l.direction === 'outbound').map((l) => [l.service, l.protocol]));
    expect(protocols).toMatchObject({ 'vault.shop': 'tcp', 'legacy.shop': 'tcp', 'rpc.shop': 'http', 'orders.shop': 'http' });
  });

  it('in a mesh file, an unset protocol leaves the name convention to decide, a set one decides', () => {
    const mesh = parseMeshFile(
      ['services:', '  - { name: a, namespace: shop, ports: [{ port: 8080, name: http }] }', '  - { name: b, namespace: shop, ports: [{ port: 8081, name: http, protocol: tcp }] }', '  - { name: web, namespace: shop, ports: [{ port: 9000 }] }'].join('\n'),
      'mesh.yaml',
    );
    const doc = compile(mesh.view);
    expect(doc.listeners.filter((l) => l.direction === 'outbound').map((l) => `${l.service} ${l.protocol}`)).toEqual(['a.shop http', 'b.shop tcp']);
  });

  it('leaves out a Service with internalTrafficPolicy Local: one document cannot pick each pod\'s node-local endpoints', () => {
    const view = baseView();
    view.services.set('shop/billing', service('shop', 'billing', [{ port: 8080, name: 'http' }], { nodeLocal: true }));
    const doc = compile(view);
    expect(doc.listeners.some((l) => l.service === 'billing.shop')).toBe(false);
    expect(doc.dns.records.some((r) => r.name.startsWith('billing'))).toBe(false);
    expect(doc.status.errors).toEqual([{ path: 'services["shop/billing"]', message: expect.stringContaining('internalTrafficPolicy is Local') }]);
  });

  it('says why a headless or ExternalName Service the plugin config names is left to cluster DNS', () => {
    const config = JSON.stringify({
      base_services: [
        { service_alias: 'web', depend_service_alias: 'db', port: 5432 },
        { service_alias: 'web', depend_service_alias: 'db', port: 5433 },
        { service_alias: 'web', depend_service_alias: 'payments', port: 443 },
        { service_alias: 'web', depend_service_alias: 'later', port: 80 },
        { service_alias: 'web', depend_service_alias: 'orders', port: 8080 },
      ],
    });
    const view = baseView(config);
    view.services.set('shop/db', service('shop', 'db', [{ port: 5432, name: 'pg' }, { port: 5433, name: 'pg2' }], { headless: true }));
    view.services.set('shop/payments', service('shop', 'payments', [{ port: 443, name: 'https' }], { type: 'ExternalName' }));
    const doc = compile(view);
    expect(doc.listeners.filter((l) => l.direction === 'outbound').map((l) => l.service)).toEqual(['orders.shop']);
    expect(doc.status.state).toBe('ok');
    // Once per Service; `later` does not exist yet, which is no problem.
    expect(doc.status.errors).toEqual([
      { path: 'services["shop/db"]', message: expect.stringContaining('headless') },
      { path: 'services["shop/payments"]', message: expect.stringContaining('ExternalName') },
    ]);
  });

  it('gives two dependencies on the same port separate VIPs', () => {
    const doc = compile(baseView());
    const [billing, orders] = doc.listeners.filter((l) => l.port === 8080 && l.direction === 'outbound');
    expect(billing.address).not.toBe(orders.address);
    expect(billing.address).toMatch(/^127\.128\./);
  });

  it('never takes a loopback endpoint for a pod by its address (one machine, one 127.0.0.1 for all)', () => {
    const view = viewOf({
      services: [service('demo', 'web', [{ port: 8080, name: 'http' }]), service('demo', 'orders', [{ port: 8080, name: 'http' }])],
      slices: [
        slice('demo', 'web-a', 'web', [{ name: 'http', port: 8080 }], [{ addresses: ['127.0.0.1'], podName: 'web-0' }]),
        slice('demo', 'orders-a', 'orders', [{ name: 'http', port: 8080 }], [{ addresses: ['127.0.0.1'] }]),
      ],
      pods: [{ ...pod('demo', 'web-0', 'web', '8080=65301', '127.0.0.1'), appBind: 'specific' }],
    });
    const doc = compile(view, { namespace: 'demo', service: 'orders', plugin: 'mesh' });
    const web = doc.clusters.find((c) => c.name === 'outbound|web.demo|8080')!;
    expect(web.endpoints).toMatchObject([{ address: '127.0.0.1', port: 65301, meshed: true, pod: 'web-0' }]);
    const self = compile(view, { namespace: 'demo', service: 'web', plugin: 'mesh' });
    const orders = self.clusters.find((c) => c.name === 'outbound|orders.demo|8080')!;
    expect(orders.endpoints).toEqual([{ address: '127.0.0.1', port: 8080, ready: true, serving: true, terminating: false, meshed: false, weight: 1 }]);
  });

  describe('same port: a VIP listener cannot share a port with a wildcard listener of the pod', () => {
    const view = (appBind?: string) =>
      viewOf({
        services: [
          service('demo', 'web', [{ port: 8080, name: 'http' }]),
          service('demo', 'orders', [{ port: 8080, name: 'http' }, { port: 9090, name: 'grpc' }]),
          service('demo', 'metrics', [{ port: 15090 }]),
          service('demo', 'echo', [{ port: 9000 }]),
          service('demo', 'side', [{ port: 65301 }]),
        ],
        pods: [{ ...pod('demo', 'web-0', 'web', '8080=65301'), ...(appBind !== undefined ? { appBind } : {}) }],
      });
    const records = (doc: ResourceDocument) => [...new Set(doc.dns.records.map((r) => r.name.split('.')[0]))];

    it('by default (app on 0.0.0.0) leaves out Services on the app, inbound or metrics ports, name and all', () => {
      const doc = compile(view(), { namespace: 'demo', service: 'web', plugin: 'mesh' });
      expect(doc.listeners.filter((l) => l.direction === 'outbound').map((l) => l.name)).toEqual(['outbound|echo.demo|9000']);
      // orders keeps no port at all (its 9090 would be meshed while 8080 reached the app itself).
      expect(records(doc)).toEqual(['echo']);
      expect(doc.status.state).toBe('ok');
      expect(doc.status.errors.map((e) => e.path)).toEqual(['services["demo/metrics"]', 'services["demo/orders"]', 'services["demo/side"]']);
      expect(doc.status.errors[1].message).toMatch(/^port 8080 is also bound on every address of this workload's pods \(an app or inbound port\): not meshed, calls go to its ClusterIP$/);
      expect(doc.base_services?.map((b) => b.depend_service_alias)).toEqual(['echo']);
    });

    it('with sidemesh.io/app-bind: specific, only the inbound and metrics ports are kept free', () => {
      const doc = compile(view('specific'), { namespace: 'demo', service: 'web', plugin: 'mesh' });
      expect(doc.listeners.filter((l) => l.direction === 'outbound').map((l) => l.name)).toEqual(['outbound|echo.demo|9000', 'outbound|orders.demo|8080', 'outbound|orders.demo|9090']);
      expect(doc.status.errors.map((e) => e.path)).toEqual(['services["demo/metrics"]', 'services["demo/side"]']);
    });

    it('counts the ports of every pod of the workload (a rollout changes the port map)', () => {
      const v = viewOf({
        services: [service('demo', 'web', [{ port: 9090 }]), service('demo', 'orders', [{ port: 8080 }]), service('demo', 'side', [{ port: 65302 }]), service('demo', 'echo', [{ port: 9000 }])],
        // The old pod maps only 9090; the new one also serves 8080, and its 9090 moved to 65302.
        pods: [pod('demo', 'web-a', 'web', '9090=65301'), pod('demo', 'web-b', 'web', '8080=65301,9090=65302')],
      });
      const doc = compile(v, { namespace: 'demo', service: 'web', plugin: 'mesh' });
      expect(doc.listeners.filter((l) => l.direction === 'outbound').map((l) => l.name)).toEqual(['outbound|echo.demo|9000']);
      expect(doc.status.errors.map((e) => e.path).filter((p) => p.startsWith('services'))).toEqual(['services["demo/orders"]', 'services["demo/side"]']);
    });

    it('an unknown app-bind value is reported and read as wildcard', () => {
      const doc = compile(view('loopback'), { namespace: 'demo', service: 'web', plugin: 'mesh' });
      expect(doc.status.errors.map((e) => e.path)).toContain('pods/web-0.annotations["sidemesh.io/app-bind"]');
      expect(records(doc)).toEqual(['echo']);
    });
  });

  it('rewrites meshed endpoints to the inbound listen port and keeps un-meshed ones, merging slices and keeping terminating endpoints', () => {
    const doc = compile(baseView());
    const orders = doc.clusters.find((c) => c.name === 'outbound|orders.shop|8080')!;
    expect(orders.endpoints).toEqual([
      { address: '198.18.0.2', port: 65301, ready: true, serving: true, terminating: false, meshed: true, weight: 1, pod: 'orders-0' },
      { address: '198.18.0.3', port: 9000, ready: false, serving: true, terminating: true, meshed: false, weight: 1, pod: 'orders-1' },
    ]);
    const billing = doc.clusters.find((c) => c.name === 'outbound|billing.shop|8080')!;
    expect(billing.endpoints.map((e) => `${e.address}:${e.port}:${e.meshed}`)).toEqual(['198.18.0.9:8080:false']);
  });

  it('of a dual-stack Service takes the IPv4 slices only (the VIP stands in for the IPv4 ClusterIP); IPv6 ones serve an IPv6-only Service', () => {
    const view = baseView();
    view.slices.set('shop/orders-v6', slice('shop', 'orders-v6', 'orders', [{ name: 'http', port: 9000 }], [{ addresses: ['fd00::2'], podName: 'orders-0' }], 'IPv6'));
    view.services.set('shop/v6', service('shop', 'v6', [{ port: 7000 }]));
    view.slices.set('shop/v6-a', slice('shop', 'v6-a', 'v6', [{ port: 7000 }], [{ addresses: ['fd00::9'] }], 'IPv6'));
    const doc = compile(view);
    expect(doc.clusters.find((c) => c.name === 'outbound|orders.shop|8080')!.endpoints.map((e) => e.address)).toEqual(['198.18.0.2', '198.18.0.3']);
    expect(doc.clusters.find((c) => c.name === 'outbound|v6.shop|7000')!.endpoints.map((e) => `${e.address}:${e.port}`)).toEqual(['fd00::9:7000']);
  });

  it('reads unset conditions as kube-proxy does: ready and serving true, terminating false', () => {
    const view = baseView();
    view.slices.set('shop/billing-a', slice('shop', 'billing-a', 'billing', [{ name: 'http', port: 8080 }], [{ addresses: ['198.18.0.9'] }, { addresses: ['198.18.0.10'], ready: false, terminating: true }]));
    const doc = compile(view);
    expect(doc.clusters.find((c) => c.name === 'outbound|billing.shop|8080')!.endpoints.map(({ address, ready, serving, terminating }) => ({ address, ready, serving, terminating }))).toEqual([
      { address: '198.18.0.10', ready: false, serving: true, terminating: true },
      { address: '198.18.0.9', ready: true, serving: true, terminating: false },
    ]);
  });

  it('rewrites an endpoint only to a listen port its sidecar serves: a pod whose map lost to the workload\'s is called directly', () => {
    // A rollout moves orders from 9000 to 9001 behind a named targetPort; both pods got 65301.
    const view = baseView();
    view.slices.set('shop/orders-new', slice('shop', 'orders-new', 'orders', [{ name: 'http', port: 9001 }], [{ addresses: ['198.18.0.4'], podName: 'orders-1b' }]));
    view.pods.set('shop/orders-1b', pod('shop', 'orders-1b', 'orders', '9001=65301', '198.18.0.4'));
    const doc = compile(view);
    expect(doc.clusters.find((c) => c.name === 'outbound|orders.shop|8080')!.endpoints.map((e) => `${e.pod} ${e.address}:${e.port} ${e.meshed}`)).toEqual([
      'orders-0 198.18.0.2:65301 true',
      'orders-1 198.18.0.3:9000 false',
      'orders-1b 198.18.0.4:9001 false',
    ]);
    const orders = compile(view, { namespace: 'shop', service: 'orders', plugin: 'mesh' });
    expect(orders.listeners.filter((l) => l.direction === 'inbound').map((l) => `${l.port}>${l.appPort}`)).toEqual(['65301>9000']);
    expect(orders.status.errors).toContainEqual({ path: 'pods/orders-1b.annotations["sidemesh.io/inbound-ports"]', message: expect.stringContaining('9001=65301 disagrees') });
  });

  it('builds the inbound listener from the pod annotation with the protocol of its own Service port', () => {
    const doc = compile(baseView());
    expect(doc.listeners.find((l) => l.direction === 'inbound')).toEqual({ name: 'inbound|8081', direction: 'inbound', address: '0.0.0.0', port: 65301, protocol: 'http', cluster: 'inbound|8081', appPort: 8081, service: 'web.shop' });
    expect(doc.clusters.find((c) => c.name === 'inbound|8081')!.endpoints).toEqual([{ address: '127.0.0.1', port: 8081, ready: true, serving: true, terminating: false, meshed: false, weight: 1 }]);
  });

  it('merges entries with equal Domains into one weighted route, orders more specific routes first, and ends with / to the own Service', () => {
    const doc = compile(baseView(split));
    expect(doc.status.source).toBe('config');
    expect(doc.listeners.filter((l) => l.direction === 'outbound').map((l) => l.name)).toEqual(['outbound|billing.shop|8080', 'outbound|orders.shop|8080']);
    const rc = doc.routes.find((r) => r.name === 'outbound|orders.shop|8080')!;
    expect(rc.virtualHosts.map((v) => v.name)).toEqual(['api.example', '*']);
    expect(rc.virtualHosts[0].routes).toEqual([
      { match: { prefix: '/v2', headers: [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '2' }] }, clusters: [{ cluster: 'outbound|billing.shop|8080', weight: 100 }] },
      { match: { prefix: '/', headers: [] }, clusters: [{ cluster: 'outbound|billing.shop|8080', weight: 10 }, { cluster: 'outbound|orders.shop|8080', weight: 90 }] },
    ]);
    expect(rc.virtualHosts[1].routes).toEqual([{ match: { prefix: '/', headers: [] }, clusters: [{ cluster: 'outbound|orders.shop|8080', weight: 100 }] }]);
    // The shared vhost is on billing's listener too (same port).
    expect(doc.routes.find((r) => r.name === 'outbound|billing.shop|8080')!.virtualHosts[0].name).toBe('api.example');
  });

  it('turns Domains into DNS records for the first Service in sorted order; Service names win', () => {
    const doc = compile(baseView(split));
    const records = new Map(doc.dns.records.map((r) => [r.name, r.address]));
    const billingVip = doc.listeners.find((l) => l.service === 'billing.shop')!.address;
    expect(records.get('api.example')).toBe(billingVip);
    expect(records.get('orders')).toBe(doc.listeners.find((l) => l.service === 'orders.shop')!.address);
    expect([...records.keys()].filter((n) => n.startsWith('orders'))).toEqual(['orders', 'orders.shop', 'orders.shop.svc', 'orders.shop.svc.cluster.local']);
    expect(doc.dns.searches).toEqual(['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local']);
  });

  it('serves an invalid config from the last good one, else from defaults, listing every problem', () => {
    const bad = JSON.stringify({ base_services: [{ service_alias: 'web', depend_service_alias: 'orders', port: 8080, options: { Weight: 'x', LBPolicy: 'fastest' } }] });
    const view = baseView(bad);
    const fromDefaults = compile(view);
    expect(fromDefaults.status.state).toBe('invalid');
    expect(fromDefaults.status.source).toBe('defaults');
    expect(fromDefaults.status.errors.map((e) => e.path)).toEqual(['$.base_services[0].options.LBPolicy', '$.base_services[0].options.Weight']);
    const good = compileDocument({ view: baseView(split), workload: web, options: optionsFor(view) })!;
    expect(good.status.state).toBe('ok');
    const lastGood = parsePluginConfig(split, 'shop');
    const fromLastGood = compile(view, web, lastGood.ok ? lastGood.config : undefined);
    expect(fromLastGood.status).toMatchObject({ state: 'invalid', source: 'last-good' });
    expect(fromLastGood.listeners.map((l) => l.name)).toEqual(good.listeners.map((l) => l.name));
  });

  it('is byte-identical for the same view built in a different order', () => {
    const a = baseView(split);
    const b = emptyView();
    for (const k of ['services', 'slices', 'pods', 'configs'] as const) {
      for (const [key, v] of [...(a[k] as Map<string, unknown>)].reverse()) (b[k] as Map<string, unknown>).set(key, v);
    }
    expect(JSON.stringify(compile(b))).toBe(JSON.stringify(compile(a)));
    expect(compile(b).version).toMatch(/^[0-9a-f]{16}$/);
  });

  it('changes the version when an endpoint changes', () => {
    const view = baseView();
    const before = compile(view).version;
    view.slices.get('shop/billing-a')!.endpoints.push({ addresses: ['198.18.0.10'] });
    expect(compile(view).version).not.toBe(before);
  });

  it('skips headless and ExternalName Services', () => {
    const view = baseView();
    view.services.set('shop/h', service('shop', 'h', [{ port: 1 }], { headless: true }));
    view.services.set('shop/e', service('shop', 'e', [{ port: 2 }], { type: 'ExternalName' }));
    expect(compile(view).listeners.some((l) => l.service === 'h.shop' || l.service === 'e.shop')).toBe(false);
  });

  it('produces documents that pass decodeDocument, including the example mesh file', () => {
    const mesh = parseMeshFile(readFileSync(join(import.meta.dirname, '../../examples/mesh.yaml'), 'utf8'), 'mesh.yaml');
    const docs = [
      compile(baseView()),
      compile(baseView(split)),
      compile(baseView('{not json')),
      compileDocument({ view: mesh.view, workload: { namespace: 'demo', service: 'web', plugin: 'mesh' }, options: optionsFor(mesh.view) })!,
    ];
    for (const d of docs) expect(() => decodeDocument(JSON.parse(JSON.stringify(d)))).not.toThrow();
    expect(docs[3].status.state).toBe('ok');
  });
});

import { describe, expect, it } from 'vitest';
import {
  objectKey,
  toEndpointSliceView,
  toMeshedPodView,
  toPluginConfigView,
  toServiceView,
} from '../../discover/kube-convert.ts';
import { slimConfigMap, slimPod } from '../../discover/kube-slim.ts';

const md = (extra: Record<string, unknown> = {}) => ({ namespace: 'shop', name: 'cart', ...extra });

describe('toServiceView', () => {
  it('converts ports with defaults, headless, type, labels and a normalised timestamp', () => {
    const v = toServiceView({
      metadata: md({ labels: { a: '1' }, annotations: { b: '2' }, creationTimestamp: new Date('2024-05-01T10:00:00.123Z') }),
      spec: { clusterIP: 'None', ports: [{ port: 80, appProtocol: 'http' }, { name: 'dns', port: 53, protocol: 'UDP' }] },
    });
    expect(v).toEqual({
      view: {
        namespace: 'shop',
        name: 'cart',
        creationTimestamp: '2024-05-01T10:00:00Z',
        type: 'ClusterIP',
        headless: true,
        ports: [
          { name: '', port: 80, protocol: 'TCP', appProtocol: 'http' },
          { name: 'dns', port: 53, protocol: 'UDP' },
        ],
        labels: { a: '1' },
        annotations: { b: '2' },
      },
    });
  });

  it('reads internalTrafficPolicy: Local as nodeLocal; Cluster or unset leaves it out', () => {
    expect(toServiceView({ metadata: md(), spec: { internalTrafficPolicy: 'Local' } })).toMatchObject({ view: { nodeLocal: true } });
    for (const spec of [{ internalTrafficPolicy: 'Cluster' }, {}]) expect((toServiceView({ metadata: md(), spec }) as { view: object }).view).not.toHaveProperty('nodeLocal');
  });

  it('reads a watch-event timestamp string the same as a list Date', () => {
    const fromWatch = toServiceView({ metadata: md({ creationTimestamp: '2024-05-01T10:00:00Z' }), spec: { type: 'NodePort', clusterIP: '10.96.0.1' } });
    expect(fromWatch).toMatchObject({ view: { creationTimestamp: '2024-05-01T10:00:00Z', type: 'NodePort', headless: false, ports: [] } });
  });

  it.each([
    ['no metadata', { spec: {} }],
    ['no namespace', { metadata: { name: 'x' }, spec: {} }],
    ['no spec', { metadata: md() }],
    ['port as text', { metadata: md(), spec: { ports: [{ port: '80' }] } }],
    ['port out of range', { metadata: md(), spec: { ports: [{ port: 70000 }] } }],
    ['bad protocol', { metadata: md(), spec: { ports: [{ port: 80, protocol: 'HTTP' }] } }],
    ['ports not a list', { metadata: md(), spec: { ports: {} } }],
    ['label not a string', { metadata: md({ labels: { a: 1 } }), spec: {} }],
    ['null', null],
    ['a string', 'Service'],
  ])('skips a malformed Service (%s) with a reason', (_why, obj) => {
    const v = toServiceView(obj);
    expect('skip' in v && typeof v.skip === 'string' && v.skip.length > 0).toBe(true);
  });
});

describe('toEndpointSliceView', () => {
  const slice = (endpoints: unknown[], extra: Record<string, unknown> = {}) => ({
    metadata: md({ name: 'cart-x1', labels: { 'kubernetes.io/service-name': 'cart' } }),
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints,
    ...extra,
  });

  it('keeps conditions as given: undefined stays undefined, false stays false', () => {
    const v = toEndpointSliceView(
      slice([
        { addresses: ['198.18.0.1'] },
        { addresses: ['198.18.0.2'], conditions: { ready: false, serving: true, terminating: true }, targetRef: { kind: 'Pod', name: 'cart-2' }, zone: 'z1' },
        { addresses: ['198.18.0.3'], conditions: { ready: null } },
      ]),
    );
    expect(v).toEqual({
      view: {
        namespace: 'shop',
        name: 'cart-x1',
        serviceName: 'cart',
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: [
          { addresses: ['198.18.0.1'] },
          { addresses: ['198.18.0.2'], ready: false, serving: true, terminating: true, podName: 'cart-2', zone: 'z1' },
          { addresses: ['198.18.0.3'] },
        ],
      },
    });
    const first = (v as { view: { endpoints: object[] } }).view.endpoints[0];
    expect('ready' in first).toBe(false);
  });

  it('treats null endpoints and ports as empty, and leaves out a port without a number', () => {
    const v = toEndpointSliceView(slice(null as unknown as unknown[], { ports: [{ name: 'all' }, { port: 9090 }] }));
    expect(v).toMatchObject({ view: { endpoints: [], ports: [{ name: '', port: 9090, protocol: 'TCP' }] } });
    expect(toEndpointSliceView(slice([], { ports: null }))).toMatchObject({ view: { ports: [] } });
  });

  it('names a non-pod targetRef nowhere', () => {
    const v = toEndpointSliceView(slice([{ addresses: ['198.18.0.1'], targetRef: { kind: 'Node', name: 'n1' } }]));
    expect(v).toMatchObject({ view: { endpoints: [{ addresses: ['198.18.0.1'] }] } });
    expect((v as { view: { endpoints: object[] } }).view.endpoints[0]).not.toHaveProperty('podName');
  });

  it.each([
    ['bad addressType', slice([], { addressType: 'IPv5' })],
    ['condition not a boolean', slice([{ addresses: ['198.18.0.1'], conditions: { ready: 'true' } }])],
    ['address not a string', slice([{ addresses: [1] }])],
    ['endpoint not an object', slice(['198.18.0.1'])],
  ])('skips a malformed slice (%s)', (_why, obj) => {
    expect(toEndpointSliceView(obj)).toHaveProperty('skip');
  });

  it('reads a slice without the service-name label as detached (belongs to no Service), not as malformed', () => {
    const v = toEndpointSliceView({ ...slice([]), metadata: md() });
    expect(v).not.toHaveProperty('skip');
    expect(v).toEqual({ detached: expect.stringContaining('kubernetes.io/service-name') });
  });
});

describe('toMeshedPodView: identity precedence and plugin', () => {
  const pod = (labels: Record<string, string>, annotations: Record<string, string>, status: unknown = { podIP: '198.18.0.7' }) => ({
    metadata: md({ name: 'cart-1', labels, annotations }),
    status,
  });

  it('prefers annotation sidemesh.io/service, then app.kubernetes.io/name, then app', () => {
    const all = { 'app.kubernetes.io/name': 'by-name', app: 'by-app' };
    expect(toMeshedPodView(pod(all, { 'sidemesh.io/service': 'by-annotation' }))).toMatchObject({ view: { service: 'by-annotation' } });
    expect(toMeshedPodView(pod(all, {}))).toMatchObject({ view: { service: 'by-name' } });
    expect(toMeshedPodView(pod({ app: 'by-app' }, {}))).toMatchObject({ view: { service: 'by-app' } });
    expect(toMeshedPodView(pod({ app: 'by-app' }, { 'sidemesh.io/service': '' }))).toMatchObject({ view: { service: 'by-app' } });
    const none = toMeshedPodView(pod({}, {}));
    expect(none).toEqual({ view: { namespace: 'shop', name: 'cart-1', ip: '198.18.0.7', plugin: 'mesh', inboundPorts: '' } });
  });

  it('reads the plugin (default mesh) and the raw inbound ports, and a pod without an IP yet', () => {
    const v = toMeshedPodView(pod({ app: 'a' }, { 'sidemesh.io/plugin': 'canary', 'sidemesh.io/inbound-ports': '8080=65301, junk' }, {}));
    expect(v).toEqual({ view: { namespace: 'shop', name: 'cart-1', service: 'a', plugin: 'canary', inboundPorts: '8080=65301, junk' } });
    expect(toMeshedPodView({ metadata: md() })).toMatchObject({ view: { plugin: 'mesh' } });
  });

  it('slimPod keeps only what the view reads, and converts the same', () => {
    const full = {
      metadata: md({ name: 'cart-1', resourceVersion: '9', uid: 'u', labels: { app: 'a', big: 'x' }, annotations: { 'sidemesh.io/plugin': 'p', 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(1000) }, managedFields: [{}] }),
      spec: { containers: [{ name: 'c', image: 'i', env: [] }] },
      status: { podIP: '198.18.0.7', conditions: [] },
    };
    const slim = slimPod(full) as Record<string, any>;
    expect(slim).toEqual({
      metadata: { namespace: 'shop', name: 'cart-1', uid: 'u', resourceVersion: '9', labels: { app: 'a' }, annotations: { 'sidemesh.io/plugin': 'p' } },
      status: { podIP: '198.18.0.7' },
    });
    expect(toMeshedPodView(slim)).toEqual(toMeshedPodView(full));
  });
});

describe('toPluginConfigView', () => {
  const cm = (labels: Record<string, string>, data: unknown) => ({ metadata: md({ name: 'cart-mesh', labels }), data });

  it("reads Rainbond's labels and data key; a missing key is undefined", () => {
    expect(toPluginConfigView(cm({ plugin_id: 'mesh', service_alias: 'cart' }, { 'plugin-config': '{}', other: 'x' }))).toEqual({
      view: { namespace: 'shop', name: 'cart-mesh', service: 'cart', plugin: 'mesh', text: '{}' },
    });
    expect(toPluginConfigView(cm({ plugin_id: 'mesh', service_alias: 'cart' }, undefined))).toMatchObject({ view: { text: undefined } });
  });

  it('skips a ConfigMap without service_alias or with non-string data', () => {
    expect(toPluginConfigView(cm({ plugin_id: 'mesh' }, {}))).toHaveProperty('skip');
    expect(toPluginConfigView(cm({ plugin_id: 'mesh', service_alias: 'cart' }, { 'plugin-config': 5 }))).toHaveProperty('skip');
  });

  it('slimConfigMap keeps the two labels and the one key', () => {
    const full = cm({ plugin_id: 'mesh', service_alias: 'cart', x: 'y' }, { 'plugin-config': '{}', other: 'big' });
    expect(slimConfigMap(full)).toEqual({ metadata: { namespace: 'shop', name: 'cart-mesh', uid: undefined, resourceVersion: undefined, labels: { plugin_id: 'mesh', service_alias: 'cart' } }, data: { 'plugin-config': '{}' } });
  });
});

describe('objectKey', () => {
  it('gives namespace/name or undefined', () => {
    expect(objectKey({ metadata: { namespace: 'a', name: 'b' } })).toEqual({ namespace: 'a', name: 'b', key: 'a/b' });
    expect(objectKey({ metadata: { name: 'b' } })).toBeUndefined();
    expect(objectKey(undefined)).toBeUndefined();
  });
});

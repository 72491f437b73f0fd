import { describe, expect, it } from 'vitest';
import { pickWorkload } from '../../cli/mesh-workload.ts';
import { compileDocument } from '../../discover/compile.ts';
import { parseMeshFile } from '../../discover/mesh-file.ts';

const { view } = parseMeshFile(
  `
services:
  - { name: web, namespace: demo, ports: [{ port: 8080, protocol: http }] }
  - { name: orders, namespace: demo, ports: [{ port: 8080, protocol: http }] }
workloads:
  - { namespace: demo, service: web, plugin: mesh, pods: [{ name: web-0 }] }
plugins:
  - { namespace: shop, service: cart, plugin: custom, config: { base_services: [] } }
`,
  'mesh.yaml',
);

describe('pickWorkload (sidemesh up / dns --file --workload)', () => {
  it('defaults to the first workload of the file', () => {
    expect(pickWorkload(view, undefined)).toEqual({ namespace: 'demo', service: 'web', plugin: 'mesh' });
  });

  it('accepts what discover serves: a meshed pod, a plugin config (with its plugin), a Service', () => {
    for (const [wanted, ref] of [
      ['demo/web', { namespace: 'demo', service: 'web', plugin: 'mesh' }],
      ['shop/cart', { namespace: 'shop', service: 'cart', plugin: 'custom' }],
      ['demo/orders', { namespace: 'demo', service: 'orders', plugin: 'mesh' }],
    ] as const) {
      expect(pickWorkload(view, wanted)).toEqual(ref);
      // The same rule as discover's: the workload has a document, so the sidecar gets no 404.
      expect(compileDocument({ view, workload: ref, options: { clusterDomain: 'cluster.local', dnsUpstreams: [], dnsTtlSeconds: 5, vips: new Map() } })).toBeDefined();
    }
  });

  it('refuses a workload the file does not define, naming the ones it does', () => {
    expect(() => pickWorkload(view, 'demo/wbe')).toThrow('--workload demo/wbe: the mesh file has no workload, plugin config or Service demo/wbe (its workloads: demo/web)');
    expect(() => pickWorkload(view, 'web')).toThrow(/no workload, plugin config or Service default\/web/);
  });

  it('refuses a malformed --workload', () => {
    for (const bad of ['demo/', '/web', 'a/b/c', '']) expect(() => pickWorkload(view, bad), bad).toThrow(/must be ns\/service or service/);
  });
});

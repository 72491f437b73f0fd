import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MeshFileError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/log.ts';
import { FileSource } from '../../discover/file-source.ts';
import { parseMeshFile } from '../../discover/mesh-file.ts';
import type { ViewChange } from '../../discover/model.ts';

const good = `
services:
  - name: orders
    namespace: shop
    ports: [{ port: 8080, protocol: http }]
    endpoints: [{ address: 127.0.0.1, port: 18081 }, { address: 127.0.0.1, port: 18082 }]
workloads:
  - { namespace: shop, service: web, pods: [{ name: web-0, ip: 127.0.0.1 }], inboundPorts: { 8080: 65301 } }
plugins:
  - { namespace: shop, service: web, config: { base_services: [] } }
`;

let dir: string | undefined;
let source: FileSource | undefined;
afterEach(async () => {
  await source?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  source = undefined;
  dir = undefined;
});

describe('mesh file', () => {
  it('converts services, workloads and plugins into the cluster view', () => {
    const { view } = parseMeshFile(good, 'm.yaml');
    expect(view.services.get('shop/orders')!.ports).toEqual([{ name: '', port: 8080, protocol: 'TCP', appProtocol: 'http' }]);
    // Replicas on one host listen on different ports: one slice per port set.
    expect([...view.slices.values()].map((s) => `${s.name}:${s.ports[0].port}:${s.endpoints.length}`)).toEqual(['orders-0:18081:1', 'orders-1:18082:1']);
    expect(view.pods.get('shop/web-0')).toMatchObject({ service: 'web', plugin: 'mesh', inboundPorts: '8080=65301' });
    expect(view.configs.get('shop/config-web-mesh')!.text).toBe('{"base_services":[]}');
  });

  it('lists every problem with its path', () => {
    const bad = `
services:
  - name: Orders
    ports: [{ port: 70000 }, { port: 80 }]
    endpoints: [{ address: nowhere }]
workloads:
  - { service: web, pods: [], inboundPorts: "8080=x" }
extra: 1
`;
    try {
      parseMeshFile(bad, 'm.yaml');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(MeshFileError);
      const problems = (err as MeshFileError).problems.map((p) => p.split(':')[0]);
      expect(problems).toEqual(
        expect.arrayContaining(['extra', 'services[0].name', 'services[0].ports[0].port', 'services[0].ports[1].name', 'services[0].endpoints[0].address', 'workloads[0].inboundPorts', 'workloads[0].pods']),
      );
    }
  });

  it('keeps the last good view on a bad edit, and applies the next good one', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-'));
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, good);
    const lines: string[] = [];
    source = new FileSource({ file, logger: createLogger({}, { write: (l) => lines.push(l) }), pollMs: 60_000 });
    const changes: ViewChange[] = [];
    source.onChange((c) => changes.push(c));
    await source.start();
    expect(source.synced()).toBe(true);

    writeFileSync(file, 'services: [ {name: ');
    await source.reload();
    expect(source.view.services.has('shop/orders')).toBe(true);
    expect(changes).toEqual([]);
    expect(source.states()[0].lastError).toMatch(/not YAML/);
    expect(lines.filter((l) => l.includes('mesh file rejected'))).toHaveLength(1);

    writeFileSync(file, good.replace('orders', 'payments'));
    await source.reload();
    expect(source.view.services.has('shop/payments')).toBe(true);
    expect(source.view.services.has('shop/orders')).toBe(false);
    expect(changes).toEqual([{ kind: 'reset' }]);
    expect(source.states()[0].lastError).toBeUndefined();
  });

  it('notices an edit through the file watch', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-'));
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, good);
    source = new FileSource({ file, logger: createLogger({}, { level: 'silent' }), pollMs: 200, debounceMs: 10 });
    const changed = new Promise<ViewChange>((resolve) => source!.onChange(resolve));
    await source.start();
    writeFileSync(file, good.replace('18082', '18083'));
    expect(await changed).toEqual({ kind: 'reset' });
  });

  it('fails start-up on an unreadable file', async () => {
    source = new FileSource({ file: '/nonexistent/mesh.yaml', logger: createLogger({}, { level: 'silent' }) });
    await expect(source.start()).rejects.toBeInstanceOf(MeshFileError);
  });
});

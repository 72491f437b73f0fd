import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../discover/kube-config.ts';
import { createKubeSource } from '../../discover/kube-source.ts';
import { silentLogger } from '../../lib/log.ts';
import { fakeKubeConfig, writeFakeKubeconfig } from '../fake-kube/kubeconfig.ts';

const dir = mkdtempSync(join(tmpdir(), 'sidemesh-kubeconfig-'));
const nothing = () => false;

describe('kubeconfig lookup', () => {
  it('uses a given KubeConfig first', () => {
    const kc = fakeKubeConfig('http://127.0.0.1:1');
    expect(loadKubeConfig({ kubeConfig: kc, kubeconfigPath: '/nope' })).toBe(kc);
  });

  it('loads kubeconfigPath, then KUBECONFIG (first entry), then ~/.kube/config', () => {
    const file = join(dir, 'a.yaml');
    writeFakeKubeconfig('http://127.0.0.1:7001', file);
    expect(loadKubeConfig({ kubeconfigPath: file, env: {} }).getCurrentCluster()?.server).toBe('http://127.0.0.1:7001');
    expect(loadKubeConfig({ env: { KUBECONFIG: `${file}:/other` } }).getCurrentCluster()?.server).toBe('http://127.0.0.1:7001');
    const home = mkdtempSync(join(tmpdir(), 'sidemesh-home-'));
    mkdirSync(join(home, '.kube'));
    writeFakeKubeconfig('http://127.0.0.1:7002', join(home, '.kube', 'config'));
    expect(loadKubeConfig({ env: { HOME: home } }).getCurrentCluster()?.server).toBe('http://127.0.0.1:7002');
  });

  it('fails fast with SIDEMESH_KUBE_CONFIG_MISSING when nothing is found (never falls back to localhost:8080)', () => {
    expect(() => loadKubeConfig({ env: { HOME: dir }, exists: nothing })).toThrow(expect.objectContaining({ code: 'SIDEMESH_KUBE_CONFIG_MISSING' }));
    expect(() => loadKubeConfig({ kubeconfigPath: join(dir, 'missing.yaml'), env: {} })).toThrow(expect.objectContaining({ code: 'SIDEMESH_KUBE_CONFIG_MISSING' }));
  });

  it('rejects an unreadable kubeconfig with SIDEMESH_KUBE_CONFIG_INVALID', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'clusters: [: not yaml');
    expect(() => loadKubeConfig({ kubeconfigPath: bad, env: {} })).toThrow(expect.objectContaining({ code: 'SIDEMESH_KUBE_CONFIG_INVALID' }));
    const noCluster = join(dir, 'empty.yaml');
    writeFileSync(noCluster, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    expect(() => loadKubeConfig({ kubeconfigPath: noCluster, env: {} })).toThrow(expect.objectContaining({ code: 'SIDEMESH_KUBE_CONFIG_INVALID' }));
  });

  it('the source start() rejects with the same error', async () => {
    const source = createKubeSource({ logger: silentLogger, env: { HOME: dir } });
    await expect(source.start()).rejects.toMatchObject({ code: 'SIDEMESH_KUBE_CONFIG_MISSING' });
    expect(source.synced()).toBe(false);
    await source.close();
  });
});

import { describe, expect, it } from 'vitest';
import { flagsToEnv, loadAdmissionConfig } from '../../admission/config.ts';
import { ConfigError } from '../../lib/errors.ts';

describe('admission config', () => {
  it('has documented defaults and is frozen', () => {
    const c = loadAdmissionConfig({}, '1.2.3');
    expect(c.port).toBe(8443);
    expect(c.metricsPort).toBe(9090);
    expect(c.selfSigned).toBe(false);
    expect(c.caBundleSync).toBe(false);
    expect(c.inject.sidecarImage).toBe('sidemesh/sidecar:1.2.3');
    expect(c.inject.resources).toEqual({ cpuRequest: '10m', memoryRequest: '32Mi', cpuLimit: undefined, memoryLimit: '128Mi' });
    expect(c.inject.discoverBaseUrl).toBe('http://sidemesh-discover.sidemesh-system.svc:6100');
    expect(c.inject.excludedNamespaces).toEqual(['kube-system', 'sidemesh-system']);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.inject)).toBe(true);
  });

  it('takes flags as env names, the flag winning', () => {
    const env = { PORT: '1', ...flagsToEnv(['--port', '9443', '--self-signed', '--proxy-memory-limit=none', '--pod-namespace', 'mesh']) };
    const c = loadAdmissionConfig(env, '0');
    expect(c.port).toBe(9443);
    expect(c.selfSigned).toBe(true);
    expect(c.caBundleSync).toBe(true);
    expect(c.inject.resources.memoryLimit).toBeUndefined();
    expect(c.inject.excludedNamespaces).toContain('mesh');
    expect(c.inject.discoverBaseUrl).toBe('http://sidemesh-discover.mesh.svc:6100');
  });

  it('lists every problem at once', () => {
    let err: unknown;
    try {
      loadAdmissionConfig({ PORT: 'x', CLUSTER_DNS_IP: 'dns', PROXY_CPU_REQUEST: 'lots', CA_BUNDLE_SYNC: 'true', LOG_LEVEL: 'loud' }, '0');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toHaveLength(5);
    expect(() => flagsToEnv(['--nope', '1', 'stray', '--port'])).toThrow(/unknown flag --nope[\s\S]*stray[\s\S]*--port needs a value/);
  });
});

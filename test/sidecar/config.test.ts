import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.ts';
import { loadSidecarConfig } from '../../sidecar/config.ts';
import { causeOf, classifyUpstreamError, faultStatus } from '../../sidecar/proxy-error.ts';
import { RequestTimeoutError, UpstreamOverflowError } from '../../sidecar/errors.ts';

describe('loadSidecarConfig', () => {
  it('applies documented defaults and takes the workload from DISCOVER_URL', () => {
    const c = loadSidecarConfig({ DISCOVER_URL: 'http://discover.sidemesh:6100/v1/resources/shop/orders/mesh' });
    expect(c).toMatchObject({
      namespace: 'shop',
      service: 'orders',
      plugin: 'mesh',
      admin: { host: '127.0.0.1', port: 15000 },
      metrics: { host: '0.0.0.0', port: 15090 },
      dns: { host: '127.0.0.1', port: 53 },
      dnsEnabled: true,
      cacheDir: '/var/run/sidemesh',
      drainGraceMs: 20_000,
      pollWaitMs: 30_000,
      logLevel: 'info',
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('lists every problem at once', () => {
    try {
      loadSidecarConfig({ SIDEMESH_ADMIN_ADDR: 'nope', SIDEMESH_DRAIN_GRACE_PERIOD: 'soon', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const name of ['DISCOVER_URL', 'SIDEMESH_ADMIN_ADDR', 'SIDEMESH_DRAIN_GRACE_PERIOD', 'LOG_LEVEL']) expect(problems).toContain(name);
    }
  });

  it('takes port 0 in listen addresses (the OS picks one) and refuses ports out of range', () => {
    const url = 'http://discover.sidemesh:6100/v1/resources/shop/orders/mesh';
    const c = loadSidecarConfig({ DISCOVER_URL: url, SIDEMESH_ADMIN_ADDR: '127.0.0.1:0', SIDEMESH_METRICS_ADDR: '[::1]:0', SIDEMESH_DNS_ADDR: '127.0.0.1:5353' });
    expect(c).toMatchObject({ admin: { host: '127.0.0.1', port: 0 }, metrics: { host: '::1', port: 0 }, dns: { host: '127.0.0.1', port: 5353 } });
    for (const bad of ['127.0.0.1:65536', '127.0.0.1:-1', ':0', 'localhost:0']) {
      expect(() => loadSidecarConfig({ DISCOVER_URL: url, SIDEMESH_ADMIN_ADDR: bad })).toThrow(/SIDEMESH_ADMIN_ADDR=.* must be ip:port/);
    }
  });

  it('takes LOG_LEVEL in any case, and still refuses an unknown level', () => {
    const url = 'http://discover.sidemesh:6100/v1/resources/shop/orders/mesh';
    expect(loadSidecarConfig({ DISCOVER_URL: url, LOG_LEVEL: 'INFO' }).logLevel).toBe('info');
    expect(loadSidecarConfig({ DISCOVER_URL: url, LOG_LEVEL: 'Warn' }).logLevel).toBe('warn');
    expect(() => loadSidecarConfig({ DISCOVER_URL: url, LOG_LEVEL: 'TRACE' })).toThrow(/LOG_LEVEL="TRACE" must be one of debug, info, warn, error, silent/);
  });

  it('needs NAMESPACE and SERVICE_ALIAS when the URL does not carry them', () => {
    expect(() => loadSidecarConfig({ DISCOVER_URL: 'http://d:6100/custom' })).toThrow(/NAMESPACE/);
    expect(loadSidecarConfig({ DISCOVER_URL: 'http://d:6100/custom', NAMESPACE: 'a', SERVICE_ALIAS: 'b' }).service).toBe('b');
  });
});

describe('proxy-error mapping', () => {
  it('classifies by class and code, and maps causes to statuses', () => {
    expect(classifyUpstreamError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('connect');
    expect(classifyUpstreamError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }))).toBe('reset');
    expect(classifyUpstreamError(new UpstreamOverflowError('c'))).toBe('overflow');
    expect(classifyUpstreamError(new RequestTimeoutError(1))).toBe('timeout');
    expect(causeOf('connect', 'inbound')).toBe('app_unavailable');
    expect(causeOf('connect', 'outbound')).toBe('connect_failure');
    expect([faultStatus('no_route'), faultStatus('overflow'), faultStatus('upstream_reset'), faultStatus('timeout'), faultStatus('bad_request')]).toEqual([404, 503, 502, 504, 400]);
  });
});

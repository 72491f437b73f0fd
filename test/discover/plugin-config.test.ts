import { describe, expect, it } from 'vitest';
import { parsePluginConfig } from '../../discover/plugin-config.ts';
import { DEFAULT_POLICY } from '../../discover/plugin-options.ts';

const entry = (options: Record<string, unknown> | null, extra: Record<string, unknown> = {}) => ({ service_alias: 'web', depend_service_alias: 'orders', port: 8080, protocol: 'http', options, ...extra });
const parse = (spec: unknown) => parsePluginConfig(JSON.stringify(spec), 'shop');

describe('parsePluginConfig', () => {
  it('reports malformed JSON', () => {
    const r = parsePluginConfig('{"base_services": [', 'shop');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0].path).toBe('$');
  });

  it('lists every shape problem, not only the first', () => {
    const r = parse({ base_services: [{ depend_service_alias: 'a' }, { depend_service_alias: 'b', port: 'x' }] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path)).toEqual(expect.arrayContaining(['$.base_services[0].service_alias', '$.base_services[1].service_alias']));
  });

  it('lists every bad option value with its path', () => {
    const r = parse({
      base_services: [entry({ Weight: 'ten', MaxConnections: 0, IntervalMS: '10', LBPolicy: 'fastest', RetryOn: '5xx,sometimes', Headers: 'novalue', Prefix: 'api', HashOn: 'header:x' })],
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems.map((p) => p.path.replace('$.base_services[0].options.', '')).sort()).toEqual(
        ['HashOn', 'Headers', 'IntervalMS', 'LBPolicy', 'MaxConnections', 'Prefix', 'RetryOn', 'Weight'].sort(),
      );
    }
  });

  it('accepts strings or numbers, honours 0 where meaningful, keeps unknown keys', () => {
    const r = parse({
      base_services: [entry({ ConsecutiveErrors: 0, MaxEjectionPercent: '0', Retries: '0', HealthyPanicThreshold: 0, MaxPendingRequests: '0', ConnectionTimeout: 250, IntervalMS: '30000', TCPIdleTimeout: '0', PROXY: 'YES' })],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const p = r.config.services[0].options.policy;
    expect(p.outlier).toEqual({ consecutiveErrors: 0, intervalMs: 30000, baseEjectionTimeMs: 30000, maxEjectionPercent: 0 });
    expect(p.retry.attempts).toBe(0);
    expect(p.healthyPanicThreshold).toBe(0);
    expect(p.circuitBreaker.maxPendingRequests).toBe(0);
    expect(p.connectTimeoutMs).toBe(250);
    expect(p.idleTimeoutMs).toBe(0);
    expect(r.config.spec.base_services![0].options).toMatchObject({ PROXY: 'YES' });
  });

  it('counts every Headers pair, matched exactly, and parses the new keys', () => {
    const r = parse({ base_services: [entry({ Headers: 'X-A:1; x-b : two:parts ;has_header:no', Domains: 'Api.Example:80,*.shop.example', LBPolicy: 'ring_hash', HashOn: 'cookie:session', RetryStatuses: '503,429', RequestTimeoutMS: '1500' })] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const o = r.config.services[0].options;
    expect(o.route.headers).toEqual([{ name: 'x-a', value: '1' }, { name: 'x-b', value: 'two:parts' }]);
    expect(o.route.domains).toEqual(['*.shop.example', 'api.example']);
    expect(o.policy.hashOn).toEqual({ kind: 'cookie', name: 'session' });
    expect(o.policy.retry.on).toContain('retriable-status-codes');
    expect(o.policy.retry.statuses).toEqual([429, 503]);
    expect(o.policy.requestTimeoutMs).toBe(1500);
  });

  it('uses the documented defaults for null options', () => {
    const r = parse({ base_services: [entry(null)] });
    expect(r.ok && r.config.services[0].options.policy).toEqual(DEFAULT_POLICY);
  });

  it('rejects a route whose weights are all 0, and cluster options on a second entry for the same port', () => {
    const r = parse({ base_services: [entry({ Weight: 0 }), entry({ Prefix: '/x', MaxConnections: '5' })] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path)).toEqual(['$.base_services[0].options.Weight', '$.base_services[1].options.MaxConnections']);
  });

  it('resolves name.namespace dependencies and rejects malformed ones', () => {
    const ok = parse({ base_services: [entry(null, { depend_service_alias: 'pay.billing' })] });
    expect(ok.ok && [ok.config.services[0].name, ok.config.services[0].namespace]).toEqual(['pay', 'billing']);
    const bad = parse({ base_services: [entry(null, { depend_service_alias: 'Bad_Name' })] });
    expect(bad.ok).toBe(false);
  });
});

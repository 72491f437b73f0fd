import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.ts';
import { loadDiscoverConfig, resolvConfUpstreams } from '../../discover/config.ts';

describe('loadDiscoverConfig', () => {
  it('has documented defaults, with upstreams from resolv.conf', () => {
    const c = loadDiscoverConfig({}, () => 'search x\nnameserver 10.96.0.10\nnameserver fd00::a\n');
    expect(c).toMatchObject({ port: 6100, host: '0.0.0.0', clusterDomain: 'cluster.local', dnsTtlSeconds: 5, maxWaitMs: 60_000, debounceMs: 10, logLevel: 'info' });
    expect(c.dnsUpstreams).toEqual(['10.96.0.10:53', '[fd00::a]:53']);
    expect(c.vipCidr.text).toBe('127.128.0.0/16');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('lists every bad variable at once', () => {
    try {
      loadDiscoverConfig({ DISCOVER_PORT: 'x', VIP_CIDR: '10.0.0.1/8', DNS_UPSTREAMS: 'dns.example', MAX_WAIT: 'soon', LOG_LEVEL: 'loud' }, () => '');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toHaveLength(5);
    }
  });

  it('refuses at start-up a VIP_CIDR outside 127.0.0.0/8, saying why', () => {
    expect(() => loadDiscoverConfig({ VIP_CIDR: '10.96.0.0/16' }, () => '')).toThrow(ConfigError);
    expect(() => loadDiscoverConfig({ VIP_CIDR: '10.96.0.0/16' }, () => '')).toThrow(/VIP_CIDR: "10\.96\.0\.0\/16" is outside 127\.0\.0\.0\/8/);
    expect(loadDiscoverConfig({ VIP_CIDR: '127.200.0.0/16' }, () => '').vipCidr.text).toBe('127.200.0.0/16');
  });

  it('reads only nameserver lines with IPs', () => {
    expect(resolvConfUpstreams('# c\nnameserver bogus\nnameserver 1.1.1.1')).toEqual(['1.1.1.1:53']);
  });
});

import { describe, expect, it } from 'vitest';
import { decodeDocument, parseHostPort } from '../../lib/contract-decoder.ts';
import { DEFAULT_POLICY } from '../../discover/plugin-options.ts';
import { ContractError } from '../../lib/errors.ts';

// discover's own defaults: what a real document carries, so they must decode too.
const policy = DEFAULT_POLICY;

function doc(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    base_ports: null,
    base_services: null,
    base_normal: { options: null },
    version: 'v1',
    workload: { namespace: 'shop', service: 'web', plugin: 'mesh' },
    status: { state: 'ok', errors: [], source: 'defaults' },
    listeners: [{ name: 'outbound|orders.shop|8080', direction: 'outbound', address: '127.128.0.7', port: 8080, protocol: 'tcp', cluster: 'outbound|orders.shop|8080', service: 'orders.shop' }],
    routes: [],
    clusters: [{ name: 'outbound|orders.shop|8080', direction: 'outbound', service: 'orders.shop', port: 8080, protocol: 'tcp', policy, endpoints: [{ address: '198.18.0.2', port: 65301, ready: true, serving: true, terminating: false, meshed: true, weight: 1 }] }],
    dns: { clusterDomain: 'cluster.local', searches: [], ttlSeconds: 5, upstreams: ['198.18.0.1:53'], records: [{ name: 'Orders.shop', address: '127.128.0.7' }] },
    ...over,
  };
}

function rejection(value: unknown): ContractError {
  try {
    decodeDocument(value);
  } catch (err) {
    if (err instanceof ContractError) return err;
    throw err;
  }
  throw new Error('decoded a document that should have been rejected');
}

describe('decodeDocument', () => {
  it('accepts a valid document, lower-casing DNS names', () => {
    const d = decodeDocument(doc());
    expect(d.dns.records[0].name).toBe('orders.shop');
    expect(d.clusters[0].endpoints[0].meshed).toBe(true);
  });

  it.each([
    ['a listener naming an unknown cluster', { listeners: [{ ...(doc().listeners as object[])[0], cluster: 'nope' }] }, '$.listeners[0].cluster'],
    ['a listener with both route and cluster', { listeners: [{ ...(doc().listeners as object[])[0], route: 'r' }] }, '$.listeners[0]'],
    ['two listeners on one address:port', { listeners: [...(doc().listeners as object[]), { ...(doc().listeners as object[])[0], name: 'other' }] }, '$.listeners[1]'],
    ['an endpoint address that is not an IP', { clusters: [{ ...(doc().clusters as Record<string, unknown>[])[0], endpoints: [{ address: 'orders', port: 1, ready: true, serving: true, terminating: false, meshed: false, weight: 1 }] }] }, '$.clusters[0].endpoints[0].address'],
    ['an unknown LB policy', { clusters: [{ ...(doc().clusters as Record<string, unknown>[])[0], policy: { ...policy, lb: 'fastest' } }] }, '$.clusters[0].policy.lb'],
    ['an upstream that is not ip:port', { dns: { ...(doc().dns as object), upstreams: ['dns.google:53'] } }, '$.dns.upstreams[0]'],
    ['an upstream on port 0', { dns: { ...(doc().dns as object), upstreams: ['198.18.0.1:0'] } }, '$.dns.upstreams[0]'],
    ['a missing status', { status: undefined }, '$.status'],
  ])('rejects %s with the JSON path', (_what, over, path) => {
    const err = rejection(doc(over));
    expect(err.code).toBe('SIDEMESH_CONTRACT_INVALID');
    expect(err.path).toBe(path);
  });

  it('rejects what is not a document at all', () => {
    expect(rejection(null).path).toBe('$');
    expect(rejection([]).path).toBe('$');
  });
});

describe('parseHostPort', () => {
  it('reads IPv4 and bracketed IPv6, and refuses names and bad ports', () => {
    expect(parseHostPort('198.18.0.1:53')).toEqual({ host: '198.18.0.1', port: 53 });
    expect(parseHostPort('[::1]:5353')).toEqual({ host: '::1', port: 5353 });
    expect(parseHostPort('dns.google:53')).toBeUndefined();
    expect(parseHostPort('198.18.0.1:0')).toBeUndefined();
    expect(parseHostPort('198.18.0.1')).toBeUndefined();
  });

  it('takes port 0 only when asked to, for listen addresses', () => {
    expect(parseHostPort('127.0.0.1:0')).toBeUndefined();
    expect(parseHostPort('127.0.0.1:0', { allowPortZero: false })).toBeUndefined();
    expect(parseHostPort('127.0.0.1:0', { allowPortZero: true })).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseHostPort('[::1]:0', { allowPortZero: true })).toEqual({ host: '::1', port: 0 });
    expect(parseHostPort('127.0.0.1:15000', { allowPortZero: true })).toEqual({ host: '127.0.0.1', port: 15000 });
  });

  it.each([['127.0.0.1:65536'], ['127.0.0.1:-1'], ['-1'], [':80'], ['x:80'], ['x:0'], [':0'], ['127.0.0.1:00'], ['127.0.0.1'], ['127.0.0.1:']])(
    'refuses %j with or without port 0 allowed',
    (text) => {
      expect(parseHostPort(text)).toBeUndefined();
      expect(parseHostPort(text, { allowPortZero: true })).toBeUndefined();
    },
  );
});

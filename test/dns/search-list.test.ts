import { describe, expect, it } from 'vitest';
import { clusterZone, provablyAbsent } from '../../dns/search-list.ts';

const zone = clusterZone('cluster.local');

describe('provablyAbsent (Kubernetes DNS specification shapes)', () => {
  it.each([
    'orders.shop.svc.cluster.local.shop.svc.cluster.local',
    'orders.shop.svc.cluster.local.svc.cluster.local',
    'www.google.com.shop.svc.cluster.local',
    'a.b.c.d.e.svc.cluster.local',
    'x._tcp.orders.shop.svc.cluster.local',
    'www.google.com.cluster.local',
    'orders.shop.svc.cluster.local.cluster.local',
    'registry.cluster.local',
  ])('%s does not exist', (name) => expect(provablyAbsent(name, zone)).toBe(true));

  it.each([
    'orders.shop.svc.cluster.local',
    'web-0.nginx.shop.svc.cluster.local',
    '10-0-0-1.nginx.shop.svc.cluster.local',
    '_http._tcp.orders.shop.svc.cluster.local',
    'shop.svc.cluster.local',
    'svc.cluster.local',
    'pod.cluster.local',
    '1-2-3-4.shop.pod.cluster.local',
    'a.b.c.d.pod.cluster.local',
    'dns-version.cluster.local',
    'cluster.local',
    'www.google.com.svc.cluster.local',
    'www.google.com',
    'cluster.local.example.com',
  ])('%s may exist: forwarded', (name) => expect(provablyAbsent(name, zone)).toBe(false));

  it('follows a custom cluster domain', () => {
    const z = clusterZone('Corp.Example.');
    expect(provablyAbsent('a.b.c.d.e.svc.corp.example', z)).toBe(true);
    expect(provablyAbsent('a.b.c.d.e.svc.cluster.local', z)).toBe(false);
  });
});

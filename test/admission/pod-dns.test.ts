import type { V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { loadAdmissionConfig } from '../../admission/config.ts';
import { injectPod } from '../../admission/inject-pod.ts';
import { applyDns } from '../../admission/pod-dns.ts';

const mesh = ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];
const six = ['a.example', 'b.example', 'c.example', 'd.example', 'e.example', 'f.example'];
const input = { namespace: 'shop', clusterDomain: 'cluster.local', clusterDnsIp: '10.96.0.10' };

/** What kube-apiserver's validateDNSConfig checks: entries, and characters joined with spaces. */
function fitsApiServer(searches: string[], expanded: boolean): boolean {
  return searches.length <= (expanded ? 32 : 6) && searches.join(' ').length <= (expanded ? 2048 : 256);
}

function merged(searches: string[], expandedDnsConfig: boolean, dnsPolicy?: string) {
  const spec: V1PodSpec = { containers: [{ name: 'app' }], dnsConfig: { searches }, ...(dnsPolicy ? { dnsPolicy } : {}) };
  const warnings = applyDns(spec, { ...input, expandedDnsConfig });
  return { searches: spec.dnsConfig!.searches!, warnings };
}

describe('the merged DNS search list and the API server limits', () => {
  it('without ExpandedDNSConfig keeps 6: the mesh searches first, then the pod\'s own, warning about the rest', () => {
    const { searches, warnings } = merged(six, false);
    expect(searches).toEqual([...mesh, 'a.example', 'b.example', 'c.example']);
    expect(fitsApiServer(searches, false)).toBe(true);
    const w = warnings.find((x) => x.includes('dropped'));
    expect(w).toContain('d.example,e.example,f.example');
  });

  it('without ExpandedDNSConfig keeps at most 256 characters, spaces included', () => {
    const long = (c: string) => `${c.repeat(60)}.${c.repeat(60)}.example`; // 129 characters
    const { searches, warnings } = merged([long('x'), long('y')], false);
    expect(searches).toEqual([...mesh, long('x')]);
    expect(searches.join(' ').length).toBeLessThanOrEqual(256);
    expect(warnings.some((x) => x.includes('dropped') && x.includes('yyy'))).toBe(true);
  });

  it('with ExpandedDNSConfig keeps all of them, without a warning about searches', () => {
    const { searches, warnings } = merged(six, true);
    expect(searches).toEqual([...mesh, ...six]);
    expect(warnings.some((x) => x.includes('dropped'))).toBe(false);
    const many = Array.from({ length: 40 }, (_, i) => `s${i}.example`);
    const capped = merged(many, true).searches;
    expect(capped).toHaveLength(32);
    expect(fitsApiServer(capped, true)).toBe(true);
  });

  it('a dnsPolicy None pod within the limits keeps its list as it was', () => {
    const spec: V1PodSpec = { containers: [{ name: 'app' }], dnsPolicy: 'None', dnsConfig: { nameservers: ['10.0.0.53'], searches: six } };
    const warnings = applyDns(spec, { ...input, expandedDnsConfig: false });
    expect(spec.dnsConfig!.searches).toEqual(six);
    expect(warnings.some((x) => x.includes('dropped'))).toBe(false);
  });

  it('follows --native-sidecar by default (1.29+ has ExpandedDNSConfig), and EXPANDED_DNS_CONFIG wins', () => {
    const pod: V1Pod = { metadata: { labels: { app: 'web' } }, spec: { dnsConfig: { searches: six }, containers: [{ name: 'app', image: 'a' }] } };
    const searchesWith = (env: Record<string, string>) => injectPod(pod, 'shop', loadAdmissionConfig(env, '0').inject).pod.spec!.dnsConfig!.searches!;
    expect(searchesWith({})).toHaveLength(9);
    expect(searchesWith({ NATIVE_SIDECAR: 'false' })).toEqual([...mesh, 'a.example', 'b.example', 'c.example']);
    expect(searchesWith({ NATIVE_SIDECAR: 'false', EXPANDED_DNS_CONFIG: 'true' })).toHaveLength(9);
    expect(searchesWith({ EXPANDED_DNS_CONFIG: 'false' })).toHaveLength(6);
  });
});

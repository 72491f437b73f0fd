import type { V1Container, V1ContainerPort, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { planInboundPorts } from '../../admission/inbound-ports.ts';
import { injectPod } from '../../admission/inject-pod.ts';
import { options } from './helpers.ts';

function pod(ports: V1ContainerPort[], annotations: Record<string, string> = {}): V1Pod {
  return { metadata: { labels: { app: 'web' }, annotations }, spec: { containers: [{ name: 'app', image: 'a', ports }] } };
}

const sidecarOf = (p: V1Pod): V1Container => [...(p.spec!.initContainers ?? []), ...p.spec!.containers].find((c) => c.name === 'sidemesh-proxy')!;
const envOf = (p: V1Pod) => Object.fromEntries((sidecarOf(p).env ?? []).map((e) => [e.name, e.value]));

describe('an app port the sidecar binds itself', () => {
  it('15090 (metrics): not injected, told which port and why', () => {
    const p = pod([{ containerPort: 8080 }, { containerPort: 15090, name: 'metrics' }]);
    const r = injectPod(p, 'shop', options);
    expect(r.skipped).toBe('not-injectable');
    expect(r.pod).toBe(p);
    expect(r.warnings).toEqual(['sidemesh: not injected: container "app" port 15090 is the sidecar\'s metrics port (both would bind it)']);
  });

  it('15000 (admin), in any container, init containers too: not injected', () => {
    const p = pod([{ containerPort: 8080 }]);
    p.spec!.initContainers = [{ name: 'agent', image: 'b', restartPolicy: 'Always', ports: [{ containerPort: 15000 }] }];
    const r = injectPod(p, 'shop', options);
    expect(r.skipped).toBe('not-injectable');
    expect(r.warnings.at(-1)).toMatch(/not injected: container "agent" port 15000 is the sidecar's admin port/);
  });

  it('names every clash, and a UDP 15090 or a hostPort 15090 is none', () => {
    const two = injectPod(pod([{ containerPort: 15000 }, { containerPort: 15090 }]), 'shop', options);
    expect(two.warnings.join('\n')).toMatch(/15090[\s\S]*15000|15000[\s\S]*15090/);
    const udp = injectPod(pod([{ containerPort: 15090, protocol: 'UDP' }, { containerPort: 8125, hostPort: 15090 }]), 'shop', options);
    expect(udp.skipped).toBeUndefined();
  });

  it('53 while the sidecar serves DNS: injected with its DNS off, as with sidemesh.io/dns=false, and a warning', () => {
    const p = pod([{ containerPort: 53, protocol: 'UDP' }, { containerPort: 53, protocol: 'TCP' }]);
    p.spec!.dnsPolicy = 'Default';
    const r = injectPod(p, 'shop', options);
    expect(r.skipped).toBeUndefined();
    expect(r.warnings).toEqual(['sidemesh: container "app" port 53 is the sidecar\'s DNS port: its DNS is off, as with sidemesh.io/dns=false']);
    expect(envOf(r.pod).SIDEMESH_DNS_ENABLED).toBe('false');
    expect(r.pod.spec!.dnsPolicy).toBe('Default');
    expect(r.pod.spec!.dnsConfig).toBeUndefined();
    expect(JSON.parse(r.pod.metadata!.annotations!['sidemesh.io/status']).dns).toBe(false);
    // With the responder off, 53/TCP is the app's: meshed like any other app port.
    expect(r.pod.metadata!.annotations!['sidemesh.io/inbound-ports']).toBe('53=65301');

    const same = pod(p.spec!.containers[0].ports!, { 'sidemesh.io/dns': 'false' });
    const off = injectPod(same, 'shop', options);
    expect(off.warnings).toEqual([]);
    expect(envOf(off.pod).SIDEMESH_DNS_ENABLED).toBe('false');
  });

  it('an explicit inbound-ports map that uses a sidecar port: not injected (15090), DNS off (53)', () => {
    const listen = injectPod(pod([{ containerPort: 8080 }], { 'sidemesh.io/inbound-ports': '8080=15090' }), 'shop', options);
    expect(listen.skipped).toBe('not-injectable');
    expect(listen.warnings.at(-1)).toMatch(/inbound-ports listen port 15090 is the sidecar's metrics port/);
    const app = injectPod(pod([], { 'sidemesh.io/inbound-ports': '15000=65301' }), 'shop', options);
    expect(app.warnings.at(-1)).toMatch(/inbound-ports app port 15000 is the sidecar's admin port/);
    const dns = injectPod(pod([{ containerPort: 8080 }], { 'sidemesh.io/inbound-ports': '8080=53' }), 'shop', options);
    expect(dns.skipped).toBeUndefined();
    expect(envOf(dns.pod).SIDEMESH_DNS_ENABLED).toBe('false');
  });
});

describe('the inbound plan', () => {
  it('never maps a sidecar port, allocated or explicit', () => {
    const p = pod([{ containerPort: 8080 }, { containerPort: 15090 }, { containerPort: 15000 }, { containerPort: 53 }]);
    expect(planInboundPorts(p)).toEqual({ ports: new Map([[8080, 65301]]), warnings: [] });
    // Without the sidecar's DNS, 53 is an app port like any other.
    expect(planInboundPorts(p, undefined, false)).toEqual({ ports: new Map([[53, 65301], [8080, 65302]]), warnings: [] });
    expect(planInboundPorts(p, new Map([[15090, 65301]]))).toMatchObject({ error: expect.stringContaining('15090') });
    expect(planInboundPorts(p, new Map([[8080, 53]]))).toMatchObject({ error: expect.stringContaining("sidecar's DNS port") });
    // Without the sidecar's DNS, 53 is free for a listener, but not when a container binds 53 itself.
    expect(planInboundPorts(pod([{ containerPort: 8080 }]), new Map([[8080, 53]]), false)).toMatchObject({ ports: new Map([[8080, 53]]) });
    expect(planInboundPorts(p, new Map([[8080, 53]]), false)).toMatchObject({ error: expect.stringContaining('listen port 53 is container') });
  });

  it('refuses an explicit listen port that a container binds itself (both would bind it)', () => {
    const p = pod([{ containerPort: 8080 }, { containerPort: 9100 }]);
    expect(planInboundPorts(p, new Map([[8080, 9100]]))).toMatchObject({ error: expect.stringMatching(/listen port 9100 is container "\w+"'s port/) });
    // A UDP port of the same number is no clash.
    expect(planInboundPorts(pod([{ containerPort: 8080 }, { containerPort: 9100, protocol: 'UDP' }]), new Map([[8080, 9100]]))).toMatchObject({ ports: new Map([[8080, 9100]]) });
  });
});

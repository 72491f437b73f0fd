import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { diffJson } from '../../admission/json-patch.ts';
import { injectPod } from '../../admission/inject-pod.ts';
import { reviewAdmission } from '../../admission/review.ts';
import { probeReadyScript, waitReadyScript } from '../../admission/sidecar-container.ts';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseInboundPorts } from '../../lib/names.ts';
import { applyResponsePatch, fixture, options } from './helpers.ts';

/** What the API server would store: the fixture's pod with the webhook's patch applied. */
function admit(name: string, opts = options) {
  const review = fixture(name);
  const out = reviewAdmission(JSON.stringify(review), opts);
  expect(out.status).toBe(200);
  const response = JSON.parse(out.body).response;
  expect(response.uid).toBe(review.request.uid);
  expect(response.allowed).toBe(true);
  return { review, response, outcome: out, pod: applyResponsePatch(review.request.object, response) as V1Pod };
}

const sidecarOf = (pod: V1Pod): V1Container => [...(pod.spec!.initContainers ?? []), ...pod.spec!.containers].find((c) => c.name === 'sidemesh-proxy')!;
const env = (c: V1Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('injecting a Deployment pod (generateName, empty metadata.namespace)', () => {
  const { pod, response, outcome } = admit('deployment-pod.json');

  it('answers with a JSONPatch and no warnings', () => {
    expect(outcome.result).toBe('injected');
    expect(response.patchType).toBe('JSONPatch');
    expect(response.warnings).toBeUndefined();
  });

  it('adds the sidecar as the first init container, a native sidecar with a startup probe it can answer', () => {
    const sc = pod.spec!.initContainers![0];
    expect(sc.name).toBe('sidemesh-proxy');
    expect(sc.restartPolicy).toBe('Always');
    // The admin port is loopback-only: the probe runs inside the sidecar.
    expect(sc.startupProbe?.exec?.command?.slice(0, 2)).toEqual(['node', '-e']);
    expect(sc.startupProbe?.exec?.command?.[2]).toContain('http://127.0.0.1:15000/ready');
    expect(sc.startupProbe).toMatchObject({ periodSeconds: 1, failureThreshold: 120 });
    const http = injectPod(fixture('deployment-pod.json').request.object, 'shop', { ...options, readyProbe: 'http' }).pod;
    expect(http.spec!.initContainers![0].startupProbe?.httpGet).toEqual({ path: '/ready', port: 15090, scheme: 'HTTP' });
    expect(pod.spec!.containers.map((c) => c.name)).toEqual(['web']);
  });

  it('gives the sidecar the shared env and the mesh variables, with the namespace from the request', () => {
    const e = env(sidecarOf(pod));
    expect(e.ORDERS_URL).toBe('http://orders:8080');
    expect(e.DB_PASSWORD).toEqual({ secretKeyRef: { name: 'web-db', key: 'password' } });
    // Pinned to the app container, so it still means the app's limit, not the sidecar's.
    expect(e.MEMORY_LIMIT).toEqual({ resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi', containerName: 'web' } });
    expect(e.NAMESPACE).toBe('shop');
    expect(e.SERVICE_ALIAS).toBe('web');
    expect(e.PLUGIN_ID).toBe('mesh');
    expect(e.DISCOVER_URL).toBe('http://sidemesh-discover.sidemesh-system.svc:6100/v1/resources/shop/web/mesh');
    expect(e.POD_NAME).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(e.POD_IP).toEqual({ fieldRef: { fieldPath: 'status.podIP' } });
    expect(sidecarOf(pod).env!.filter((x) => x.name === 'NAMESPACE')).toHaveLength(1);
  });

  it('routes DNS through the sidecar with the cluster DNS as fallback and the cluster search list', () => {
    expect(pod.spec!.dnsPolicy).toBe('None');
    expect(pod.spec!.dnsConfig).toEqual({
      nameservers: ['127.0.0.1', '10.96.0.10'],
      searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
      options: [{ name: 'ndots', value: '5' }],
    });
    expect(pod.spec!.securityContext!.sysctls).toEqual([{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }]);
  });

  it('maps every TCP app port to a listen port, in the annotation and as named sidecar ports', () => {
    const ann = pod.metadata!.annotations!;
    expect(ann['sidemesh.io/inbound-ports']).toBe('8080=65301,9100=65302');
    expect(parseInboundPorts(ann['sidemesh.io/inbound-ports'])).toEqual(new Map([[8080, 65301], [9100, 65302]]));
    expect(sidecarOf(pod).ports).toEqual([
      { name: 'sm-metrics', containerPort: 15090, protocol: 'TCP' },
      { name: 'sm-in-65301', containerPort: 65301, protocol: 'TCP' },
      { name: 'sm-in-65302', containerPort: 65302, protocol: 'TCP' },
    ]);
  });

  it('marks the pod injected and records what it did', () => {
    expect(pod.metadata!.labels!['sidemesh.io/injected']).toBe('true');
    expect(pod.metadata!.labels!['app.kubernetes.io/name']).toBe('web');
    const status = JSON.parse(pod.metadata!.annotations!['sidemesh.io/status']);
    expect(status).toEqual({ version: '0.1.0', sidecar: 'sidemesh-proxy', native: true, dns: true, volumes: ['sidemesh-cache'], inboundPorts: '8080=65301,9100=65302' });
    expect(pod.metadata!.annotations!['kubectl.kubernetes.io/default-container']).toBe('web');
  });

  it('mounts a cache emptyDir and passes the restricted Pod Security Standard', () => {
    const sc = sidecarOf(pod);
    expect(pod.spec!.volumes!.at(-1)).toEqual({ name: 'sidemesh-cache', emptyDir: { sizeLimit: '16Mi' } });
    expect(sc.volumeMounts).toEqual([{ name: 'sidemesh-cache', mountPath: '/var/run/sidemesh' }]);
    expect(sc.securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(sc.resources).toEqual({ requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } });
  });

  it('is idempotent: the injected pod passes through unchanged (reinvocationPolicy IfNeeded)', () => {
    const again = injectPod(pod, 'shop', options);
    expect(again.skipped).toBe('already-injected');
    expect(diffJson(pod, again.pod)).toEqual([]);
  });
});

describe('an already-injected pod (captured reinvocation)', () => {
  it('gets no patch and no warning', () => {
    const { response, outcome } = admit('injected-pod.json');
    expect(outcome).toMatchObject({ result: 'skipped', skipped: 'already-injected' });
    expect(response.patch).toBeUndefined();
    expect(response.warnings).toBeUndefined();
  });

  it('is recognised by its container alone, even without the label', () => {
    const pod = fixture('injected-pod.json').request.object;
    delete pod.metadata!.labels!['sidemesh.io/injected'];
    expect(injectPod(pod, 'shop', options).skipped).toBe('already-injected');
  });
});

describe('conflicting ports', () => {
  it('does not inject a pod whose containers use the sidecar\'s metrics and admin ports, and says why', () => {
    const { response, outcome } = admit('conflicting-ports.json');
    expect(outcome).toMatchObject({ result: 'error', skipped: 'not-injectable' });
    expect(response.patch).toBeUndefined();
    const w: string[] = response.warnings;
    expect(w.some((x) => x.includes('15090') && x.includes('metrics') && x.includes('not injected'))).toBe(true);
    expect(w.some((x) => x.includes('15000') && x.includes('admin'))).toBe(true);
    for (const x of w) {
      expect(x.length).toBeLessThanOrEqual(120);
      expect(x.startsWith('sidemesh: ')).toBe(true);
    }
  });

  // The same pod with its metrics on 9404 and no admin port: 53/UDP is left, which only turns the
  // sidecar's DNS off.
  const review = fixture('conflicting-ports.json');
  const [kafka, exporter] = review.request.object.spec!.containers;
  kafka.ports!.find((p) => p.containerPort === 15090)!.containerPort = 9404;
  exporter.ports = exporter.ports!.filter((p) => p.containerPort !== 15000);
  const out = reviewAdmission(JSON.stringify(review), options);
  const response = JSON.parse(out.body).response;
  const pod = applyResponsePatch(review.request.object, response) as V1Pod;

  it('injects the rest, warning about each in-range port and the DNS port, each warning ≤ 120 characters', () => {
    expect(out.result).toBe('injected');
    const w: string[] = response.warnings;
    expect(w.some((x) => x.includes('65301') && x.includes('inbound range'))).toBe(true);
    expect(w.some((x) => x.includes('65302'))).toBe(true);
    expect(w.some((x) => x.includes('port 53') && x.includes('DNS is off'))).toBe(true);
    expect(w.some((x) => x.includes('ip_unprivileged_port_start'))).toBe(true);
    for (const x of w) {
      expect(x.length).toBeLessThanOrEqual(120);
      expect(x.startsWith('sidemesh: ')).toBe(true);
    }
    expect(env(sidecarOf(pod)).SIDEMESH_DNS_ENABLED).toBe('false');
    expect(pod.spec!.dnsPolicy).toBe('ClusterFirst');
  });

  it('allocates around every declared port and skips UDP ones', () => {
    const map = pod.metadata!.annotations!['sidemesh.io/inbound-ports'];
    // TCP app ports 9092, 9308, 9404, 65301 (ascending); 65301 and 65302 are declared, so taken.
    expect(map).toBe('9092=65303,9308=65304,9404=65305,65301=65306');
    const names = sidecarOf(pod).ports!.map((p) => p.name);
    // The app already uses the name sm-in-65303: the sidecar's port stays unnamed rather than clash.
    expect(names).toEqual(['sm-metrics', undefined, 'sm-in-65304', 'sm-in-65305', 'sm-in-65306']);
    expect(pod.spec!.securityContext!.sysctls).toEqual([{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }]);
  });

  it('keeps the sidecar ahead of the existing init container', () => {
    expect(pod.spec!.initContainers!.map((c) => c.name)).toEqual(['sidemesh-proxy', 'init-config']);
  });
});

describe('skips', () => {
  it('a hostNetwork pod, with a warning', () => {
    const { response, outcome } = admit('host-network.json');
    expect(outcome.skipped).toBe('host-network');
    expect(response.patch).toBeUndefined();
    expect(response.warnings[0]).toMatch(/hostNetwork/);
  });

  it('a pod labelled sidemesh.io/inject=false, and the excluded namespaces', () => {
    const pod = fixture('deployment-pod.json').request.object;
    expect(injectPod(pod, 'kube-system', options).skipped).toBe('excluded-namespace');
    expect(injectPod(pod, 'sidemesh-system', options).skipped).toBe('excluded-namespace');
    pod.metadata!.labels!['sidemesh.io/inject'] = 'false';
    expect(injectPod(pod, 'shop', options).skipped).toBe('opted-out');
  });

  it('a pod with no service name: allowed, not injected, told why', () => {
    const pod = fixture('deployment-pod.json').request.object;
    delete pod.metadata!.labels!['app.kubernetes.io/name'];
    const r = injectPod(pod, 'shop', options);
    expect(r.skipped).toBe('not-injectable');
    expect(r.pod).toBe(pod);
    expect(r.warnings.join()).toMatch(/app.kubernetes.io\/name/);
  });

  it('an empty sidemesh.io/service or plugin annotation counts as unset, as in discover', () => {
    const pod = fixture('deployment-pod.json').request.object;
    pod.metadata!.annotations = { ...pod.metadata!.annotations, 'sidemesh.io/service': '', 'sidemesh.io/plugin': '' };
    const r = injectPod(pod, 'shop', options);
    expect(r.skipped).toBeUndefined();
    expect(env(sidecarOf(r.pod)).DISCOVER_URL).toBe('http://sidemesh-discover.sidemesh-system.svc:6100/v1/resources/shop/web/mesh');
    delete pod.metadata!.labels!['app.kubernetes.io/name'];
    pod.metadata!.labels!.app = 'shop-web';
    expect(env(sidecarOf(injectPod(pod, 'shop', options).pod)).SERVICE_ALIAS).toBe('shop-web');
  });

  it('an unparseable explicit inbound-ports annotation', () => {
    const pod = fixture('deployment-pod.json').request.object;
    pod.metadata!.annotations!['sidemesh.io/inbound-ports'] = '8080:65301';
    const r = injectPod(pod, 'shop', options);
    expect(r.skipped).toBe('not-injectable');
    expect(r.warnings[0]).toMatch(/inbound-ports/);
  });

  it('never modifies its input', () => {
    const pod = fixture('deployment-pod.json').request.object;
    const before = structuredClone(pod);
    injectPod(pod, 'shop', options);
    expect(pod).toEqual(before);
  });
});

describe('dry run', () => {
  it('gets exactly the patch a real create would get', () => {
    const dry = fixture('dry-run.json');
    const real = structuredClone(dry);
    real.request.dryRun = false;
    (real.request.options as Record<string, unknown>) = { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' };
    const a = JSON.parse(reviewAdmission(JSON.stringify(dry), options).body).response;
    const b = JSON.parse(reviewAdmission(JSON.stringify(real), options).body).response;
    expect(a.patch).toBeDefined();
    expect(a.patch).toBe(b.patch);
  });

  it('applies annotation overrides: memory limit and plugin variables', () => {
    const { pod } = admit('dry-run.json');
    const sc = sidecarOf(pod);
    expect(sc.resources!.limits).toEqual({ memory: '128Mi' });
    expect(env(sc).LOG_LEVEL).toBe('debug');
    expect(pod.metadata!.annotations!['sidemesh.io/inbound-ports']).toBe('');
  });
});

describe('a Job pod without native sidecars, with its own DNS', () => {
  const { pod, response } = admit('job-pod.json');

  it('puts the sidecar first among the containers with a postStart wait', () => {
    const [first, app] = pod.spec!.containers;
    expect(first.name).toBe('sidemesh-proxy');
    expect(first.restartPolicy).toBeUndefined();
    expect(first.startupProbe).toBeUndefined();
    expect(first.lifecycle!.postStart!.exec!.command!.slice(0, 2)).toEqual(['node', '-e']);
    expect(app.name).toBe('report');
    expect(pod.spec!.initContainers).toBeUndefined();
    expect(first.resources!.limits).toEqual({ cpu: '200m', memory: '128Mi' });
    expect(pod.metadata!.annotations!['kubectl.kubernetes.io/default-container']).toBe('report');
    expect(response.warnings).toBeUndefined();
  });

  it('leaves DNS alone when sidemesh.io/dns=false, and turns the sidecar\'s responder off', () => {
    expect(pod.spec!.dnsPolicy).toBe('None');
    expect(pod.spec!.dnsConfig!.nameservers).toEqual(['10.0.0.53']);
    expect(env(sidecarOf(pod)).SIDEMESH_DNS_ENABLED).toBe('false');
  });

  it('ships wait and probe scripts that really wait for /ready on the admin port', async () => {
    const { port, close, setReady } = await fakeAdmin();
    try {
      const wait = runScript(waitReadyScript(5).replace('127.0.0.1:15000', `127.0.0.1:${port}`));
      expect(await runScript(probeReadyScript().replace('127.0.0.1:15000', `127.0.0.1:${port}`))).toBe(1);
      setReady();
      expect(await wait).toBe(0);
      expect(await runScript(probeReadyScript().replace('127.0.0.1:15000', `127.0.0.1:${port}`))).toBe(0);
      expect(await runScript(waitReadyScript(1).replace('127.0.0.1:15000', '127.0.0.1:1'))).toBe(1);
    } finally {
      await close();
    }
  });
});

describe('a pod with its own dnsConfig, sysctls and an explicit port map', () => {
  const { pod, response } = admit('custom-dns-pod.json');

  it('merges the dnsConfig and warns', () => {
    expect(pod.spec!.dnsConfig).toEqual({
      nameservers: ['127.0.0.1', '10.96.0.10'],
      searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example.com'],
      options: [{ name: 'ndots', value: '5' }, { name: 'single-request-reopen' }],
    });
    expect(response.warnings.some((w: string) => w.includes('dnsConfig merged'))).toBe(true);
  });

  it('keeps the existing sysctls and the explicit map as written', () => {
    expect(pod.spec!.securityContext!.sysctls).toEqual([
      { name: 'net.core.somaxconn', value: '1024' },
      { name: 'net.ipv4.ip_unprivileged_port_start', value: '0' },
    ]);
    expect(pod.metadata!.annotations!['sidemesh.io/inbound-ports']).toBe('8080=65310');
    expect(sidecarOf(pod).ports!.map((p) => p.containerPort)).toEqual([15090, 65310]);
    expect(pod.spec!.initContainers!.map((c) => c.name)).toEqual(['sidemesh-proxy', 'migrate']);
  });

  it('a dnsPolicy None pod keeps its own nameservers as the fallback', () => {
    const p = fixture('job-pod.json').request.object as V1Pod;
    delete p.metadata!.annotations!['sidemesh.io/dns'];
    const r = injectPod(p, 'batch', options);
    expect(r.pod.spec!.dnsConfig).toEqual({
      nameservers: ['127.0.0.1', '10.0.0.53'],
      searches: ['corp.example.com'],
      options: [{ name: 'ndots', value: '2' }],
    });
  });
});

function runScript(script: string): Promise<number | null> {
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', resolve));
}

async function fakeAdmin() {
  let ready = false;
  const server = createServer((req, res) => {
    res.writeHead(req.url === '/ready' && ready ? 200 : 503);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    setReady: () => (ready = true),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * The whole mesh on one machine: the fake Kubernetes API in-process, `sidemesh discover` in the root
 * namespace on the bridge address, and pods as network namespaces each running an app and its
 * sidecar. The test drives it the way a cluster would change: Services, EndpointSlices (with the
 * ready/serving/terminating conditions the endpoint controller sets), meshed Pods and plugin
 * ConfigMaps, written to the fake API that discover watches.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeKube, type FakeKube } from '../../fake-kube/fake-kube-server.ts';
import { writeFakeKubeconfig } from '../../fake-kube/kubeconfig.ts';
import { endpointSlice, pluginConfig, service, type PortSpec } from '../../fake-kube/objects.ts';
import { run, sleep, waitFor } from './exec.ts';
import { inject, injectOptions, type InjectedPod } from './injection.ts';
import { GATEWAY_IP, PodNetwork, setSysctl, type PodNet } from './netns.ts';
import { ProcessRunner, type Proc } from './process-runner.ts';
import type { LoadSummary } from '../apps/load.ts';
import type { ResourceDocument } from '../../../lib/contract.ts';
import { ANNOTATION_APP_BIND } from '../../../lib/names.ts';
import { parseMetrics } from './metrics-text.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const CLI = join(ROOT, 'bin', 'sidemesh.ts');
const APPS = join(import.meta.dirname, '..', 'apps');

/** discover listens on the bridge address so pods reach it over their veth. */
export const DISCOVER_PORT = 6100;
export const DISCOVER_BASE = `http://${GATEWAY_IP}:${DISCOVER_PORT}`;

export type AppKind = 'http' | 'echo';

export interface PodOptions {
  name: string;
  /** Label `app` (the workload, and the Service whose EndpointSlice lists the pod). */
  app: string;
  kind?: AppKind;
  port?: number;
  /** Add the pod to its Service's EndpointSlice once its sidecar is ready (default true). */
  endpoint?: boolean;
}

export interface MeshPod {
  name: string;
  app: string;
  kind: AppKind;
  appPort: number;
  net: PodNet;
  injected: InjectedPod;
  appProc: Proc;
  sidecar: Proc;
  /** Other processes of the pod, stopped and killed with it. */
  extra: Proc[];
}

export interface EndpointState {
  pod: string;
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

interface ServiceState {
  ports: PortSpec[];
  endpoints: EndpointState[];
}

export class Mesh {
  readonly namespace: string;
  readonly dir: string;
  readonly net = new PodNetwork();
  readonly runner: ProcessRunner;
  kube!: FakeKube;
  discover: Proc | undefined;
  readonly pods = new Map<string, MeshPod>();
  readonly #services = new Map<string, ServiceState>();
  #discoverStarts = 0;
  /** Prometheus file_sd targets: every live pod's metrics port, labelled with the pod name. */
  readonly sdFile: string;

  constructor(namespace = 'shop') {
    this.namespace = namespace;
    this.dir = mkdtempSync(join(tmpdir(), 'sme2e-'));
    this.runner = new ProcessRunner(join(this.dir, 'logs'));
    this.sdFile = join(this.dir, 'sidecars.json');
    this.#writeSd();
  }

  #writeSd(): void {
    const groups = [...this.pods.values()].map((p) => ({ targets: [`${p.net.ip}:15090`], labels: { pod: p.name, app: p.app } }));
    writeFileSync(`${this.sdFile}.tmp`, JSON.stringify(groups));
    renameSync(`${this.sdFile}.tmp`, this.sdFile);
  }

  async start(): Promise<void> {
    await this.net.start();
    this.kube = await startFakeKube();
    writeFakeKubeconfig(this.kube.url, join(this.dir, 'kubeconfig.yaml'));
    await this.startDiscover();
  }

  // ---- discover ---------------------------------------------------------------------------------

  async startDiscover(): Promise<void> {
    const n = this.#discoverStarts++;
    this.discover = this.runner.node(`discover-${n}`, CLI, ['discover', '--kubeconfig', join(this.dir, 'kubeconfig.yaml')], {
      env: {
        DISCOVER_HOST: GATEWAY_IP,
        DISCOVER_PORT: String(DISCOVER_PORT),
        // Names the mesh does not know are forwarded here: the bridge address, where nothing answers
        // DNS, so no test query ever reaches the machine's resolver.
        DNS_UPSTREAMS: `${GATEWAY_IP}:53`,
        DEBOUNCE: '10ms',
        LOG_LEVEL: 'info',
      },
    });
    const proc = this.discover;
    await waitFor(
      'discover /readyz',
      async () => {
        if (proc.exited) throw new Error(`discover exited ${proc.exitCode}`);
        const r = await fetch(`${DISCOVER_BASE}/readyz`, { signal: AbortSignal.timeout(1000) });
        return r.ok ? true : undefined;
      },
      15_000,
    );
  }

  async stopDiscover(): Promise<void> {
    await this.discover?.stop();
  }

  async discoverMetrics(): Promise<string> {
    const r = await fetch(`${DISCOVER_BASE}/metrics`, { signal: AbortSignal.timeout(3000) });
    return r.text();
  }

  // ---- cluster objects --------------------------------------------------------------------------

  addService(name: string, ports: PortSpec[]): void {
    this.kube.apply(service(this.namespace, name, ports));
    this.#services.set(name, { ports, endpoints: [] });
    this.#applySlice(name);
  }

  #applySlice(name: string): void {
    const s = this.#services.get(name);
    if (!s) throw new Error(`no service ${name}`);
    // Endpoint ports are the target ports (the app's), as the endpoint controller writes them;
    // discover rewrites them to the meshed pod's inbound port.
    const ports = s.ports.map((p) => ({ ...p, port: p.targetPort ?? p.port }));
    this.kube.apply(
      endpointSlice(
        this.namespace,
        `${name}-e2e`,
        name,
        ports,
        s.endpoints.map((e) => ({ ip: e.ip, pod: e.pod, ready: e.ready, serving: e.serving, terminating: e.terminating })),
      ),
    );
  }

  /** Adds or updates a pod's endpoint in its Service's slice. */
  setEndpoint(serviceName: string, pod: string, conditions: Partial<Omit<EndpointState, 'pod' | 'ip'>> = {}): void {
    const s = this.#services.get(serviceName);
    if (!s) throw new Error(`no service ${serviceName}`);
    const p = this.pod(pod);
    const e = s.endpoints.find((x) => x.pod === pod);
    const next: EndpointState = { pod, ip: p.net.ip, ready: true, serving: true, terminating: false, ...(e ?? {}), ...conditions };
    s.endpoints = [...s.endpoints.filter((x) => x.pod !== pod), next];
    this.#applySlice(serviceName);
  }

  removeEndpoint(serviceName: string, pod: string): void {
    const s = this.#services.get(serviceName);
    if (!s) throw new Error(`no service ${serviceName}`);
    s.endpoints = s.endpoints.filter((x) => x.pod !== pod);
    this.#applySlice(serviceName);
  }

  /** Writes (or replaces) the plugin ConfigMap of a workload, Rainbond's way. */
  setPluginConfig(workload: string, spec: unknown, plugin = 'mesh'): void {
    this.kube.apply(pluginConfig(this.namespace, `plugin-${workload}-${plugin}`, workload, plugin, JSON.stringify(spec)));
  }

  deletePluginConfig(workload: string, plugin = 'mesh'): void {
    this.kube.delete({ kind: 'ConfigMap', namespace: this.namespace, name: `plugin-${workload}-${plugin}` });
  }

  // ---- pods -------------------------------------------------------------------------------------

  pod(name: string): MeshPod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  }

  /**
   * Creates a pod: its namespace, the webhook's mutation, the Pod object (Running, with its IP), the
   * app and the sidecar; waits until the sidecar reports ready; then adds the endpoint.
   */
  async addPod(o: PodOptions): Promise<MeshPod> {
    const kind = o.kind ?? 'http';
    const appPort = o.port ?? (kind === 'echo' ? 7000 : 8080);
    const net = await this.net.addPod(o.name, this.namespace);
    const injected = inject(
      // The apps bind 127.0.0.1 (apps/), so Services on their ports are meshed too (docs/discover.md, "Same port").
      { namespace: this.namespace, name: o.name, app: o.app, ports: [{ name: kind === 'echo' ? 'tcp-echo' : 'http', containerPort: appPort }], annotations: { [ANNOTATION_APP_BIND]: 'specific' } },
      net.ip,
      injectOptions(DISCOVER_BASE, GATEWAY_IP),
    );
    // What the kubelet does with the mutated spec: resolv.conf from dnsConfig, the pod's sysctls.
    writeFileSync(join('/etc/netns', net.netns, 'resolv.conf'), injected.resolvConf);
    for (const s of injected.sysctls) await setSysctl(net.netns, s.name, s.value);
    this.kube.apply({ ...injected.pod, status: { phase: 'Running', podIP: net.ip, podIPs: [{ ip: net.ip }] } });
    const appProc =
      kind === 'echo'
        ? this.runner.node(`${o.name}-app`, join(APPS, 'echo-app.ts'), [String(appPort)], { netns: net.netns })
        : this.runner.node(`${o.name}-app`, join(APPS, 'http-app.ts'), [o.name, String(appPort)], { netns: net.netns });
    const cacheDir = join(this.dir, 'cache', o.name);
    const sidecar = this.runner.node(`${o.name}-sidecar`, CLI, ['sidecar'], {
      netns: net.netns,
      // The cache dir stands in for the pod's emptyDir: namespaces share the host filesystem.
      // Shorter than production defaults so the suite stays within its time budget: a reconnect to a
      // restarted discover within ~2 s, and a drain that fits the test's grace period.
      env: { ...injected.sidecarEnv, SIDEMESH_CACHE_DIR: cacheDir, SIDEMESH_DISCOVER_BACKOFF_MAX: '2s', SIDEMESH_DRAIN_GRACE_PERIOD: '3s', LOG_LEVEL: 'info' },
    });
    const pod: MeshPod = { name: o.name, app: o.app, kind, appPort, net, injected, appProc, sidecar, extra: [] };
    this.pods.set(o.name, pod);
    this.#writeSd();
    await this.waitSidecarReady(pod);
    if (o.endpoint !== false && this.#services.has(o.app)) this.setEndpoint(o.app, o.name);
    return pod;
  }

  /**
   * The injected startup probe, run as the kubelet runs it: `httpGet` against the pod IP, or `exec`
   * inside the pod (the sidecar's image has node: the project's node stands in). Without a probe
   * (non-native layout), the admin port's /ready is asked from inside the pod.
   */
  async waitSidecarReady(pod: MeshPod, timeoutMs = 15_000): Promise<void> {
    const probe = pod.injected.startupProbe;
    await waitFor(
      `${pod.name}'s sidecar startup probe`,
      async () => {
        if (pod.sidecar.exited) throw new Error(`sidecar exited ${pod.sidecar.exitCode}`);
        if (probe?.httpGet) {
          const r = await fetch(`http://${pod.net.ip}:${probe.httpGet.port}${probe.httpGet.path}`, { signal: AbortSignal.timeout(1000) });
          return r.ok ? true : undefined;
        }
        if (probe?.exec) {
          const [cmd, ...args] = probe.exec.command;
          const r = await this.exec(pod.name, cmd === 'node' ? process.execPath : cmd, args, 3000);
          return r.code === 0 ? true : undefined;
        }
        const admin = await this.exec(pod.name, 'curl', ['-sf', '-m', '1', 'http://127.0.0.1:15000/ready']);
        return admin.code === 0 ? true : undefined;
      },
      timeoutMs,
      200,
    );
  }

  /** Whether anything answers DNS on the pod's 127.0.0.1:53 (any response code counts). */
  async answersDns(pod: string, name = 'e2e-probe.invalid'): Promise<boolean> {
    const r = await this.exec(pod, 'dig', ['+time=1', '+tries=1', '@127.0.0.1', name], 5000);
    return r.code === 0 && /->>HEADER<<-/.test(r.stdout);
  }

  /** SIGKILL the app and its sidecar at once: a crashed pod, no graceful shutdown. */
  async killPod(name: string): Promise<void> {
    const p = this.pod(name);
    await Promise.all([p.appProc.kill(), p.sidecar.kill(), ...p.extra.map((x) => x.kill())]);
  }

  /** Graceful termination as the kubelet does it: SIGTERM to both, the sidecar drains. */
  async stopPod(name: string, graceMs = 5000): Promise<void> {
    const p = this.pod(name);
    await Promise.all([p.appProc.stop(graceMs), p.sidecar.stop(graceMs), ...p.extra.map((x) => x.stop(graceMs))]);
  }

  /** Deletes the Pod object and its namespace (the processes must be stopped). */
  async removePod(name: string): Promise<void> {
    const p = this.pods.get(name);
    if (!p) return;
    await Promise.all([p.appProc.kill(), p.sidecar.kill(), ...p.extra.map((x) => x.kill())]);
    try {
      this.kube.delete({ kind: 'Pod', namespace: this.namespace, name });
    } catch {
      // already deleted
    }
    this.pods.delete(name);
    this.#writeSd();
    await this.net.removePod(name);
  }

  // ---- inside a pod -----------------------------------------------------------------------------

  exec(pod: string, cmd: string, args: readonly string[], timeoutMs = 10_000) {
    return run('ip', ['netns', 'exec', this.pod(pod).net.netns, cmd, ...args], { timeoutMs });
  }

  /** curl inside the pod: real getaddrinfo through the pod's resolv.conf. Returns status, body and the peer address. */
  async curl(pod: string, url: string, extra: string[] = []): Promise<{ code: number; status: number; body: string; remoteIp: string; stderr: string }> {
    const r = await this.exec(pod, 'curl', ['-sS', '-m', '5', '-o', '-', '-w', '\n%{remote_ip}\n%{http_code}', ...extra, url]);
    const lines = r.stdout.split('\n');
    const status = Number(lines.pop()) || 0;
    const remoteIp = lines.pop() ?? '';
    return { code: r.code, status, body: lines.join('\n'), remoteIp, stderr: r.stderr };
  }

  /** Runs the load client inside a pod (see apps/load.ts for the options). */
  async load(pod: string, options: Record<string, unknown>, timeoutMs = 60_000): Promise<LoadSummary> {
    const r = await run('ip', ['netns', 'exec', this.pod(pod).net.netns, process.execPath, join(APPS, 'load.ts'), JSON.stringify(options)], { timeoutMs });
    if (r.code !== 0) throw new Error(`load client failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as LoadSummary;
  }

  async tcpEcho(pod: string, host: string, port: number, lines: number, bytes: number): Promise<{ ok: boolean; error?: string; received: number; sent: number; firstLine?: string; ms: number }> {
    const r = await run('ip', ['netns', 'exec', this.pod(pod).net.netns, process.execPath, join(APPS, 'tcp-client.ts'), host, String(port), String(lines), String(bytes)], {
      timeoutMs: 30_000,
    });
    if (r.code !== 0) throw new Error(`tcp client failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** The sidecar's metrics, scraped from the root namespace at podIP:15090 as Prometheus would. */
  async sidecarMetrics(pod: string): Promise<string> {
    const r = await fetch(`http://${this.pod(pod).net.ip}:15090/metrics`, { signal: AbortSignal.timeout(3000) });
    return r.text();
  }

  /** A workload's document as discover serves it (from the root namespace). */
  async document(app: string, plugin = 'mesh'): Promise<ResourceDocument> {
    const r = await fetch(`${DISCOVER_BASE}/v1/resources/${this.namespace}/${app}/${plugin}`, { signal: AbortSignal.timeout(3000) });
    if (!r.ok) throw new Error(`GET document ${app}: ${r.status} ${await r.text()}`);
    return (await r.json()) as ResourceDocument;
  }

  /** The document version a sidecar has in force, from its `sidemesh_config_version_info` gauge. */
  async appliedVersion(pod: string): Promise<string | undefined> {
    const samples = parseMetrics(await this.sidecarMetrics(pod));
    return samples.find((x) => x.name === 'sidemesh_config_version_info' && x.value === 1)?.labels.version;
  }

  /**
   * Waits until discover serves the pod's workload a document for which `check` holds, and the pod's
   * sidecar has that version in force. Returns the document.
   */
  async waitApplied(pod: string, what: string, check: (doc: ResourceDocument) => boolean, timeoutMs = 10_000): Promise<ResourceDocument> {
    const app = this.pod(pod).app;
    return waitFor(
      `${pod}'s sidecar to apply: ${what}`,
      async () => {
        const doc = await this.document(app);
        if (!check(doc)) return undefined;
        return (await this.appliedVersion(pod)) === doc.version ? doc : undefined;
      },
      timeoutMs,
      150,
    );
  }

  async close(): Promise<void> {
    await this.runner.stopAll(2000);
    await this.kube?.close();
    await this.net.close();
  }

  /** Removes the temp dir (logs included): only after a passing run. */
  removeDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  dumpLogs(): string {
    return this.runner.dump();
  }
}

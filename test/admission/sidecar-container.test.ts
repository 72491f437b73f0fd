import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { PodSettings } from '../../admission/pod-settings.ts';
import { buildSidecar, ENV_FROM_OVERRIDES } from '../../admission/sidecar-container.ts';
import { loadSidecarConfig } from '../../sidecar/config.ts';

const settings: PodSettings = {
  image: 'sidemesh/sidecar:0.1.0',
  nativeSidecar: true,
  dns: true,
  copyEnv: true,
  resources: {},
  readyTimeoutSeconds: 120,
  readyProbe: 'http',
  service: 'web',
  plugin: 'mesh',
  mainContainer: 'web',
  pluginEnv: [],
};

/** What the app container declares: the variables that broke sidecars, next to ordinary ones. */
const appEnv: V1EnvVar[] = [
  { name: 'DB_HOST', value: 'db' },
  { name: 'LOG_LEVEL', value: 'trace' },
  { name: 'NODE_OPTIONS', value: '--require /app/tracing.js' },
  { name: 'NODE_EXTRA_CA_CERTS', value: '/app/ca.pem' },
  { name: 'NODE_ENV', value: 'development' },
  { name: 'SIDEMESH_ADMIN_ADDR', value: '0.0.0.0:15000' },
  { name: 'SIDEMESH_TRACE', value: 'on' },
];

function sidecar(main: V1Container, overrides: Partial<PodSettings> = {}): V1Container {
  return buildSidecar({
    settings: { ...settings, ...overrides },
    namespace: 'shop',
    discoverBaseUrl: 'http://sidemesh-discover.sidemesh-system.svc:6100',
    inboundPorts: new Map([[8080, 65301]]),
    main,
    takenPortNames: new Set(),
  });
}

/** The env a container runs with: envFrom first, then every `env` entry over it (the kubelet's rule). */
function resolvedEnv(c: V1Container, envFromValues: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = c.envFrom?.length ? { ...envFromValues } : {};
  for (const e of c.env ?? []) out[e.name] = e.value ?? `<${Object.keys(e.valueFrom ?? {})[0]}>`;
  return out;
}

/**
 * The kubelet's env with `$(VAR)` references expanded: envFrom first, then each `env` entry in order,
 * a reference resolving only to what is already set (kubelet makeEnvironmentVariables; an unresolved
 * reference stays as written, `$$` is a literal `$`).
 */
function kubeletEnv(c: V1Container, envFromValues: Record<string, string>, fields: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = c.envFrom?.length ? { ...envFromValues } : {};
  for (const e of c.env ?? []) {
    if (e.value === undefined) out[e.name] = fields[e.valueFrom?.fieldRef?.fieldPath ?? ''] ?? '';
    else out[e.name] = e.value.replace(/\$\$|\$\(([-._a-zA-Z0-9]+)\)/g, (m, name?: string) => (name === undefined ? '$' : (out[name] ?? m)));
  }
  return out;
}

describe('the env a sidecar shares with the app (copy-env)', () => {
  it("copies the app's variables but not its log level, Node.js or sidemesh settings", () => {
    const names = (sidecar({ name: 'web', env: appEnv }).env ?? []).map((e) => e.name);
    expect(names).toContain('DB_HOST');
    for (const dropped of ['LOG_LEVEL', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'NODE_ENV', 'SIDEMESH_ADMIN_ADDR', 'SIDEMESH_TRACE']) expect(names).not.toContain(dropped);
  });

  it('keeps a plugin variable of those names: the operator set it for the sidecar', () => {
    const env = sidecar({ name: 'web', env: appEnv }, { pluginEnv: [{ name: 'LOG_LEVEL', value: 'debug' }] }).env ?? [];
    expect(env.filter((e) => e.name === 'LOG_LEVEL')).toEqual([{ name: 'LOG_LEVEL', value: 'debug' }]);
  });

  it('overrides them explicitly when envFrom is copied, so the sidecar starts with its defaults', () => {
    const c = sidecar({ name: 'web', envFrom: [{ configMapRef: { name: 'web-config' } }] });
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'web-config' } }]);
    const fromConfigMap = { DB_HOST: 'db', LOG_LEVEL: 'INFO-ish', NODE_OPTIONS: '--require /app/tracing.js', SIDEMESH_ADMIN_ADDR: 'junk', SIDEMESH_DISCOVER_WAIT: 'soon' };
    const env = resolvedEnv(c, fromConfigMap);
    expect(env.DB_HOST).toBe('db');
    expect(env.NODE_OPTIONS).toBe('');
    const config = loadSidecarConfig(env);
    expect(config).toMatchObject({ logLevel: 'info', admin: { host: '127.0.0.1', port: 15000 }, pollWaitMs: 30_000, service: 'web' });
  });

  it('sets each name once, leaving the plugin variables and the webhook\'s own in force', () => {
    const c = sidecar(
      { name: 'web', envFrom: [{ secretRef: { name: 'web-secrets' } }] },
      { dns: false, pluginEnv: [{ name: 'SIDEMESH_DRAIN_GRACE_PERIOD', value: '5s' }] },
    );
    const names = (c.env ?? []).map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    const env = resolvedEnv(c, {});
    expect(env.SIDEMESH_DRAIN_GRACE_PERIOD).toBe('5s');
    expect(env.SIDEMESH_DNS_ENABLED).toBe('false');
    expect(env.LOG_LEVEL).toBe('');
  });

  it('adds no overrides without envFrom, or with copy-env off', () => {
    const names = (c: V1Container) => (c.env ?? []).map((e) => e.name);
    expect(names(sidecar({ name: 'web', env: [{ name: 'A', value: '1' }] }))).not.toContain('NODE_OPTIONS');
    const off = sidecar({ name: 'web', envFrom: [{ configMapRef: { name: 'x' } }] }, { copyEnv: false });
    expect(off.envFrom).toBeUndefined();
    expect(names(off)).not.toContain('NODE_OPTIONS');
  });

  it("expands a copied or plugin variable that refers to the webhook's own, like POD_IP", () => {
    const c = sidecar(
      {
        name: 'web',
        env: [
          { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'ADVERTISE', value: 'http://$(POD_IP):8080' },
          { name: 'PEERS', value: 'web.$(NAMESPACE).svc' },
        ],
        envFrom: [{ configMapRef: { name: 'web-config' } }],
      },
      { pluginEnv: [{ name: 'TRACE_TAG', value: '$(POD_NAME)' }] },
    );
    const env = kubeletEnv(c, { LOG_LEVEL: 'trace' }, { 'status.podIP': '198.18.0.5', 'metadata.name': 'web-7d9f' });
    expect(env.ADVERTISE).toBe('http://198.18.0.5:8080');
    expect(env.PEERS).toBe('web.shop.svc');
    expect(env.TRACE_TAG).toBe('web-7d9f');
    // Still an explicit entry over envFrom.
    expect(env.LOG_LEVEL).toBe('');
  });

  it('overrides every variable the sidecar reads', () => {
    const source = readFileSync(join(import.meta.dirname, '..', '..', 'sidecar', 'config.ts'), 'utf8');
    const read = new Set(source.match(/'(SIDEMESH_[A-Z_]+|LOG_LEVEL)'/g)!.map((q) => q.slice(1, -1)));
    expect(read.size).toBeGreaterThan(10);
    for (const name of read) expect(ENV_FROM_OVERRIDES, name).toContain(name);
  });
});

/**
 * Real peers from Debian: nginx (upstream app and baseline proxy) and haproxy (baseline proxy),
 * each with a config written to a temp dir and run in the foreground as a child process.
 * Also the one place that installs the Debian tools the benchmarks need.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, waitForPort, type Child } from './proc.ts';
import { nodeRelayCommand } from './sidemesh.ts';

const PACKAGES: Record<string, string> = {
  nginx: 'nginx-light',
  haproxy: 'haproxy',
  dnsperf: 'dnsperf',
  openssl: 'openssl',
};
const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export interface Tools {
  nginx: boolean;
  nginxStream: boolean;
  haproxy: boolean;
  dnsperf: boolean;
  openssl: boolean;
  versions: Record<string, string>;
  /** What is missing and why, for the report. */
  notes: string[];
}

/**
 * Installs what is missing with apt-get when running as root (the bench must run on a fresh
 * machine), else reports what is missing so those rows say "not available".
 */
export function ensureTools(log: (s: string) => void): Tools {
  const missing = Object.entries(PACKAGES).filter(([cmd]) => !which(cmd)).map(([, pkg]) => pkg);
  if (!existsSync(STREAM_MODULE)) missing.push('libnginx-mod-stream');
  const notes: string[] = [];
  if (missing.length > 0) {
    if (process.getuid?.() === 0) {
      log(`installing ${missing.join(' ')} with apt-get`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 300_000 });
      const r = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'ignore', env, timeout: 600_000 });
      if (r.status !== 0) notes.push(`apt-get install ${missing.join(' ')} failed (exit ${r.status})`);
    } else {
      notes.push(`not root: cannot install ${missing.join(' ')}; run as root or install them`);
    }
  }
  const version = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
  };
  const t: Tools = {
    nginx: which('nginx'),
    nginxStream: existsSync(STREAM_MODULE),
    haproxy: which('haproxy'),
    dnsperf: which('dnsperf'),
    openssl: which('openssl'),
    versions: {},
    notes,
  };
  if (t.nginx) t.versions.nginx = version('nginx', ['-v']);
  if (t.haproxy) t.versions.haproxy = version('haproxy', ['-v']);
  if (t.dnsperf) {
    const r = spawnSync('dnsperf', ['-h'], { encoding: 'utf8' });
    t.versions.dnsperf = `dnsperf ${/Version (\S+)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[1] ?? 'unknown'}`;
  }
  if (!t.nginxStream) notes.push('nginx has no stream module (libnginx-mod-stream): nginx TCP rows skipped');
  return t;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `sidemesh-bench-${prefix}-`));
}

function nginxCommon(dir: string, extraMain = ''): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${extraMain}
events { worker_connections 8192; multi_accept on; }
`;
}

function httpCommon(dir: string): string {
  return `access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;`;
}

async function runNginx(name: string, conf: string, dir: string, port: number, cpus?: string): Promise<Child> {
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  const c = start(name, 'nginx', ['-p', dir, '-c', file, '-g', 'daemon off;'], { cpus });
  await waitForPort('127.0.0.1', port, 10_000, c);
  return c;
}

/** The upstream app: nginx, 1 worker, `return 200 "ok"` on every path. */
export async function nginxApp(port: number, cpus?: string): Promise<Child> {
  const dir = tempDir('app');
  const conf = `${nginxCommon(dir)}
http {
  ${httpCommon(dir)}
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location / { return 200 "ok"; }
  }
}
`;
  return runNginx('nginx-app', conf, dir, port, cpus);
}

/**
 * bench/lib/node-relay.ts, stripped to JS and run with the sidecar image's node flags: the least a
 * Node.js proxy costs per request here (a reference, not a competitor).
 */
export async function nodeRelay(listenPort: number, upstreamPort: number, cpus?: string): Promise<Child> {
  const c = start('node-relay', process.execPath, [...nodeRelayCommand(), String(listenPort), String(upstreamPort)], { cpus });
  await waitForPort('127.0.0.1', listenPort, 10_000, c);
  return c;
}

/** nginx as an HTTP/1.1 reverse proxy with upstream keep-alive. */
export async function nginxHttpProxy(listenPort: number, upstreamPort: number, cpus?: string): Promise<Child> {
  const dir = tempDir('nginx-proxy');
  const conf = `${nginxCommon(dir)}
http {
  ${httpCommon(dir)}
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${listenPort} backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  return runNginx('nginx-proxy', conf, dir, listenPort, cpus);
}

/** nginx stream (L4) proxy; needs the stream module. */
export async function nginxTcpProxy(listenPort: number, upstreamPort: number, cpus?: string): Promise<Child> {
  const dir = tempDir('nginx-stream');
  const conf = `load_module ${STREAM_MODULE};
${nginxCommon(dir)}
stream {
  server {
    listen 127.0.0.1:${listenPort} backlog=4096;
    proxy_pass 127.0.0.1:${upstreamPort};
  }
}
`;
  return runNginx('nginx-stream', conf, dir, listenPort, cpus);
}

/** haproxy, 1 thread, in http (keep-alive, connection reuse) or tcp mode. */
export async function haproxy(mode: 'http' | 'tcp', listenPort: number, upstreamPort: number, cpus?: string): Promise<Child> {
  const dir = tempDir(`haproxy-${mode}`);
  const file = join(dir, 'haproxy.cfg');
  const httpOpts = mode === 'http' ? '  option http-keep-alive\n  http-reuse always\n' : '';
  writeFileSync(
    file,
    `global
  nbthread 1
  maxconn 8000
  log stderr format raw local0 emerg

defaults
  mode ${mode}
  timeout connect 5s
  timeout client 60s
  timeout server 60s
${httpOpts}
frontend in
  bind 127.0.0.1:${listenPort}
  default_backend out

backend out
  server app 127.0.0.1:${upstreamPort}
`,
  );
  const c = start(`haproxy-${mode}`, 'haproxy', ['-db', '-f', file], { cpus });
  await waitForPort('127.0.0.1', listenPort, 10_000, c);
  return c;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout+stderr match, rejects after `ms` with what was printed. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | null>;
}

/** Runs `node bin/sidemesh.ts …args` with the project's Node. */
export function spawnCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [join(root, 'bin', 'sidemesh.ts'), ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, ms = 15_000) {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const tick = () => {
          const m = (out + err).match(pattern);
          if (m) return resolve(m);
          if (child.exitCode !== null) return reject(new Error(`exited ${child.exitCode} before ${pattern}:\n${out}\n${err}`));
          if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${pattern}:\n${out}\n${err}`));
          setTimeout(tick, 50);
        };
        tick();
      });
    },
    async stop(signal = 'SIGTERM', ms = 15_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls `check` until it returns true (or throws after `ms`). */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() - started > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A mesh file on random high ports, so parallel runs and a developer's own `sidemesh up` do not
 * collide. VIPs hash `name.namespace`: a namespace of its own keeps `up` off the VIPs of
 * examples/mesh.yaml (namespace demo), which a developer's `npm start` holds.
 */
export function demoMesh(base: number, inbound: number, withBilling = true, namespace = 'demo'): string {
  return `
services:
  - name: web
    namespace: ${namespace}
    ports: [{ port: 8080, protocol: http }]
    endpoints: [{ address: 127.0.0.1, port: ${base}, pod: web-0 }]
  - name: orders
    namespace: ${namespace}
    ports: [{ port: 8080, protocol: http }]
    endpoints: [{ address: 127.0.0.1, port: ${base + 1} }, { address: 127.0.0.1, port: ${base + 2} }]
${
  withBilling
    ? `  - name: billing
    namespace: ${namespace}
    ports: [{ port: 8080, protocol: http }]
    endpoints: [{ address: 127.0.0.1, port: ${base + 3} }]
`
    : ''
}  - name: echo
    namespace: ${namespace}
    ports: [{ port: 9000, protocol: tcp }]
    endpoints: [{ address: 127.0.0.1, port: ${base + 5} }, { address: 127.0.0.1, port: ${base + 6} }]
workloads:
  - { namespace: ${namespace}, service: web, pods: [{ name: web-0, ip: 127.0.0.1 }], inboundPorts: { ${base}: ${inbound} } }
`;
}

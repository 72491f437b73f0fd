/**
 * Long-lived children (discover, sidecars, apps, Prometheus), optionally inside a pod's network
 * namespace. Output goes to one log file per process, printed when a test fails. Every child is
 * stopped by its own pid: SIGTERM, then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

/** The project's Node 24 (the one running this test), resolved once so `ip netns exec` can find it. */
export const NODE = process.execPath;

export interface SpawnOptions {
  /** Network namespace to run in (`ip netns exec`); the root namespace when absent. */
  netns?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export class Proc {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  readonly #log: WriteStream;
  #exit: Promise<number | string>;
  exited = false;
  exitCode: number | string | undefined;

  constructor(name: string, logFile: string, child: ChildProcess, log: WriteStream) {
    this.name = name;
    this.logFile = logFile;
    this.child = child;
    this.#log = log;
    this.#exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code ?? signal ?? 'unknown';
        log.write(`\n[e2e] ${name} exited: ${this.exitCode}\n`);
        resolve(this.exitCode);
      });
      child.once('error', (err) => {
        this.exited = true;
        this.exitCode = `spawn error: ${err.message}`;
        log.write(`\n[e2e] ${name} failed to spawn: ${err.message}\n`);
        resolve(this.exitCode);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  exited$(): Promise<number | string> {
    return this.#exit;
  }

  /** Kills at once, as a crashed container: no drain, no goodbye. */
  async kill(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await this.#exit;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.#exit;
    clearTimeout(timer);
  }

  logText(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  closeLog(): void {
    this.#log.end();
  }
}

export class ProcessRunner {
  readonly logDir: string;
  readonly #procs: Proc[] = [];

  constructor(logDir: string) {
    this.logDir = logDir;
    mkdirSync(logDir, { recursive: true });
  }

  spawn(name: string, cmd: string, args: readonly string[], options: SpawnOptions = {}): Proc {
    const logFile = join(this.logDir, `${name.replace(/[^a-zA-Z0-9_.-]/g, '_')}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    const [file, argv] = options.netns ? ['ip', ['netns', 'exec', options.netns, cmd, ...args]] : [cmd, [...args]];
    log.write(`[e2e] ${new Date().toISOString()} ${file} ${argv.join(' ')}\n`);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...options.env })) if (v !== undefined) env[k] = v;
    // `ip netns exec` execs the command itself, so the child's pid is the real process's pid.
    const child = spawn(file, argv, { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const p = new Proc(name, logFile, child, log);
    this.#procs.push(p);
    return p;
  }

  /** `node <script> …` with the project's Node. */
  node(name: string, script: string, args: readonly string[], options: SpawnOptions = {}): Proc {
    return this.spawn(name, NODE, [script, ...args], options);
  }

  all(): readonly Proc[] {
    return this.#procs;
  }

  /** The tail of every process's log, for a failed test's output. */
  dump(maxBytesEach = 4000): string {
    return this.#procs
      .map((p) => {
        const text = p.logText();
        const tail = text.length > maxBytesEach ? `…${text.slice(-maxBytesEach)}` : text;
        return `----- ${p.name} (${p.exited ? `exited ${p.exitCode}` : `pid ${p.pid}`}) ${p.logFile}\n${tail}`;
      })
      .join('\n');
  }

  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all(this.#procs.map((p) => p.stop(graceMs)));
    for (const p of this.#procs) p.closeLog();
  }
}

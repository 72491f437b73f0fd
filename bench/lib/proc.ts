/**
 * Child processes for the benchmarks: every server, proxy and load generator runs in its own
 * process, optionally pinned to a CPU with `taskset`, and is killed when the run ends (even on
 * Ctrl-C or a crash of the harness). Also reads a process's CPU time and peak RSS from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Everything the process wrote to stdout (kept only when `capture` was set). */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** Pin to these CPUs with taskset (e.g. "0" or "1"); ignored when taskset is missing. */
  cpus?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Keep stdout/stderr in memory (load generators print their JSON there). */
  capture?: boolean;
  /** Give the child a stdin pipe (for line commands); default: no stdin. */
  stdin?: boolean;
}

const live = new Set<Child>();
let hasTaskset: boolean | undefined;
let niceness: number | undefined;

/**
 * Run every child at this nice level (e.g. -10, root only): on a shared machine the benchmark's
 * processes then win the CPU over other work, so the figures measure the subjects, not the noise.
 */
export function setNiceness(n: number | undefined): void {
  niceness = n;
}

export function tasksetAvailable(): boolean {
  hasTaskset ??= spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  return hasTaskset;
}

export function start(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Child {
  const pinned = opts.cpus !== undefined && tasksetAvailable();
  let argv = pinned ? ['taskset', '-c', opts.cpus as string, cmd, ...args] : [cmd, ...args];
  if (niceness !== undefined) argv = ['nice', '-n', String(niceness), ...argv];
  const file = argv.shift() as string;
  // nice and taskset exec the command, so the pid below is the command's own (for /proc readings).
  const proc = spawn(file, argv, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (b: Buffer) => {
    if (opts.capture) out += b.toString();
  });
  proc.stderr?.on('data', (b: Buffer) => {
    // Keep only the tail: enough to explain a failure, bounded for chatty servers.
    err = (err + b.toString()).slice(-8000);
  });
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    proc.on('error', (e) => {
      err += String(e);
      resolve('spawn-error');
    });
  });
  const child: Child = {
    name,
    pid: proc.pid ?? -1,
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async () => {
      live.delete(child);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(child);
  void exited.then(() => live.delete(child));
  return child;
}

/** Runs a process to completion (bounded by `timeoutMs`) and returns its stdout. */
export async function run(name: string, cmd: string, args: string[], opts: SpawnOptions & { timeoutMs: number }): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const c = start(name, cmd, args, { ...opts, capture: true });
  const timer = setTimeout(() => {
    c.proc.kill('SIGKILL');
  }, opts.timeoutMs);
  const code = await c.exited;
  clearTimeout(timer);
  // Let the pipes drain after exit.
  await new Promise((r) => setImmediate(r));
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

function killAllSync(): void {
  for (const c of live) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAllSync();
    process.exit(130);
  });
}

/** Resolves once something accepts TCP connections on host:port; rejects after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs = 10_000, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) {
      throw new Error(`${child.name} exited before listening on ${host}:${port}: ${child.stderr().trim().slice(-600)}`);
    }
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms${child ? `: ${child.stderr().trim().slice(-600)}` : ''}`);
    await sleep(50);
  }
}

/**
 * Waits until the child (started with `capture`) has printed a JSON line for which `pick` returns
 * a value; lines are scanned from `from` (an offset into stdout) so each wait sees only new output.
 */
export async function waitForJsonLine<T>(child: Child, pick: (v: Record<string, unknown>) => T | undefined, timeoutMs: number, from = 0): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of child.stdout().slice(from).split('\n')) {
      if (!line.startsWith('{') || !line.endsWith('}')) continue;
      try {
        const v = pick(JSON.parse(line) as Record<string, unknown>);
        if (v !== undefined) return v;
      } catch {
        // not JSON yet (partial line)
      }
    }
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`${child.name} exited: ${child.stderr().slice(-600)}`);
    if (Date.now() > deadline) throw new Error(`${child.name}: no expected output after ${timeoutMs} ms: ${child.stderr().slice(-600)}`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const ticks = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, or NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / ticks;
  } catch {
    return Number.NaN;
  }
}

/** Peak resident set size in MiB (VmHWM), or NaN when the process is gone. */
export function peakRssMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Anonymous resident memory in MiB (RssAnon): heap, stacks, buffers. Unlike VmRSS it leaves out the
 * node binary's file-backed pages, which a container's cgroup can reclaim under its limit; it is
 * what an out-of-memory kill is decided on.
 */
export function anonRssMiB(pid: number): number {
  try {
    const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Current RSS in MiB (VmRSS). */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The pids of a process and its descendants (nginx master + worker). */
export function processTree(pid: number): number[] {
  const out = [pid];
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    for (const k of kids) out.push(...processTree(k));
  } catch {
    // gone or no children file
  }
  return out;
}

export function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((s, p) => s + (cpuSeconds(p) || 0), 0);
}

export function treePeakRssMiB(pid: number): number {
  return processTree(pid).reduce((s, p) => s + (peakRssMiB(p) || 0), 0);
}

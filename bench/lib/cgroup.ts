/**
 * A memory cgroup of its own for one process, cgroup v1 (the `memory` hierarchy under
 * /sys/fs/cgroup/memory), created under the cgroup the harness runs in. Root only. cgroup v2 is not
 * handled yet: `memoryCgroupUnavailable()` says so and the scenario reports "not available".
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const V1_ROOT = '/sys/fs/cgroup/memory';

/** Why no memory cgroup can be made here, or undefined when one can. */
export function memoryCgroupUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (creates a memory cgroup)';
  if (v1Parent() === undefined) return 'needs a cgroup-v1 memory hierarchy at /sys/fs/cgroup/memory (cgroup v2 is not handled yet)';
  return undefined;
}

function v1Parent(): string | undefined {
  const line = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes('memory'));
  if (line === undefined) return undefined;
  const dir = join(V1_ROOT, line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1));
  return existsSync(join(dir, 'memory.limit_in_bytes')) ? dir : undefined;
}

export interface MemoryCgroupStats {
  /** Highest charge (memory.max_usage_in_bytes), MiB. */
  peakMiB: number;
  /** Times the charge hit the limit (memory.failcnt). */
  limitHits: number;
  oomKills: number;
  /** Major page faults of the group: pages read back from disk. */
  majorFaults: number;
}

export class MemoryCgroup {
  readonly dir: string;
  /** Write a pid here to move that process in (a child started by `sh -c 'echo $$ > …; exec …'`). */
  readonly procs: string;

  /** `limitMiB` 0 = no limit. */
  constructor(name: string, limitMiB: number) {
    const parent = v1Parent();
    if (parent === undefined) throw new Error(memoryCgroupUnavailable());
    this.dir = join(parent, `${name}-${process.pid}-${Date.now()}`);
    mkdirSync(this.dir);
    this.procs = join(this.dir, 'cgroup.procs');
    if (limitMiB > 0) writeFileSync(join(this.dir, 'memory.limit_in_bytes'), String(limitMiB * 1024 * 1024));
  }

  stats(): MemoryCgroupStats {
    const read = (f: string): string => readFileSync(join(this.dir, f), 'utf8');
    const field = (text: string, key: string): number => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    return {
      peakMiB: Number(read('memory.max_usage_in_bytes')) / 1048576,
      limitHits: Number(read('memory.failcnt')),
      oomKills: field(read('memory.oom_control'), 'oom_kill'),
      majorFaults: field(read('memory.stat'), 'pgmajfault'),
    };
  }

  /** After its processes have exited. */
  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // Still busy (its process not yet reaped): the directory stays behind, an empty group once
      // that process is gone, which the next run does not reuse.
    }
  }
}

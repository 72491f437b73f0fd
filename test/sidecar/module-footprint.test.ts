import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// The sidecar's memory target is 64 MiB RSS at full load (issue #7). Loading code it never runs
// costs resident memory: an ES import of node:http pulls node's bundled undici, tls, http2 and zlib
// (+12 MiB), one of node:fs fs/promises, prom-client's index its Pushgateway and default metrics,
// node:crypto its whole crypto stack (lib/node-builtins.ts, lib/prom.ts, dns/transaction-id.ts).
const root = join(import.meta.dirname, '..', '..');

function loadedBy(entry: string): { builtins: string[]; packages: string[] } {
  const url = pathToFileURL(join(root, entry)).href;
  const script = `
    await import(${JSON.stringify(url)});
    const { default: Module } = await import('node:module');
    console.log(JSON.stringify({
      builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)),
      packages: Object.keys(Module._cache).map((f) => f.split('node_modules/').pop()),
    }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`node exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('what the sidecar process loads', () => {
  it("leaves out node's bundled undici, tls, http2, zlib, crypto, fs/promises and prom-client's index", () => {
    const { builtins, packages } = loadedBy('sidecar/main.ts');
    expect(builtins).toContain('http');
    expect(builtins.filter((m) => /^(tls|http2|zlib|crypto|fs\/promises|worker_threads|internal\/deps\/undici\/undici)$/.test(m))).toEqual([]);
    expect(packages).toContain('prom-client/lib/registry.js');
    expect(packages.filter((p) => p.startsWith('prom-client/') && !p.startsWith('prom-client/lib/')).concat(packages.filter((p) => /pushgateway|defaultMetrics|@opentelemetry/.test(p)))).toEqual([]);
  });
});

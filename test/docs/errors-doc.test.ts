import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const parts = ['lib', 'discover', 'sidecar', 'dns', 'admission', 'cli'];

function sources(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('docs/errors.md', () => {
  it('documents every error code the source uses', () => {
    const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
    const codes = new Set<string>();
    for (const part of parts) {
      for (const file of sources(join(root, part))) {
        // Codes are what error constructors and log lines carry (`super('SIDEMESH_…'`, `new XError('SIDEMESH_…'`,
        // `code: 'SIDEMESH_…'`); env var names such as SIDEMESH_CACHE_DIR are not codes.
        for (const m of readFileSync(file, 'utf8').matchAll(/(?:super|Error|code:)\s*\(?\s*['"`](SIDEMESH_[A-Z0-9_]+)['"`]/g)) codes.add(m[1]);
      }
    }
    expect(codes.size).toBeGreaterThan(0);
    const missing = [...codes].filter((c) => !doc.includes('`' + c + '`'));
    expect(missing).toEqual([]);
  });
});

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// ../shared/STYLE.md, "Layout": imports flow one way, parts → lib; the four parts never import each
// other; only discover/ and admission/ touch @kubernetes/client-node; nothing imports test/ or bench/.
const root = join(import.meta.dirname, '..', '..');
const parts = ['discover', 'sidecar', 'dns', 'admission'];

function sources(dir: string): string[] {
  let out: string[] = [];
  let entries: string[] = [];
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

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

describe('layering', () => {
  it('lib imports no part, and no part imports another part, test/ or bench/', () => {
    const bad: string[] = [];
    for (const dir of ['lib', ...parts]) {
      for (const file of sources(join(root, dir))) {
        for (const spec of imports(file)) {
          if (!spec.startsWith('.')) continue;
          const target = relative(root, join(file, '..', spec)).split('/')[0];
          const allowed = dir === 'lib' ? ['lib'] : [dir, 'lib'];
          // The sidecar's composition root may start the DNS server (ARCHITECTURE.md).
          if (dir === 'sidecar' && target === 'dns' && file.endsWith('sidecar/main.ts')) continue;
          if (!allowed.includes(target)) bad.push(`${relative(root, file)} imports ${spec}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('only discover/ and admission/ touch @kubernetes/client-node', () => {
    const bad: string[] = [];
    for (const dir of ['lib', 'sidecar', 'dns']) {
      for (const file of sources(join(root, dir))) {
        if (imports(file).some((s) => s.startsWith('@kubernetes/'))) bad.push(relative(root, file));
      }
    }
    expect(bad).toEqual([]);
  });
});

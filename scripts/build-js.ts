/**
 * Strips TypeScript types into plain .js for the container images (`node scripts/build-js.ts
 * <out> <folder>…`). Node runs .ts directly, but its type stripper costs ~20 MB of anonymous memory
 * per process, a third of the sidecar's 64 MiB budget. Uses Node's own stripper
 * (`module.stripTypeScriptTypes`, which keeps every position), so the output is the source minus
 * its types, with relative `.ts` import specifiers rewritten to `.js`. No dependency.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const SPECIFIER = /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]+)\.ts\2/g;

export function toJs(source: string): string {
  return stripTypeScriptTypes(source, { mode: 'strip' }).replace(SPECIFIER, '$1$2$3.js$2');
}

export function buildJs(root: string, out: string, folders: readonly string[]): string[] {
  const written: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
        const target = join(out, relative(root, path)).replace(/\.ts$/, '.js');
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, toJs(readFileSync(path, 'utf8')));
        written.push(target);
      }
    }
  };
  for (const folder of folders) walk(join(root, folder));
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module', private: true }) + '\n');
  return written;
}

if (import.meta.main) {
  // stripTypeScriptTypes is flagged experimental; its warning is noise in an image build log.
  process.removeAllListeners('warning');
  const [out, ...folders] = process.argv.slice(2);
  if (out === undefined || folders.length === 0) {
    process.stderr.write('usage: node scripts/build-js.ts <out-dir> <folder>...\n');
    process.exit(2);
  }
  const files = buildJs(resolve(import.meta.dirname, '..'), resolve(out), folders);
  process.stdout.write(`build-js: ${files.length} files into ${out}\n`);
}

/**
 * Regenerates the example document in docs/discover.md ("## Example document"): discover runs in
 * this process on examples/mesh.yaml and the block is replaced by what it serves. A test
 * (test/docs/discover-example.test.ts) fails when the docs and the compiler disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFileDiscover } from '../cli/file-discover.ts';
import type { ResourceDocument } from '../lib/contract.ts';
import { silentLogger } from '../lib/log.ts';
import { resourcesPath } from '../lib/names.ts';

const root = join(import.meta.dirname, '..');
export const DOCS = join(root, 'docs', 'discover.md');
const BLOCK = /(## Example document[\s\S]*?```json\n)([\s\S]*?)(\n```)/;

/** The document discover serves for demo/web/mesh from examples/mesh.yaml. */
export async function exampleDocument(): Promise<ResourceDocument> {
  const { discover } = await startFileDiscover(join(root, 'examples', 'mesh.yaml'), 0, silentLogger);
  try {
    const res = await fetch(discover.url + resourcesPath('demo', 'web', 'mesh'));
    return (await res.json()) as ResourceDocument;
  } finally {
    await discover.close();
  }
}

/** The example as the docs show it now. */
export function documentedExample(): unknown {
  const m = BLOCK.exec(readFileSync(DOCS, 'utf8'));
  if (!m) throw new Error('docs/discover.md has no "## Example document" json block');
  return JSON.parse(m[2]);
}

if (import.meta.main) {
  const doc = await exampleDocument();
  const text = readFileSync(DOCS, 'utf8');
  writeFileSync(DOCS, text.replace(BLOCK, (_all, head: string, _old: string, tail: string) => head + JSON.stringify(doc, null, 2) + tail));
  process.stdout.write(`docs/discover.md: example document version ${doc.version}\n`);
}

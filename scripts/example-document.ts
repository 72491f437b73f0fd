/**
 * Regenerates the example document in docs/discover.md ("## Example document"): discover runs in
 * this process on examples/mesh.yaml and the block is replaced by what it serves. A test
 * (test/docs/discover-example.test.ts) fails when the docs and the compiler disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDiscover } from '../discover/app.ts';
import { FileSource } from '../discover/file-source.ts';
import type { ResourceDocument } from '../lib/contract.ts';
import { silentLogger } from '../lib/log.ts';
import { DEFAULT_CLUSTER_DOMAIN, DEFAULT_VIP_CIDR, resourcesPath } from '../lib/names.ts';

const root = join(import.meta.dirname, '..');
export const DOCS = join(root, 'docs', 'discover.md');
const BLOCK = /(## Example document[\s\S]*?```json\n)([\s\S]*?)(\n```)/;

/** The document discover serves for demo/web/mesh from examples/mesh.yaml. */
export async function exampleDocument(): Promise<ResourceDocument> {
  const source = new FileSource({ file: join(root, 'examples', 'mesh.yaml'), logger: silentLogger });
  await source.start();
  const s = source.settings;
  const discover = await startDiscover({
    source,
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger,
    clusterDomain: s.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN,
    dnsUpstreams: s.dnsUpstreams ?? [],
    dnsTtlSeconds: s.dnsTtlSeconds ?? 5,
    vipCidr: DEFAULT_VIP_CIDR,
    maxWaitMs: 1000,
    debounceMs: 0,
  });
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

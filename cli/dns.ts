/**
 * `sidemesh dns`: the responder on its own. With `--document` it serves a fixed discover document
 * (dns/main.ts). With `--file mesh.yaml` it compiles the mesh file exactly as discover does (an
 * in-process discover on an ephemeral loopback port, long-polled by the sidecar's own client), so
 * edits to the file change the answers live. A composition root: it may import several parts.
 */
import { parseArgs } from 'node:util';
import { runDns, usage as documentUsage } from '../dns/main.ts';
import type { Env } from '../lib/env.ts';
import { resourcesPath } from '../lib/names.ts';
import { DiscoverClient } from '../sidecar/discover-client.ts';
import { SidecarMetrics } from '../sidecar/metrics.ts';
import type * as FileDiscover from './file-discover.ts';
import type * as MeshWorkload from './mesh-workload.ts';

export const usage = `${documentUsage}
Or from a mesh file, no Kubernetes and no discover process needed:

  sidemesh dns --file <mesh.yaml> [--workload <ns/service>] [--listen ip:port] [--upstream ip:port]

  --file <mesh.yaml>        compile the file as discover would, and follow its edits
  --workload <ns/service>   whose names to answer (default: the file's first workload)
`;

// `--file` compiles the mesh file with discover's own code, which the sidecar image does not carry
// (Dockerfile.sidecar builds bin, cli, lib, sidecar and dns): loaded only in that mode, so
// `sidemesh dns --document` and `--help` work there. Computed specifiers, as in cli/sidemesh.ts.
const ext = import.meta.url.endsWith('.js') ? '.js' : '.ts';

async function loadFileMode(): Promise<[typeof FileDiscover, typeof MeshWorkload] | undefined> {
  try {
    return await Promise.all([import('./file-discover' + ext) as Promise<typeof FileDiscover>, import('./mesh-workload' + ext) as Promise<typeof MeshWorkload>]);
  } catch (err) {
    const missing = err && typeof err === 'object' && 'code' in err && err.code === 'ERR_MODULE_NOT_FOUND';
    if (missing && /Cannot find module '[^']*\/(discover\/[^']*|cli\/(file-discover|mesh-workload)\.(ts|js))'/.test(String((err as { message?: unknown }).message))) return undefined;
    throw err;
  }
}

export async function main(args: string[], env: Env): Promise<number> {
  const { values, tokens } = parseArgs({ args, options: { file: { type: 'string' }, workload: { type: 'string' } }, strict: false, tokens: true });
  const file = typeof values.file === 'string' ? values.file : undefined;
  if (file === undefined) return runDns(args, env);
  const workloadArg = typeof values.workload === 'string' ? values.workload : undefined;
  const fileMode = await loadFileMode();
  if (fileMode === undefined) {
    process.stderr.write('sidemesh dns: --file needs discover/, which this build does not include (the sidecar image); use --document, or run it from a source checkout\n');
    return 2;
  }
  const [{ startFileDiscover }, { pickWorkload }] = fileMode;
  // Hand the responder's own flags (--listen, --upstream) on, without ours.
  const ours = new Set(['file', 'workload']);
  const rest: string[] = [];
  for (const t of tokens ?? []) {
    if (t.kind === 'option' && ours.has(t.name)) continue;
    if (t.kind === 'option') rest.push(t.rawName, ...(t.value !== undefined && !t.inlineValue ? [t.value] : []));
    else if (t.kind === 'positional') rest.push(t.value);
  }
  return runDns(rest, env, async (apply, logger) => {
    const { source, discover } = await startFileDiscover(file, 0, logger.child({ part: 'discover' }));
    let workload: ReturnType<typeof pickWorkload>;
    try {
      workload = pickWorkload(source.view, workloadArg);
    } catch (err) {
      // runDns only closes the responder: a discover left listening would keep the process alive.
      await discover.close();
      throw err;
    }
    let applied = false;
    const client = new DiscoverClient({
      url: discover.url + resourcesPath(workload.namespace, workload.service, workload.plugin),
      waitMs: 30_000,
      backoffCapMs: 5_000,
      metrics: new SidecarMetrics(),
      log: logger,
      hasConfig: () => applied,
      onDocument: async (doc) => {
        apply(doc.dns);
        applied = true;
      },
    });
    client.start();
    logger.info('dns following mesh file', { file, workload });
    return async () => {
      await client.close();
      await discover.close();
    };
  });
}

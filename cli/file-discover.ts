import { startDiscover, type RunningDiscover } from '../discover/app.ts';
import { FileSource } from '../discover/file-source.ts';
import type { Logger } from '../lib/log.ts';
import { DEFAULT_CLUSTER_DOMAIN, DEFAULT_VIP_CIDR } from '../lib/names.ts';

/**
 * discover over a mesh file, in this process, on 127.0.0.1: what `sidemesh up` and
 * `sidemesh dns --file` run instead of a discover Deployment. The file's own clusterDomain and dns
 * settings apply; edits to the file reach every poller.
 */
export async function startFileDiscover(file: string, port: number, logger: Logger): Promise<{ source: FileSource; discover: RunningDiscover }> {
  const source = new FileSource({ file, logger });
  await source.start();
  const s = source.settings;
  const discover = await startDiscover({
    source,
    host: '127.0.0.1',
    port,
    logger,
    clusterDomain: s.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN,
    dnsUpstreams: s.dnsUpstreams ?? [],
    dnsTtlSeconds: s.dnsTtlSeconds ?? 5,
    vipCidr: DEFAULT_VIP_CIDR,
    maxWaitMs: 60_000,
    debounceMs: 10,
  });
  return { source, discover };
}

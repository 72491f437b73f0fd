/**
 * `sidemesh discover`: reads the environment and flags, starts the source and the API, and shuts
 * down cleanly on SIGTERM/SIGINT (parked long-polls are answered 304 first).
 */
import type { Env } from '../lib/env.ts';
import { ConfigError, SidemeshError } from '../lib/errors.ts';
import { createLogger } from '../lib/log.ts';
import { systemClock } from '../lib/clock.ts';
import { startDiscover } from './app.ts';
import { loadDiscoverConfig } from './config.ts';
import { FileSource } from './file-source.ts';
import type { ClusterSource } from './model.ts';

export const usage = `usage: sidemesh discover [--file <mesh.yaml>] [--kubeconfig <path>]

Serves each workload's compiled document at /v1/resources/{namespace}/{service}/{plugin}
(long-poll with If-None-Match + ?wait=30s), plus Rainbond's /v1 routes, /healthz, /readyz, /metrics.

  --file <mesh.yaml>    read the cluster from a mesh file (watched for edits) instead of Kubernetes
  --kubeconfig <path>   kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)

environment:
  DISCOVER_PORT   6100 (0 = any free port; the bound address is logged as "discover listening")
  DISCOVER_HOST   0.0.0.0
  CLUSTER_DOMAIN  cluster.local
  DNS_UPSTREAMS   nameservers of /etc/resolv.conf, on :53 (comma list of ip[:port])
  DNS_TTL         5s
  VIP_CIDR        127.128.0.0/16
  MAX_WAIT        60s    cap on ?wait=
  DEBOUNCE        10ms   quiet time before recompiling after a change
  LOG_LEVEL       info
`;

function parseFlags(args: string[]): { file?: string; kubeconfig?: string } {
  const out: { file?: string; kubeconfig?: string } = {};
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (flag !== '--file' && flag !== '--kubeconfig') {
      problems.push(`unknown argument ${JSON.stringify(a)}`);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined || value === '') problems.push(`${flag} needs a value`);
    else if (flag === '--file') out.file = value;
    else out.kubeconfig = value;
  }
  if (out.file !== undefined && out.kubeconfig !== undefined) problems.push('--file and --kubeconfig exclude each other');
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

export async function main(args: string[], env: Env): Promise<number> {
  let config;
  let flags;
  try {
    flags = parseFlags(args);
    config = loadDiscoverConfig(env);
  } catch (err) {
    process.stderr.write(`sidemesh discover: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const logger = createLogger({ component: 'discover' }, { level: config.logLevel });
  let source: ClusterSource;
  let settings = {};
  try {
    if (flags.file !== undefined) {
      const file = new FileSource({ file: flags.file, logger, clock: systemClock });
      source = file;
      // Start now (start() is idempotent) so the file's clusterDomain/dns override the environment's.
      await file.start();
      settings = file.settings;
    } else {
      const { createKubeSource } = await import('./kube-source.ts');
      source = createKubeSource({ logger, clock: systemClock, ...(flags.kubeconfig !== undefined ? { kubeconfigPath: flags.kubeconfig } : {}) });
    }
  } catch (err) {
    logger.error('discover failed to start', { err });
    process.stderr.write(`sidemesh discover: ${(err as Error).message}\n`);
    return 1;
  }
  const s = settings as { clusterDomain?: string; dnsUpstreams?: string[]; dnsTtlSeconds?: number };
  let running;
  try {
    running = await startDiscover({
      source,
      host: config.host,
      port: config.port,
      logger,
      clock: systemClock,
      clusterDomain: s.clusterDomain ?? config.clusterDomain,
      dnsUpstreams: s.dnsUpstreams ?? config.dnsUpstreams,
      dnsTtlSeconds: s.dnsTtlSeconds ?? config.dnsTtlSeconds,
      vipCidr: config.vipCidr,
      maxWaitMs: config.maxWaitMs,
      debounceMs: config.debounceMs,
    });
  } catch (err) {
    logger.error('discover failed to start', { err, code: err instanceof SidemeshError ? err.code : undefined });
    process.stderr.write(`sidemesh discover: ${(err as Error).message}\n`);
    await source.close();
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      logger.info('discover stopping', { signal });
      running.close().then(
        () => resolve(0),
        (err) => {
          logger.error('discover stop failed', { err });
          resolve(1);
        },
      );
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

/**
 * `sidemesh dns`: the responder on its own, fed from a JSON file (a discover document or a bare
 * DnsConfig). SIGTERM/SIGINT close it and exit 0. In a pod the sidecar hosts the responder instead.
 */
import { readFileSync } from 'node:fs';
import type { DnsConfig } from '../lib/contract.ts';
import { decodeDocument } from '../lib/contract-decoder.ts';
import type { Env } from '../lib/env.ts';
import { ConfigError, SidemeshError } from '../lib/errors.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { loadDnsConfig } from './config.ts';
import { DnsDocumentError } from './errors.ts';
import { DnsServer } from './server.ts';

export const usage = `usage: sidemesh dns --document <file.json> [--listen ip:port] [--upstream ip:port]...

Answers the mesh names of a discover document with their loopback VIPs and forwards every other
name to the upstream resolvers, over UDP and TCP.

  --document <file.json>  a discover document (its "dns" part is used) or a bare DnsConfig
  --listen <ip:port>      where to listen (default 127.0.0.1:53; port 0 = any free port)
  --upstream <ip:port>    replaces the document's upstreams (repeatable)

environment:
  DNS_ADDR                      127.0.0.1:53
  DNS_UPSTREAMS                 (the document's) comma list of ip:port
  DNS_UPSTREAM_TIMEOUT          1500ms  SERVFAIL after this
  DNS_UPSTREAM_ATTEMPT_TIMEOUT  500ms   then the next upstream is tried
  DNS_CACHE_MAX_ENTRIES         10000
  DNS_CACHE_MAX_TTL             3600s
  DNS_TCP                       true
  DNS_TCP_IDLE_TIMEOUT          10s
  DNS_SEARCH_SHORTCUT           true    NXDOMAIN for provable search-list misses
  LOG_LEVEL                              info
`;

/** Reads `file`: a whole discover document, or just its `dns` object. */
export function readDnsDocument(file: string): DnsConfig {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DnsDocumentError(file, 'cannot read it as JSON', { cause: err });
  }
  const isDocument = value !== null && typeof value === 'object' && 'dns' in value && 'listeners' in value;
  // A bare DnsConfig is checked by wrapping it in the smallest valid document.
  const doc = isDocument
    ? value
    : { version: '0', workload: { namespace: '-', service: '-', plugin: '-' }, status: { state: 'ok', errors: [], source: 'config' }, listeners: [], routes: [], clusters: [], dns: value };
  try {
    return decodeDocument(doc).dns;
  } catch (err) {
    throw new DnsDocumentError(file, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/**
 * Something other than a `--document` file that keeps the responder's records current (the CLI's
 * `--file mesh.yaml` mode). It calls `apply` with each new DnsConfig and returns how to stop.
 */
export type DnsFeed = (apply: (dns: DnsConfig) => void, logger: Logger) => Promise<() => Promise<void>>;

export function main(args: string[], env: Env): Promise<number> {
  return runDns(args, env);
}

export async function runDns(args: string[], env: Env, feed?: DnsFeed): Promise<number> {
  let config;
  let dns: DnsConfig | undefined;
  try {
    config = loadDnsConfig(args, env, { documentRequired: feed === undefined });
    if (feed === undefined) dns = readDnsDocument(config.document);
  } catch (err) {
    if (err instanceof SidemeshError) {
      process.stderr.write(`sidemesh dns: ${err.message}\n${err instanceof ConfigError ? `\n${usage}` : ''}`);
      return 1;
    }
    throw err;
  }
  const logger = createLogger({ component: 'dns' }, { level: config.logLevel });
  const server = new DnsServer({
    host: config.host,
    port: config.port,
    logger,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    upstreamAttemptTimeoutMs: config.upstreamAttemptTimeoutMs,
    cacheMaxEntries: config.cacheMaxEntries,
    cacheMaxTtlSeconds: config.cacheMaxTtlSeconds,
    tcp: config.tcp,
    tcpIdleTimeoutMs: config.tcpIdleTimeoutMs,
    searchShortcut: config.searchShortcut,
  });
  const upstreams = config.upstreams;
  const apply = (next: DnsConfig) => server.update(upstreams ? { ...next, upstreams: [...upstreams] } : next);
  if (dns !== undefined) apply(dns);
  let stopFeed: () => Promise<void> = async () => {};
  try {
    await server.start();
    if (feed !== undefined) stopFeed = await feed(apply, logger);
  } catch (err) {
    logger.error('dns responder failed to start', { err });
    process.stderr.write(`sidemesh dns: ${(err as Error).message}\n`);
    await server.close();
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info('dns responder stopping', { signal });
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      void stopFeed()
        .then(() => server.close())
        .then(() => resolve(0));
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

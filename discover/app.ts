/**
 * Composition: a ClusterSource, the snapshot cache, long-polls and the HTTP API, started together
 * and closed in reverse. Used by discover/main.ts, by `sidemesh up`, and by tests.
 */
import type { Clock } from '../lib/clock.ts';
import { systemClock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { DiscoverHttpServer } from './http-server.ts';
import { LongPolls } from './long-poll.ts';
import { createMetrics } from './metrics.ts';
import type { ClusterSource } from './model.ts';
import { SnapshotCache } from './snapshot-cache.ts';
import { parseVipCidr } from './vip.ts';
import type { VipCidr } from './vip.ts';

export interface DiscoverOptions {
  source: ClusterSource;
  host: string;
  port: number;
  logger: Logger;
  clock?: Clock;
  clusterDomain: string;
  dnsUpstreams: string[];
  dnsTtlSeconds: number;
  /** A parsed CIDR or its text (e.g. `127.128.0.0/16`). */
  vipCidr: VipCidr | string;
  maxWaitMs: number;
  debounceMs: number;
  /** Randomness for long-poll jitter; tests pass a constant. */
  random?: () => number;
}

export interface RunningDiscover {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startDiscover(options: DiscoverOptions): Promise<RunningDiscover> {
  const clock = options.clock ?? systemClock;
  const vipCidr = typeof options.vipCidr === 'string' ? parseVipCidr(options.vipCidr) : options.vipCidr;
  if ('error' in vipCidr) throw new TypeError(`vipCidr: ${vipCidr.error}`);
  const { source, logger } = options;
  const metrics = createMetrics(() => source.states());
  await source.start();
  const cache = new SnapshotCache({
    source,
    clusterDomain: options.clusterDomain,
    dnsUpstreams: options.dnsUpstreams,
    dnsTtlSeconds: options.dnsTtlSeconds,
    vipCidr,
    clock,
    debounceMs: options.debounceMs,
    logger,
    metrics,
  });
  cache.start();
  const polls = new LongPolls(clock, metrics.parked);
  cache.onDocument((key) => polls.wake(key));
  cache.retainWhile((key) => polls.has(key));
  const server = new DiscoverHttpServer({ cache, polls, maxWaitMs: options.maxWaitMs, random: options.random ?? Math.random, source, metrics, logger });
  let port: number;
  try {
    port = await server.listen(options.host, options.port);
  } catch (err) {
    cache.close();
    await source.close();
    throw err;
  }
  const shown = options.host === '0.0.0.0' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${shown}:${port}`;
  logger.info('discover listening', { url, host: options.host, port });
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close: () =>
      (closing ??= (async () => {
        await server.close();
        cache.close();
        await source.close();
      })()),
  };
}

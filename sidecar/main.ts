/**
 * `sidemesh sidecar`: reads the environment (config.ts), runs a Sidecar, and exits 0 after a
 * graceful drain on SIGTERM, SIGINT or POST /quitquitquit. A second signal cuts the drain short.
 * A bad start-up config exits 1 at once, listing every problem.
 */
import type { Env } from '../lib/env.ts';
import { ConfigError } from '../lib/errors.ts';
import { createLogger } from '../lib/log.ts';
import { loadSidecarConfig } from './config.ts';
import { Sidecar } from './sidecar.ts';
import { DnsServer } from '../dns/server.ts';

export const usage = `usage: sidemesh sidecar

The in-pod proxy: polls DISCOVER_URL, binds outbound VIP listeners and inbound listeners,
serves admin on 127.0.0.1:15000 and metrics on 0.0.0.0:15090.

environment (see docs/sidecar.md for every variable):
  DISCOVER_URL                  required: http://discover:6100/v1/resources/{ns}/{service}/{plugin}
  NAMESPACE, SERVICE_ALIAS, PLUGIN_ID, POD_NAME, POD_IP
  SIDEMESH_ADMIN_ADDR           127.0.0.1:15000
  SIDEMESH_METRICS_ADDR         0.0.0.0:15090
  SIDEMESH_CACHE_DIR            /var/run/sidemesh
  SIDEMESH_DRAIN_GRACE_PERIOD   20s
  SIDEMESH_DNS_ENABLED          true
  SIDEMESH_DNS_ADDR             127.0.0.1:53
  SIDEMESH_DISCOVER_WAIT        30s
  LOG_LEVEL                     info
`;

export async function main(_args: string[], env: Env): Promise<number> {
  let config;
  try {
    config = loadSidecarConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sidemesh sidecar: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const log = createLogger({ component: 'sidecar', pod: config.podName }, { level: config.logLevel });

  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let sidecar: Sidecar | undefined;
  let dns: DnsServer | undefined;
  // DNS stops last: the app may resolve names until its own last request has drained.
  const shutdown = () => {
    void sidecar
      ?.close()
      .then(() => dns?.close())
      .then(stop, stop);
  };

  sidecar = new Sidecar({
    config,
    log,
    onQuit: shutdown,
    // Runs after each document's listeners had their bind attempt, so a mesh name never
    // resolves to a VIP nobody listens on (and stops resolving once its Service is gone).
    onDocumentApplied: (doc) => dns?.update(doc.dns),
  });
  if (config.dnsEnabled) {
    dns = new DnsServer({ host: config.dns.host, port: config.dns.port, logger: log.child({ part: 'dns' }), registry: sidecar.metrics.registry });
    try {
      await dns.start();
    } catch (err) {
      // The pod's resolv.conf points at us: without the responder no name resolves. Fail loudly.
      log.error('dns responder failed to start', { err, address: config.dns });
      process.stderr.write(`sidemesh sidecar: cannot serve DNS on ${config.dns.host}:${config.dns.port}: ${(err as Error).message}\n`);
      return 1;
    }
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn('second signal, exiting without drain', { signal });
      process.exit(1);
    }
    log.info('signal received, draining', { signal, graceMs: config.drainGraceMs });
    shutdown();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await sidecar.start();
  } catch (err) {
    log.error('sidecar failed to start', { err });
    await sidecar.close(0);
    await dns?.close();
    return 1;
  }
  await stopped;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return 0;
}

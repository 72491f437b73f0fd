/**
 * `sidemesh admission`: reads the config, gets a serving certificate (files, or `--self-signed`),
 * keeps the webhook's caBundle in sync, serves until SIGTERM/SIGINT, then drains and exits 0.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../lib/env.ts';
import { type Clock, systemClock } from '../lib/clock.ts';
import { ConfigError, errorCode } from '../lib/errors.ts';
import { createLogger } from '../lib/log.ts';
import { CaBundleSync } from './ca-bundle-sync.ts';
import { type AdmissionConfig, flagsToEnv, loadAdmissionConfig } from './config.ts';
import { kubeWebhookConfigClient } from './kube-webhook-client.ts';
import { AdmissionMetrics } from './metrics.ts';
import { createSelfSignedTls, type TlsMaterial, writeTlsMaterial } from './self-signed.ts';
import { AdmissionServer } from './server.ts';
import { TlsReloader } from './tls-reloader.ts';

export const usage = `usage: sidemesh admission [options]

The mutating webhook that injects the sidemesh sidecar into pods (docs/admission.md).
Every option is also an env var: --sidecar-image x  ≡  SIDECAR_IMAGE=x (the flag wins).

serving
  --port N                    HTTPS port for /mutate (default 8443)
  --host ADDR                 bind address (default 0.0.0.0)
  --metrics-port N            plain-HTTP /metrics /healthz /readyz (default 9090; 0 = off)
  --tls-cert-file PATH        serving certificate (default /etc/sidemesh/tls/tls.crt), reloaded on change
  --tls-key-file PATH         its key (default /etc/sidemesh/tls/tls.key)
  --tls-ca-file PATH          CA to publish in the webhook's caBundle (file mode; optional)
  --tls-reload-interval D     how often the files are stat'ed besides fs.watch (default 30s)
  --self-signed               make a CA and a serving certificate in memory instead of reading files
  --self-signed-dir DIR       also write them there (ca.crt, tls.crt, tls.key)
  --service-name NAME         webhook Service, for the certificate's names (default sidemesh-admission)
  --pod-namespace NS          our namespace (default sidemesh-system; never injected)
  --webhook-config-name NAME  MutatingWebhookConfiguration to keep in sync (default sidemesh-admission)
  --ca-bundle-sync BOOL       patch its caBundle (default true with --self-signed or --tls-ca-file)
  --ca-bundle-sync-interval D reconcile period (default 60s)
  --max-body-bytes N          largest AdmissionReview accepted (default 4194304)
  --log-level LEVEL           debug, info, warn, error, silent (default info)

injection defaults (each has a pod annotation override, see docs/admission.md)
  --sidecar-image IMAGE       default sidemesh/sidecar:<version>
  --native-sidecar BOOL       init container with restartPolicy Always (default true; false before k8s 1.29)
  --pod-dns BOOL              dnsPolicy None through the sidecar's DNS (default true)
  --copy-env BOOL             share the main container's env with the sidecar (default true)
  --proxy-cpu-request Q       default 10m      --proxy-memory-request Q   default 32Mi
  --proxy-cpu-limit Q         default none     --proxy-memory-limit Q     default 128Mi
  --ready-timeout D           how long the sidecar may take to become ready (default 120s)
  --ready-probe http|exec     startup probe: GET :15090/ready (default), or exec node in the sidecar
  --cluster-domain NAME       default cluster.local
  --cluster-dns-ip IP         the cluster DNS Service IP, the fallback nameserver (default 10.96.0.10)
  --expanded-dns-config BOOL  the API server takes 32 DNS searches (k8s >= 1.28), not 6
                              (default: as --native-sidecar)
  --discover-service NAME     default sidemesh-discover   --discover-namespace NS  default: ours
  --discover-port N           default 6100
  --excluded-namespaces LIST  never injected, besides kube-system and ours (comma-separated)
`;

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

const RENEW_CHECK_MS = 12 * 3_600_000;
const RENEW_BEFORE_MS = 30 * 86_400_000;

export async function main(args: string[], env: Env, clock: Clock = systemClock): Promise<number> {
  let config: Readonly<AdmissionConfig>;
  try {
    config = loadAdmissionConfig({ ...env, ...flagsToEnv(args) }, packageVersion());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`sidemesh admission: ${err.message}\n`);
    return 1;
  }
  const log = createLogger({ component: 'admission' }, { level: config.logLevel });
  const metrics = new AdmissionMetrics({ processMetrics: true });

  let material: TlsMaterial | undefined;
  let reloader: TlsReloader | undefined;
  let tls: { cert: string; key: string; notAfterMs: number };
  const makeSelfSigned = (): TlsMaterial => {
    const m = createSelfSignedTls({ serviceName: config.serviceName, namespace: config.namespace, clusterDomain: config.inject.clusterDomain, nowMs: clock.now() });
    if (config.selfSignedDir) writeTlsMaterial(config.selfSignedDir, m);
    return m;
  };
  try {
    if (config.selfSigned) {
      material = makeSelfSigned();
      tls = { cert: material.certPem, key: material.keyPem, notAfterMs: material.notAfterMs };
    } else {
      reloader = new TlsReloader({
        certFile: config.tlsCertFile,
        keyFile: config.tlsKeyFile,
        intervalMs: config.tlsReloadIntervalMs,
        clock,
        log,
        onReload: (pair) => {
          server.setTls(pair);
          metrics.certExpiry.set(pair.notAfterMs / 1000);
        },
        onResult: (r) => metrics.tlsReloads.labels(r).inc(),
      });
      tls = reloader.start();
    }
  } catch (err) {
    process.stderr.write(`sidemesh admission: ${(err as Error).message}\n`);
    log.error('tls unusable', { err, code: errorCode(err) });
    return 1;
  }
  metrics.certExpiry.set(tls.notAfterMs / 1000);

  let sync: CaBundleSync | undefined;
  if (config.caBundleSync) {
    const caFile = config.tlsCaFile;
    sync = new CaBundleSync({
      client: kubeWebhookConfigClient(),
      configName: config.webhookConfigName,
      caPem: () => (material ? material.caPem : readFileSync(caFile!, 'utf8')),
      intervalMs: config.caBundleSyncIntervalMs,
      clock,
      log,
      onResult: (r) => metrics.caBundleSyncs.labels(r).inc(),
    });
  }

  const server: AdmissionServer = new AdmissionServer({
    host: config.host,
    port: config.port,
    metricsPort: config.metricsPort,
    tls,
    inject: config.inject,
    metrics,
    maxBodyBytes: config.maxBodyBytes,
    log,
    // Ready once the API server trusts our CA, so a new replica gets no review it would fail.
    readyWhen: () => sync === undefined || sync.synced,
  });

  // Self-signed certificates live as long as the process, renewed well before they expire.
  let renewTimer: unknown;
  const renewLoop = () => {
    renewTimer = clock.setTimeout(() => {
      if (material && material.notAfterMs - clock.now() < RENEW_BEFORE_MS) {
        material = makeSelfSigned();
        server.setTls({ cert: material.certPem, key: material.keyPem });
        metrics.certExpiry.set(material.notAfterMs / 1000);
        sync?.trigger();
        log.info('self-signed certificate renewed', { notAfter: new Date(material.notAfterMs).toISOString() });
      }
      renewLoop();
    }, RENEW_CHECK_MS);
  };

  // Handlers first: a SIGTERM that arrives while binding must still end in a clean exit.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info('admission stopping', { signal });
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  try {
    const bound = await server.start();
    log.info('admission listening', { port: bound.port, metricsPort: bound.metricsPort, selfSigned: config.selfSigned, caBundleSync: config.caBundleSync });
  } catch (err) {
    log.error('cannot listen', { err, code: errorCode(err) });
    reloader?.close();
    return 1;
  }
  sync?.start();
  if (material) renewLoop();

  await stopped;
  clock.clearTimeout(renewTimer);
  reloader?.close();
  await Promise.all([server.close(), sync?.close()]);
  log.info('admission stopped');
  return 0;
}

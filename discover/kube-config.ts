import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeConfigInvalidError, KubeConfigMissingError } from './kube-errors.ts';

export interface KubeConfigInput {
  kubeConfig?: KubeConfig;
  kubeconfigPath?: string;
  /** Default process.env: only KUBECONFIG, KUBERNETES_SERVICE_HOST and HOME are read. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default fs.existsSync; tests inject one. */
  exists?: (path: string) => boolean;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The KubeConfig to use, in order: the one given, `kubeconfigPath`, `KUBECONFIG`, `~/.kube/config`,
 * the in-cluster service account. We decide ourselves rather than trusting loadFromDefault, because
 * that one silently falls back to http://localhost:8080 when it finds nothing, and discover would
 * then retry forever against a port that is not the cluster. Throws a KubeConfig*Error instead.
 */
export function loadKubeConfig(input: KubeConfigInput): KubeConfig {
  if (input.kubeConfig) return checked(input.kubeConfig, undefined);
  const env = input.env ?? process.env;
  const exists = input.exists ?? existsSync;
  const file = input.kubeconfigPath ?? firstPath(env.KUBECONFIG);
  if (file !== undefined) {
    if (!exists(file)) throw new KubeConfigMissingError(`kubeconfig ${file} does not exist`);
    return fromFile(file);
  }
  const home = env.HOME ?? homedir();
  const homeConfig = home ? join(home, '.kube', 'config') : undefined;
  if (homeConfig && exists(homeConfig)) return fromFile(homeConfig);
  if (env.KUBERNETES_SERVICE_HOST && exists(SERVICE_ACCOUNT_TOKEN)) {
    const kc = new KubeConfig();
    try {
      kc.loadFromCluster();
    } catch (err) {
      throw new KubeConfigInvalidError(undefined, 'in-cluster configuration cannot be loaded', { cause: err });
    }
    return checked(kc, undefined);
  }
  throw new KubeConfigMissingError(
    'no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
  );
}

function firstPath(v: string | undefined): string | undefined {
  const first = v?.split(process.platform === 'win32' ? ';' : ':').find((s) => s.trim() !== '');
  return first?.trim();
}

function fromFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw new KubeConfigInvalidError(file, `cannot be loaded: ${(err as Error).message}`, { cause: err });
  }
  return checked(kc, file);
}

function checked(kc: KubeConfig, file: string | undefined): KubeConfig {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeConfigInvalidError(file, `current context ${JSON.stringify(kc.getCurrentContext())} names no cluster`);
  try {
    new URL(cluster.server);
  } catch {
    throw new KubeConfigInvalidError(file, `cluster ${cluster.name} has no valid server URL (${JSON.stringify(cluster.server)})`);
  }
  return kc;
}

import { SidemeshError } from '../lib/errors.ts';

/** No kubeconfig could be found: no option, no KUBECONFIG, no ~/.kube/config, not running in a pod. */
export class KubeConfigMissingError extends SidemeshError {
  constructor(message: string) {
    super('SIDEMESH_KUBE_CONFIG_MISSING', message);
  }
}

/** A kubeconfig was found but cannot be used (unreadable, not YAML, no current cluster). */
export class KubeConfigInvalidError extends SidemeshError {
  readonly file: string | undefined;

  constructor(file: string | undefined, message: string, options?: { cause?: unknown }) {
    super('SIDEMESH_KUBE_CONFIG_INVALID', file ? `kubeconfig ${file}: ${message}` : `kubeconfig: ${message}`, options);
    this.file = file;
  }
}

/** An informer stopped on an error (list failed, watch cut); it is restarted with backoff. Logged, never thrown to callers. */
export class KubeInformerError extends SidemeshError {
  readonly informer: string;
  readonly statusCode: number | undefined;

  constructor(informer: string, cause: unknown) {
    const status = statusOf(cause);
    const text = cause instanceof Error ? cause.message : String(cause);
    super('SIDEMESH_KUBE_INFORMER_FAILED', `${informer} informer stopped: ${status !== undefined ? `HTTP ${status} ` : ''}${text}`, { cause });
    this.informer = informer;
    this.statusCode = status;
  }
}

/** An object from the API cannot be converted; it is skipped (warn log + counter), the rest of the view stands. */
export class KubeObjectMalformedError extends SidemeshError {
  constructor(informer: string, key: string, reason: string) {
    super('SIDEMESH_KUBE_OBJECT_MALFORMED', `${informer} ${key}: ${reason}`);
  }
}

/** The HTTP status of a client error: `statusCode` (watch) or `code` (generated API's ApiException). */
function statusOf(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

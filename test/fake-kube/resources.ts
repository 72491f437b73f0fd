/**
 * The resources the fake API server serves, and how request paths map onto them. Paths are the real
 * ones: `/api/v1/{resource}` for the core group, `/apis/{group}/{version}/{resource}` otherwise, each
 * with an optional `namespaces/{ns}/` (namespaced resources only) and a trailing `/{name}` for a
 * single object.
 */
export interface ResourceInfo {
  /** Plural, as in the URL. */
  resource: string;
  kind: string;
  apiVersion: string;
  /** URL prefix of the group/version: `/api/v1` or `/apis/discovery.k8s.io/v1`. */
  prefix: string;
  /** False for cluster-scoped resources: no metadata.namespace, no `namespaces/{ns}/` path. */
  namespaced: boolean;
}

export const RESOURCES: readonly ResourceInfo[] = [
  { resource: 'services', kind: 'Service', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  { resource: 'endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', prefix: '/apis/discovery.k8s.io/v1', namespaced: true },
  { resource: 'pods', kind: 'Pod', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  { resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  {
    resource: 'mutatingwebhookconfigurations',
    kind: 'MutatingWebhookConfiguration',
    apiVersion: 'admissionregistration.k8s.io/v1',
    prefix: '/apis/admissionregistration.k8s.io/v1',
    namespaced: false,
  },
];

export function resourceByKind(kind: string): ResourceInfo {
  const r = RESOURCES.find((x) => x.kind === kind || x.resource === kind);
  if (!r) throw new Error(`fake-kube: unsupported kind ${JSON.stringify(kind)}`);
  return r;
}

export interface ParsedPath {
  info: ResourceInfo;
  namespace?: string;
  name?: string;
}

/** Maps a request path onto a resource, or undefined (the server answers 404). */
export function parsePath(pathname: string): ParsedPath | undefined {
  for (const info of RESOURCES) {
    if (!pathname.startsWith(info.prefix + '/')) continue;
    const rest = pathname.slice(info.prefix.length + 1).split('/').map(decodeURIComponent);
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      if (!info.namespaced) continue;
      namespace = rest[1];
      rest.splice(0, 2);
    }
    if (rest[0] !== info.resource || rest.length > 2 || rest.some((s) => s === '')) continue;
    return { info, namespace, name: rest[1] };
  }
  return undefined;
}

/** A Status object as the API server sends it for errors (also the `object` of an ERROR watch event). */
export function statusObject(code: number, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: reasonFor(code), code };
}

function reasonFor(code: number): string {
  switch (code) {
    case 400: return 'BadRequest';
    case 401: return 'Unauthorized';
    case 403: return 'Forbidden';
    case 404: return 'NotFound';
    case 405: return 'MethodNotAllowed';
    case 409: return 'Conflict';
    case 410: return 'Expired';
    case 415: return 'UnsupportedMediaType';
    case 422: return 'Invalid';
    case 429: return 'TooManyRequests';
    case 504: return 'Timeout';
    case 503: return 'ServiceUnavailable';
    default: return 'InternalError';
  }
}

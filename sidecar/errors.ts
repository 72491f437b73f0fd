/**
 * The sidecar's error classes. Codes are stable (`SIDEMESH_SIDECAR_*`, listed in docs/errors.md);
 * the data plane classifies by class, and proxy-error.ts turns each into a response cause.
 */
import { SidemeshError } from '../lib/errors.ts';

/** A cluster's circuit breaker (maxConnections) refused a new upstream connection. */
export class UpstreamOverflowError extends SidemeshError {
  constructor(cluster: string) {
    super('SIDEMESH_SIDECAR_OVERFLOW', `circuit breaker open for cluster ${cluster}`);
  }
}

/** The cluster's whole-request timeout (`policy.requestTimeoutMs`) expired; used as the abort reason. */
export class RequestTimeoutError extends SidemeshError {
  constructor(ms: number) {
    super('SIDEMESH_SIDECAR_REQUEST_TIMEOUT', `request did not complete within ${ms} ms`);
  }
}

/** The downstream client went away before the response was complete; used as the abort reason. */
export class ClientClosedError extends SidemeshError {
  constructor() {
    super('SIDEMESH_SIDECAR_CLIENT_CLOSED', 'client closed the connection');
  }
}

/** A listener could not bind its address (address in use, not assignable); it stays degraded and is retried. */
export class ListenerBindError extends SidemeshError {
  readonly listener: string;

  constructor(listener: string, address: string, port: number, cause: unknown) {
    super('SIDEMESH_SIDECAR_LISTENER_BIND', `listener ${listener} cannot bind ${address}:${port}`, { cause });
    this.listener = listener;
  }
}

/** discover could not be reached or answered with an unexpected status; the last good document stays in force. */
export class DiscoverUnavailableError extends SidemeshError {
  readonly status: number | undefined;

  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super('SIDEMESH_SIDECAR_DISCOVER_UNAVAILABLE', message, options);
    this.status = status;
  }
}

/** A document from discover (or the disk cache) failed to decode; the last good document stays in force. */
export class DocumentRejectedError extends SidemeshError {
  constructor(source: 'discover' | 'cache', cause: unknown) {
    super('SIDEMESH_SIDECAR_DOCUMENT_REJECTED', `document from ${source} rejected`, { cause });
  }
}

/** The on-disk document cache could not be read or written; the sidecar runs on without it. */
export class CacheIoError extends SidemeshError {
  constructor(file: string, cause: unknown) {
    super('SIDEMESH_SIDECAR_CACHE_IO', `document cache ${file} unusable`, { cause });
  }
}

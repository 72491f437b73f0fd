/**
 * discover's error classes. Each carries a stable `SIDEMESH_DISCOVER_*` code (docs/errors.md) and,
 * for the HTTP API, the status it maps to, so handlers never pick a status by message text.
 */
import { SidemeshError } from '../lib/errors.ts';
import type { ConfigProblem } from '../lib/contract.ts';

/** Something the HTTP API answers with a JSON error body `{"error":{"code","message"}}`. */
export class DiscoverHttpError extends SidemeshError {
  readonly status: number;

  constructor(code: string, status: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

/** Unknown workload, Service, port or route config. */
export class NotFoundError extends DiscoverHttpError {
  constructor(message: string) {
    super('SIDEMESH_DISCOVER_NOT_FOUND', 404, message);
  }
}

/** A malformed path or query parameter. */
export class BadRequestError extends DiscoverHttpError {
  constructor(message: string) {
    super('SIDEMESH_DISCOVER_BAD_REQUEST', 400, message);
  }
}

export class MethodNotAllowedError extends DiscoverHttpError {
  constructor(method: string) {
    super('SIDEMESH_DISCOVER_METHOD_NOT_ALLOWED', 405, `method ${method} is not allowed; use GET`);
  }
}

/** The cluster view has not been listed completely yet: answering would hand out a partial mesh. */
export class NotSyncedError extends DiscoverHttpError {
  constructor() {
    super('SIDEMESH_DISCOVER_NOT_SYNCED', 503, 'the cluster view is not synced yet; retry shortly');
  }
}

/**
 * A workload's plugin config does not validate. Never thrown at a client: it is logged once per
 * transition and shown in the document's `status`.
 */
export class PluginConfigError extends SidemeshError {
  readonly problems: readonly ConfigProblem[];

  constructor(workload: string, problems: readonly ConfigProblem[]) {
    super('SIDEMESH_DISCOVER_PLUGIN_CONFIG_INVALID', `plugin config of ${workload} is invalid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    this.problems = problems;
  }
}

/** A `sidemesh.io/vip` pin that cannot be honoured (malformed, outside the CIDR, or taken by an older Service). */
export class VipPinError extends SidemeshError {
  constructor(service: string, message: string) {
    super('SIDEMESH_DISCOVER_VIP_PIN_REJECTED', `${service}: ${message}`);
  }
}

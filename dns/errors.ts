import { SidemeshError } from '../lib/errors.ts';

/** The responder could not bind its UDP or TCP socket (port in use, no permission for :53). */
export class DnsBindError extends SidemeshError {
  readonly address: string;

  constructor(address: string, options?: { cause?: unknown }) {
    super('SIDEMESH_DNS_BIND_FAILED', `cannot bind the DNS responder on ${address}`, options);
    this.address = address;
  }
}

/** `sidemesh dns --document <file>` names a file that cannot be read or is neither a discover document nor a DnsConfig. */
export class DnsDocumentError extends SidemeshError {
  readonly file: string;

  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super('SIDEMESH_DNS_DOCUMENT_INVALID', `DNS document ${file}: ${reason}`, options);
    this.file = file;
  }
}

/** An upstream resolver did not answer usefully (timeout, socket error, REFUSED); logged once per transition. */
export class DnsUpstreamError extends SidemeshError {
  readonly upstream: string;
  readonly reason: 'timeout' | 'error' | 'refused';

  constructor(upstream: string, reason: 'timeout' | 'error' | 'refused', options?: { cause?: unknown }) {
    super('SIDEMESH_DNS_UPSTREAM_FAILED', `DNS upstream ${upstream} failed: ${reason}`, options);
    this.upstream = upstream;
    this.reason = reason;
  }
}

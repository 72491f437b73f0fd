/**
 * Serves whatever certificate is on disk now. cert-manager and kubelet rotate a mounted Secret by
 * swapping a `..data` symlink in the directory, which plain file watches miss, so this watches the
 * directories (fs.watch) and also stats both files every interval (watches are best effort on
 * network and overlay filesystems). A new pair that does not parse, or whose key does not match the
 * certificate, is refused with a warning: the previous one stays in use.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { type Clock, systemClock } from '../lib/clock.ts';
import { SidemeshError } from '../lib/errors.ts';
import { type Logger, silentLogger } from '../lib/log.ts';

/** A certificate/key pair that cannot be used (unreadable, unparseable, or not matching). */
export class TlsMaterialError extends SidemeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SIDEMESH_ADMISSION_TLS_INVALID', message, options);
  }
}

export interface TlsPair {
  cert: string;
  key: string;
  notAfterMs: number;
}

/** Reads and checks a pair; throws TlsMaterialError. */
export function readTlsPair(certFile: string, keyFile: string): TlsPair {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, 'utf8');
    key = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw new TlsMaterialError(`cannot read ${certFile} / ${keyFile}`, { cause: err });
  }
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('the key does not match the certificate');
    return { cert, key, notAfterMs: Date.parse(x509.validTo) };
  } catch (err) {
    throw new TlsMaterialError(`${certFile}: ${(err as Error).message}`, { cause: err });
  }
}

export interface TlsReloaderOptions {
  certFile: string;
  keyFile: string;
  intervalMs: number;
  onReload: (pair: TlsPair) => void;
  onResult?: (result: 'ok' | 'error') => void;
  clock?: Clock;
  log?: Logger;
}

export class TlsReloader {
  readonly #o: TlsReloaderOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #watchers: FSWatcher[] = [];
  #timer: unknown;
  #stamp = '';
  #closed = false;

  constructor(options: TlsReloaderOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? silentLogger;
  }

  /** Loads the pair once (throws if unusable: a bad start-up config) and starts watching. */
  start(): TlsPair {
    const pair = readTlsPair(this.#o.certFile, this.#o.keyFile);
    this.#stamp = this.#fingerprint();
    for (const dir of new Set([dirname(this.#o.certFile), dirname(this.#o.keyFile)])) {
      try {
        const w = watch(dir, { persistent: false }, () => this.check());
        w.on('error', () => w.close());
        this.#watchers.push(w);
      } catch {
        // The periodic stat below still catches changes.
      }
    }
    this.#schedule();
    return pair;
  }

  /** Reloads if either file changed since the last load. Safe to call at any time. */
  check(): void {
    if (this.#closed) return;
    const stamp = this.#fingerprint();
    if (stamp === this.#stamp) return;
    this.#stamp = stamp;
    try {
      const pair = readTlsPair(this.#o.certFile, this.#o.keyFile);
      this.#o.onReload(pair);
      this.#o.onResult?.('ok');
      this.#log.info('tls reloaded', { certFile: this.#o.certFile, notAfter: new Date(pair.notAfterMs).toISOString() });
    } catch (err) {
      this.#o.onResult?.('error');
      this.#log.warn('tls reload refused', { certFile: this.#o.certFile, err });
    }
  }

  #fingerprint(): string {
    return [this.#o.certFile, this.#o.keyFile]
      .map((f) => {
        try {
          const s = statSync(f);
          return `${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.check();
      this.#schedule();
    }, this.#o.intervalMs);
  }

  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }
}

/**
 * The last good document on disk, so a restarted sidecar serves traffic before discover answers
 * (discover down during a node drain is exactly when pods restart). One file per workload, written
 * atomically (temp file in the same directory + rename): a crash mid-write leaves the old file.
 *
 * Failures never stop the sidecar: it warns once per transition and runs without a cache.
 */
import { join } from 'node:path';
import type { ResourceDocument } from '../lib/contract.ts';
import { decodeDocument } from '../lib/contract-decoder.ts';
import type { Logger } from '../lib/log.ts';
import { fs, util } from '../lib/node-builtins.ts';
import { CacheIoError, DocumentRejectedError } from './errors.ts';

// node:fs's callback API, not node:fs/promises, which loads more of node than this file needs.
const { promisify } = util;
const readFile = promisify(fs.readFile);
const writeFile = promisify(fs.writeFile);
const stat = promisify(fs.stat);
const rename = promisify(fs.rename);
const unlink = promisify(fs.unlink);
const mkdir = promisify(fs.mkdir);

export interface CachedDocument {
  readonly doc: ResourceDocument;
  readonly text: string;
  /** When the file was written: the last time discover confirmed this document, as far as we know. */
  readonly savedAtMs: number;
}

export class DocumentCache {
  readonly file: string;
  readonly #dir: string;
  readonly #log: Logger;
  #failing = false;

  constructor(dir: string, workload: { namespace: string; service: string; plugin: string }, log: Logger) {
    this.#dir = dir;
    const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
    this.file = join(dir, `resources_${safe(workload.namespace)}_${safe(workload.service)}_${safe(workload.plugin)}.json`);
    this.#log = log;
  }

  /** The cached document, or undefined when there is none or it does not decode (warned). */
  async load(): Promise<CachedDocument | undefined> {
    let text: string;
    let savedAtMs: number;
    try {
      [text, savedAtMs] = await Promise.all([readFile(this.file, 'utf8'), stat(this.file).then((s) => s.mtimeMs)]);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') this.#log.warn('document cache unreadable', { err: new CacheIoError(this.file, err) });
      return undefined;
    }
    try {
      return { doc: decodeDocument(JSON.parse(text)), text, savedAtMs };
    } catch (err) {
      this.#log.warn('cached document rejected', { file: this.file, err: new DocumentRejectedError('cache', err) });
      return undefined;
    }
  }

  /** Writes `text` atomically. Never throws. */
  async save(text: string): Promise<void> {
    const tmp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await mkdir(this.#dir, { recursive: true });
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, this.file);
      if (this.#failing) this.#log.info('document cache writable again', { file: this.file });
      this.#failing = false;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (!this.#failing) this.#log.warn('document cache unwritable', { err: new CacheIoError(this.file, err) });
      this.#failing = true;
    }
  }
}

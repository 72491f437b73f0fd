/**
 * A ClusterSource over a mesh file. Watches the file (fs.watch on its directory, since editors
 * replace files by rename, plus a poll as a fallback for filesystems without events), debounced.
 * A bad edit keeps the last good view in force and logs every problem once; the next good edit
 * replaces the whole view and emits `reset`.
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Clock } from '../lib/clock.ts';
import { systemClock } from '../lib/clock.ts';
import { MeshFileError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { parseMeshFile } from './mesh-file.ts';
import type { MeshFileSettings } from './mesh-file.ts';
import { emptyView } from './model.ts';
import type { ClusterSource, ClusterView, SourceState, ViewChange } from './model.ts';

export interface FileSourceOptions {
  file: string;
  logger: Logger;
  clock?: Clock;
  /** Re-read at least this often, in case file events are not delivered. Default 2000. */
  pollMs?: number;
  /** Quiet period after a file event before re-reading. Default 50. */
  debounceMs?: number;
}

export class FileSource implements ClusterSource {
  readonly view: ClusterView = emptyView();
  readonly #o: Required<Omit<FileSourceOptions, 'clock'>> & { clock: Clock };
  readonly #listeners: ((change: ViewChange) => void)[] = [];
  #settings: MeshFileSettings = {};
  #text: string | undefined;
  #watcher: FSWatcher | undefined;
  #pollTimer: unknown;
  #debounceTimer: unknown;
  #lastError: string | undefined;
  #state: SourceState['state'] = 'stopped';
  #synced = false;
  #reloading: Promise<void> = Promise.resolve();
  #starting: Promise<void> | undefined;

  constructor(options: FileSourceOptions) {
    this.#o = { pollMs: 2000, debounceMs: 50, clock: systemClock, ...options };
  }

  /** The file's clusterDomain/dns settings as of the last good read. */
  get settings(): MeshFileSettings {
    return this.#settings;
  }

  /**
   * Reads the file once; throws MeshFileError when it is unreadable or invalid (bad start-up config).
   * Idempotent: callers that need the file's settings before handing the source on start it early.
   */
  start(): Promise<void> {
    return (this.#starting ??= this.#start());
  }

  async #start(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#o.file, 'utf8');
    } catch (err) {
      throw new MeshFileError(this.#o.file, [`cannot read: ${(err as Error).message}`], { cause: err });
    }
    this.#apply(text, parseMeshFile(text, this.#o.file));
    this.#state = 'running';
    this.#synced = true;
    try {
      this.#watcher = watch(dirname(this.#o.file), (_event, name) => {
        if (name === null || name === basename(this.#o.file)) this.#schedule();
      });
      this.#watcher.on('error', () => this.#stopWatcher());
    } catch {
      // No inotify (or a watch limit): the poll below still picks up edits.
    }
    this.#poll();
  }

  async close(): Promise<void> {
    this.#state = 'stopped';
    this.#stopWatcher();
    this.#o.clock.clearTimeout(this.#pollTimer);
    this.#o.clock.clearTimeout(this.#debounceTimer);
    await this.#reloading;
  }

  synced(): boolean {
    return this.#synced;
  }

  states(): SourceState[] {
    const s: SourceState = { name: 'file', synced: this.#synced, state: this.#state, restarts: 0 };
    if (this.#lastError !== undefined) s.lastError = this.#lastError;
    return [s];
  }

  onChange(listener: (change: ViewChange) => void): void {
    this.#listeners.push(listener);
  }

  /** Re-reads the file now; resolves once applied (or rejected, keeping the last good view). */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(() => this.#reload());
    return this.#reloading;
  }

  #stopWatcher(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #schedule(): void {
    if (this.#state !== 'running') return;
    this.#o.clock.clearTimeout(this.#debounceTimer);
    this.#debounceTimer = this.#o.clock.setTimeout(() => void this.reload(), this.#o.debounceMs);
  }

  #poll(): void {
    if (this.#state !== 'running') return;
    this.#pollTimer = this.#o.clock.setTimeout(() => {
      void this.reload().then(() => this.#poll());
    }, this.#o.pollMs);
  }

  async #reload(): Promise<void> {
    if (this.#state !== 'running') return;
    let text: string;
    try {
      text = await readFile(this.#o.file, 'utf8');
    } catch (err) {
      return this.#reject(`cannot read: ${(err as Error).message}`, [String((err as Error).message)]);
    }
    if (text === this.#text) return;
    try {
      this.#apply(text, parseMeshFile(text, this.#o.file));
    } catch (err) {
      if (!(err instanceof MeshFileError)) throw err;
      this.#reject(err.message, err.problems);
      return;
    }
    if (this.#lastError !== undefined) this.#o.logger.info('mesh file valid again', { file: this.#o.file });
    this.#lastError = undefined;
    for (const l of this.#listeners) l({ kind: 'reset' });
  }

  #reject(message: string, problems: readonly string[]): void {
    if (this.#lastError === message) return;
    this.#lastError = message;
    this.#o.logger.warn('mesh file rejected, keeping the last good view', { file: this.#o.file, code: 'SIDEMESH_MESH_FILE_INVALID', problems });
  }

  #apply(text: string, parsed: { view: ClusterView; settings: MeshFileSettings }): void {
    this.#text = text;
    this.#settings = parsed.settings;
    // Swap the maps' contents in place: consumers hold this.view.
    for (const k of ['services', 'slices', 'pods', 'configs'] as const) {
      const target = this.view[k] as Map<string, unknown>;
      target.clear();
      for (const [key, v] of parsed.view[k] as Map<string, unknown>) target.set(key, v);
    }
  }
}

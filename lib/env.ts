import { ConfigError } from './errors.ts';
import { parseDurationMs } from './duration.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads typed settings from an injected env record and collects every problem, so a bad start-up
 * lists all mistakes at once (`finish()` throws one ConfigError). Each part has one config loader
 * built on this; the part's result is frozen.
 */
export class EnvReader {
  readonly #env: Env;
  readonly #problems: string[] = [];

  constructor(env: Env) {
    this.#env = env;
  }

  /** Adds a problem found by the caller's own cross-field checks. */
  problem(text: string): void {
    this.#problems.push(text);
  }

  #raw(name: string): string | undefined {
    const v = this.#env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  string(name: string, fallback: string): string {
    return this.#raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.#raw(name);
  }

  requiredString(name: string): string {
    const v = this.#raw(name);
    if (v === undefined) this.#problems.push(`${name} is required`);
    return v ?? '';
  }

  int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    const min = range.min ?? Number.MIN_SAFE_INTEGER;
    const max = range.max ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(n) || n < min || n > max) {
      this.#problems.push(`${name}=${JSON.stringify(raw)} must be an integer in [${min}, ${max}]`);
      return fallback;
    }
    return n;
  }

  port(name: string, fallback: number): number {
    return this.int(name, fallback, { min: 0, max: 65535 });
  }

  /** A duration (`250ms`, `30s`, `5m`; a bare number is `bareUnit`), returned in milliseconds. */
  durationMs(name: string, fallbackMs: number, bareUnit: 'ms' | 's' = 's'): number {
    const raw = this.#raw(name);
    if (raw === undefined) return fallbackMs;
    const ms = parseDurationMs(raw, bareUnit);
    if (ms === undefined) {
      this.#problems.push(`${name}=${JSON.stringify(raw)} is not a duration (e.g. 250ms, 30s, 5m)`);
      return fallbackMs;
    }
    return ms;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    const v = raw.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.#problems.push(`${name}=${JSON.stringify(raw)} must be true or false`);
    return fallback;
  }

  /** One of `values`, matched case-insensitively (`LOG_LEVEL=INFO` is `info`). */
  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    const hit = values.find((v) => v.toLowerCase() === raw.toLowerCase());
    if (hit !== undefined) return hit;
    this.#problems.push(`${name}=${JSON.stringify(raw)} must be one of ${values.join(', ')}`);
    return fallback;
  }

  /** Comma-separated list; empty entries dropped. */
  list(name: string, fallback: readonly string[]): string[] {
    const raw = this.#raw(name);
    if (raw === undefined) return [...fallback];
    return raw.split(',').map((s) => s.trim()).filter(Boolean);
  }

  /** An absolute http(s) URL with a host. */
  url(name: string, fallback?: string): string {
    const raw = this.#raw(name) ?? fallback;
    if (raw === undefined) {
      this.#problems.push(`${name} is required`);
      return '';
    }
    try {
      const u = new URL(raw);
      if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') throw new Error('no host');
      return raw;
    } catch {
      this.#problems.push(`${name}=${JSON.stringify(raw)} must be an http(s) URL with a host`);
      return '';
    }
  }

  /** Throws one ConfigError listing every problem found so far. */
  finish(): void {
    if (this.#problems.length > 0) throw new ConfigError(this.#problems);
  }
}

/**
 * JSON-lines logger. `msg` is a constant string that names the event; everything variable goes
 * into fields, so logs can be grepped and counted. One line per call, written synchronously.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go. Default: process.stderr. */
  write?: (line: string) => void;
  now?: () => number;
}

export function isLogLevel(value: string): value is LogLevel {
  return value in rank;
}

export function createLogger(base: LogFields, options: LoggerOptions = {}): Logger {
  const min = rank[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? Date.now;

  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
      if (rank[level] < min) return;
      const line: LogFields = { time: new Date(now()).toISOString(), level, msg, ...bound };
      if (fields) for (const [k, v] of Object.entries(fields)) line[k] = serialise(v);
      write(JSON.stringify(line) + '\n');
    };
    return {
      debug: (msg, fields) => emit('debug', msg, fields),
      info: (msg, fields) => emit('info', msg, fields),
      warn: (msg, fields) => emit('warn', msg, fields),
      error: (msg, fields) => emit('error', msg, fields),
      child: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make(base);
}

/** A logger that drops everything: for tests and benchmarks. */
export const silentLogger: Logger = createLogger({}, { level: 'silent' });

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const out: LogFields = { message: value.message, name: value.name };
    if ('code' in value && value.code !== undefined) out.code = value.code;
    if (value.cause !== undefined) out.cause = serialise(value.cause);
    return out;
  }
  return value;
}

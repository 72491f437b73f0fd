import { type Clock, systemClock } from '../../lib/clock.ts';
import { createLogger, type Logger } from '../../lib/log.ts';

/** The real clock, recording every delay asked of it: backoff tests read what was waited. */
export function recordingClock(): { clock: Clock; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    clock: {
      now: systemClock.now,
      setTimeout: (fn, ms) => {
        delays.push(ms);
        return systemClock.setTimeout(fn, ms);
      },
      clearTimeout: systemClock.clearTimeout,
    },
  };
}

/** A logger whose lines (parsed) land in `lines`. */
export function capturingLogger(): { logger: Logger; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  return { lines, logger: createLogger({}, { level: 'debug', write: (l) => lines.push(JSON.parse(l)) }) };
}

/** A clock whose timers fire only when the test says so: holds an informer in its backoff. */
export function manualClock(): { clock: Clock; pending: () => number; fireAll: () => void } {
  let timers = new Map<number, () => void>();
  let next = 1;
  return {
    pending: () => timers.size,
    fireAll: () => {
      const due = timers;
      timers = new Map();
      for (const fn of due.values()) fn();
    },
    clock: {
      now: systemClock.now,
      setTimeout: (fn) => {
        const id = next++;
        timers.set(id, fn);
        return id;
      },
      clearTimeout: (id) => {
        timers.delete(id as number);
      },
    },
  };
}

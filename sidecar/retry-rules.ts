/**
 * Whether a failed try of an HTTP request may be tried again (docs/sidecar.md "Retries"), before the
 * retry budget is asked. Pure: the caller passes how many tries were made and whether any request
 * body byte already went upstream (a body cannot be replayed once it started).
 */
import type { RetryPolicy } from '../lib/contract.ts';
import { isIdempotent } from './http-headers.ts';
import type { AttemptFailure } from './proxy-error.ts';

/** After a connect failure or a reset, with no response head sent to the client yet. */
export function failureRetryable(retry: RetryPolicy, attempts: number, method: string, bodyStarted: boolean, failure: AttemptFailure): boolean {
  if (attempts > retry.attempts) return false;
  if (failure === 'connect') return !bodyStarted;
  if (failure === 'reset') return !bodyStarted && isIdempotent(method) && retry.on.includes('reset');
  return false;
}

/** After an upstream response with a 5xx `status`. */
export function statusRetryable(retry: RetryPolicy, attempts: number, method: string, bodyStarted: boolean, status: number): boolean {
  if (attempts > retry.attempts || !isIdempotent(method) || bodyStarted) return false;
  for (const on of retry.on) {
    if (on === '5xx') return true;
    if (on === 'gateway-error' && (status === 502 || status === 503 || status === 504)) return true;
    if (on === 'retriable-status-codes' && retry.statuses.includes(status)) return true;
  }
  return false;
}

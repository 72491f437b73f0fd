/**
 * Circuit breaking (Envoy's cluster circuit breakers, Rainbond's MaxConnections, MaxRequests,
 * MaxPendingRequests, MaxActiveRetries): counters of what is in flight against the cluster's
 * limits. A refused acquire means the proxy fails fast (503 with the overflow reason) instead of
 * piling more work on a struggling service.
 *
 * Limits are read from the current policy on every acquire, so a new document applies at once;
 * the counts carry over, and if a limit drops below them, acquires fail until enough are released.
 * Every successful acquire must be paired with exactly one release (release below 0 is clamped).
 */
import type { CircuitBreaker } from '../../lib/contract.ts';

export class CircuitBreakerCounters {
  limits: CircuitBreaker;
  connections = 0;
  requests = 0;
  pending = 0;
  retries = 0;

  constructor(limits: CircuitBreaker) {
    this.limits = limits;
  }

  tryAcquireConnection(): boolean {
    if (this.connections >= this.limits.maxConnections) return false;
    this.connections++;
    return true;
  }

  releaseConnection(): void {
    if (this.connections > 0) this.connections--;
  }

  tryAcquireRequest(): boolean {
    if (this.requests >= this.limits.maxRequests) return false;
    this.requests++;
    return true;
  }

  releaseRequest(): void {
    if (this.requests > 0) this.requests--;
  }

  /** maxPendingRequests 0 means a request never waits for a connection: it fails at once. */
  tryAcquirePending(): boolean {
    if (this.pending >= this.limits.maxPendingRequests) return false;
    this.pending++;
    return true;
  }

  releasePending(): void {
    if (this.pending > 0) this.pending--;
  }

  /** maxActiveRetries 0 disables retries altogether. */
  tryAcquireRetry(): boolean {
    if (this.retries >= this.limits.maxActiveRetries) return false;
    this.retries++;
    return true;
  }

  releaseRetry(): void {
    if (this.retries > 0) this.retries--;
  }
}

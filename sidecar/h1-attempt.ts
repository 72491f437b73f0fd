/**
 * One try of a fast-path request on one endpoint: the upstream pool's user for that try. It forwards
 * the socket's events to its exchange (h1-exchange.ts), which decides what they mean; `done` and
 * `discard` let the exchange settle a try exactly once and drop a 5xx it is about to retry.
 */
import type { EndpointState } from './balancer/endpoint-state.ts';
import type { H1Exchange } from './h1-exchange.ts';
import type { ScannedHead } from './h1-heads.ts';
import type { EndpointPool, UpstreamConn, UpstreamUser } from './h1-upstream-pool.ts';
import type { AttemptFailure } from './proxy-error.ts';

export class H1Attempt implements UpstreamUser {
  readonly ex: H1Exchange;
  readonly ep: EndpointState;
  readonly pool: EndpointPool;
  conn: UpstreamConn | undefined;
  discard = false;
  done = false;

  constructor(ex: H1Exchange, ep: EndpointState, pool: EndpointPool) {
    this.ex = ex;
    this.ep = ep;
    this.pool = pool;
  }

  onUpstreamReady(conn: UpstreamConn): void {
    if (this.done) {
      // Gave up while connecting: the fresh socket carried nothing and can serve someone else.
      conn.user = undefined;
      conn.requestSent = true;
      this.pool.release(conn, true);
      return;
    }
    this.conn = conn;
    this.ex.onReady(this);
  }

  onUpstreamHead(status: number, statusText: string | undefined, raw: string[] | undefined, _keepAlive: boolean, scanned: ScannedHead | undefined): boolean {
    return this.ex.onHead(this, status, statusText, raw, scanned);
  }

  onUpstreamData(chunk: Buffer | string): void {
    this.ex.onData(this, chunk);
  }

  onUpstreamEnd(): void {
    this.ex.onEnd(this);
  }

  onUpstreamError(failure: AttemptFailure): void {
    this.ex.onError(this, failure);
  }

  onUpstreamBatch(start: boolean): void {
    const out = this.ex.client.out;
    if (start) out.begin();
    else out.end();
  }

  abort(): void {
    if (this.conn !== undefined) this.conn.abandon();
    else this.pool.cancel(this);
  }
}

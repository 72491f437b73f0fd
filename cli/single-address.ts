/**
 * `sidemesh up` where 127.0.0.0/8 is not all loopback (macOS routes only 127.0.0.1): every outbound
 * listener moves from its VIP to 127.0.0.1 on a port of its own, and every mesh name resolves to
 * 127.0.0.1. Names then need the mapped port (`curl http://orders:20000/`), which the banner prints.
 * A Service port keeps its local port across document updates, so edits to the mesh file do not
 * move what a user already typed.
 */
import type { ResourceDocument } from '../lib/contract.ts';

export const SINGLE_ADDRESS = '127.0.0.1';

export class SingleAddressPorts {
  readonly #ports = new Map<string, number>();
  #next: number;

  constructor(firstPort: number) {
    this.#next = firstPort;
  }

  /** The local port standing for `service` (`name.namespace`) on `port`. */
  portFor(service: string, port: number): number {
    const key = `${service}:${port}`;
    let local = this.#ports.get(key);
    if (local === undefined) this.#ports.set(key, (local = this.#next++));
    return local;
  }

  /** A copy of `doc` with outbound listeners on 127.0.0.1:<own port> and names answering 127.0.0.1. */
  rewrite(doc: ResourceDocument): ResourceDocument {
    return {
      ...doc,
      listeners: doc.listeners.map((l) => (l.direction === 'outbound' ? { ...l, address: SINGLE_ADDRESS, port: this.portFor(l.service, l.port) } : l)),
      dns: { ...doc.dns, records: doc.dns.records.map((r) => ({ ...r, address: SINGLE_ADDRESS })) },
    };
  }
}

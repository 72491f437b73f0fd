/**
 * The sidecar's live view of one upstream endpoint: the discover fields that can change between
 * documents (weight, EndpointSlice conditions) plus what only the data plane knows (`active`).
 *
 * A ClusterBalancer keeps the same object for an endpoint key across `update()`, so the proxy may hold
 * on to the object it got from `pick()` for the whole attempt and bracket it with onStart/onEnd even
 * if a new document arrives in between.
 */
import type { Endpoint } from '../../lib/contract.ts';

export interface EndpointState {
  /** "address:port" ("[v6]:port" for IPv6): the identity kept across updates. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  /** The port is a meshed peer's inbound listen port. */
  readonly meshed: boolean;
  /** Relative weight, ≥ 1. */
  weight: number;
  /** Requests (HTTP) or connections (TCP) in flight; least_request compares it. */
  active: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/** The identity of an endpoint: `10.0.0.1:80`, `[fd00::1]:80`. */
export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function createEndpointState(ep: Endpoint): EndpointState {
  return {
    key: endpointKey(ep.address, ep.port),
    address: ep.address,
    port: ep.port,
    meshed: ep.meshed,
    weight: Math.max(1, ep.weight),
    active: 0,
    ready: ep.ready,
    serving: ep.serving,
    terminating: ep.terminating,
  };
}

/**
 * Copies the mutable fields of a newer discover view into `state`.
 * `meshed` is part of how the proxy talks to the endpoint, so a change there needs a new state object
 * (the caller checks it with `sameIdentity`).
 */
export function refreshEndpointState(state: EndpointState, ep: Endpoint): void {
  state.weight = Math.max(1, ep.weight);
  state.ready = ep.ready;
  state.serving = ep.serving;
  state.terminating = ep.terminating;
}

export function sameIdentity(state: EndpointState, ep: Endpoint): boolean {
  return state.address === ep.address && state.port === ep.port && state.meshed === ep.meshed;
}

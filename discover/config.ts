/**
 * discover's settings from the environment: one loader, every problem listed at once, frozen result.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseHostPort } from '../lib/contract-decoder.ts';
import type { Env } from '../lib/env.ts';
import { EnvReader } from '../lib/env.ts';
import { isLogLevel } from '../lib/log.ts';
import type { LogLevel } from '../lib/log.ts';
import { DEFAULT_CLUSTER_DOMAIN, DEFAULT_VIP_CIDR, PORT_DISCOVER } from '../lib/names.ts';
import { parseVipCidr } from './vip.ts';
import type { VipCidr } from './vip.ts';

export interface DiscoverConfig {
  /** DISCOVER_PORT, default 6100; 0 picks a free port (tests, `sidemesh up`). */
  port: number;
  /** DISCOVER_HOST, default 0.0.0.0. */
  host: string;
  /** CLUSTER_DOMAIN, default cluster.local: the suffix of generated DNS names and search domains. */
  clusterDomain: string;
  /** DNS_UPSTREAMS (comma list of ip[:port]), default the nameservers of /etc/resolv.conf on :53: where sidecars forward non-mesh names. */
  dnsUpstreams: string[];
  /** DNS_TTL (duration, bare = seconds), default 5 s: how long apps may cache a VIP answer. */
  dnsTtlSeconds: number;
  /** VIP_CIDR, default 127.128.0.0/16: where Service VIPs are allocated; changing it moves every VIP. */
  vipCidr: VipCidr;
  /** MAX_WAIT (duration), default 60 s: the cap on a long-poll's `?wait=`. */
  maxWaitMs: number;
  /** DEBOUNCE (duration, bare = ms), default 10 ms: quiet time before recompiling after cluster changes. */
  debounceMs: number;
  /** LOG_LEVEL, default info. */
  logLevel: LogLevel;
}

/** `nameserver` lines of a resolv.conf, as ip:53. */
export function resolvConfUpstreams(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && isIP(m[1]) !== 0) out.push(isIP(m[1]) === 6 ? `[${m[1]}]:53` : `${m[1]}:53`);
  }
  return out;
}

function readResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

export function loadDiscoverConfig(env: Env, resolvConf: () => string = readResolvConf): Readonly<DiscoverConfig> {
  const r = new EnvReader(env);
  const port = r.port('DISCOVER_PORT', PORT_DISCOVER);
  const host = r.string('DISCOVER_HOST', '0.0.0.0');
  if (isIP(host) === 0) r.problem(`DISCOVER_HOST=${JSON.stringify(host)} must be an IP address`);
  const clusterDomain = r.string('CLUSTER_DOMAIN', DEFAULT_CLUSTER_DOMAIN).replace(/\.$/, '');
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(clusterDomain)) r.problem(`CLUSTER_DOMAIN=${JSON.stringify(clusterDomain)} is not a domain`);
  const rawUpstreams = r.list('DNS_UPSTREAMS', []);
  const dnsUpstreams = rawUpstreams.length > 0 ? rawUpstreams.map((u) => (isIP(u) === 4 ? `${u}:53` : isIP(u) === 6 ? `[${u}]:53` : u)) : resolvConfUpstreams(resolvConf());
  for (const u of dnsUpstreams) if (parseHostPort(u) === undefined) r.problem(`DNS_UPSTREAMS entry ${JSON.stringify(u)} must be ip or ip:port`);
  const dnsTtlMs = r.durationMs('DNS_TTL', 5000, 's');
  if (dnsTtlMs > 86_400_000) r.problem('DNS_TTL must be at most 1 day');
  const cidr = parseVipCidr(r.string('VIP_CIDR', DEFAULT_VIP_CIDR));
  if ('error' in cidr) r.problem(`VIP_CIDR: ${cidr.error}`);
  const maxWaitMs = r.durationMs('MAX_WAIT', 60_000, 's');
  const debounceMs = r.durationMs('DEBOUNCE', 10, 'ms');
  const logLevel = r.string('LOG_LEVEL', 'info');
  if (!isLogLevel(logLevel)) r.problem(`LOG_LEVEL=${JSON.stringify(logLevel)} must be debug, info, warn, error or silent`);
  r.finish();
  return Object.freeze({
    port,
    host,
    clusterDomain,
    dnsUpstreams: Object.freeze(dnsUpstreams) as string[],
    dnsTtlSeconds: Math.round(dnsTtlMs / 1000),
    vipCidr: Object.freeze(cidr as VipCidr),
    maxWaitMs,
    debounceMs,
    logLevel: logLevel as LogLevel,
  });
}

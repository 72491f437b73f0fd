/**
 * prom-client's Registry and metric classes, loaded without its index. The index also loads the
 * Pushgateway (node:http, https, url), the default process metrics (perf_hooks, v8) and exemplar
 * support: in a sidecar, whose target is 64 MiB RSS at full load, that was ~17 MiB of resident
 * memory (node binary pages and heap) for code it never runs (docs/sidecar.md, Memory).
 * The values are the index's own classes (test/lib/prom.test.ts checks it), typed by its declarations.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry: typeof PromClient.Registry = require('prom-client/lib/registry');
export const Counter: typeof PromClient.Counter = require('prom-client/lib/counter');
export const Gauge: typeof PromClient.Gauge = require('prom-client/lib/gauge');
export const Histogram: typeof PromClient.Histogram = require('prom-client/lib/histogram');

export type Registry = PromClient.Registry;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;

/**
 * `GET /v1/resources/{ns}/{service}/{plugin}`: the workload document, with ETag and long-poll.
 * With `If-None-Match` naming the current version and `?wait=30s`, the request parks until the
 * document changes (200 with the new one), the workload disappears (404) or the wait ends (304).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WorkloadRef } from '../lib/contract.ts';
import { parseDurationMs } from '../lib/duration.ts';
import { BadRequestError, NotFoundError } from './errors.ts';
import { parseIfNoneMatch, sendEmpty, sendJson } from './http-respond.ts';
import type { LongPolls } from './long-poll.ts';
import type { SnapshotCache } from './snapshot-cache.ts';
import { workloadKey } from './view-index.ts';

export interface ResourcesDeps {
  cache: SnapshotCache;
  polls: LongPolls;
  maxWaitMs: number;
  /** Source of randomness in [0, 1) for the wait jitter. */
  random: () => number;
}

/** The wait a poll really parks for: capped, then shortened by up to 10 % so a fleet does not wake in lockstep. */
export function effectiveWaitMs(requestedMs: number, maxWaitMs: number, random: () => number): number {
  const capped = Math.min(requestedMs, maxWaitMs);
  // Shortened rather than lengthened: a client's own timeout is usually set just above its wait.
  return Math.max(0, Math.round(capped - capped * 0.1 * random()));
}

function requestedWait(url: URL): number | undefined {
  const raw = url.searchParams.get('wait');
  if (raw === null) return undefined;
  const ms = parseDurationMs(raw, 's');
  if (ms === undefined) throw new BadRequestError(`wait=${JSON.stringify(raw)} is not a duration (e.g. 30s, 500ms)`);
  return ms;
}

export async function serveResources(req: IncomingMessage, res: ServerResponse, url: URL, ref: WorkloadRef, deps: ResourcesDeps): Promise<void> {
  const wait = requestedWait(url);
  const doc = deps.cache.get(ref);
  if (doc === undefined) throw new NotFoundError(`no workload ${ref.namespace}/${ref.service} (plugin ${ref.plugin}): no meshed pod, plugin config or Service of that name`);
  const known = parseIfNoneMatch(req.headers['if-none-match']);
  const current = known.includes(doc.version) || known.includes('*');
  if (!current) return sendJson(res, 200, doc, { etag: `"${doc.version}"` });
  if (wait === undefined || wait === 0) return sendEmpty(res, 304, { etag: `"${doc.version}"` });

  const abort = new AbortController();
  const onClose = () => abort.abort();
  res.on('close', onClose);
  const result = await deps.polls.park(workloadKey(ref.namespace, ref.service, ref.plugin), effectiveWaitMs(wait, deps.maxWaitMs, deps.random), abort.signal);
  res.off('close', onClose);
  if (result === 'aborted') {
    res.destroy();
    return;
  }
  const next = result === 'shutdown' ? doc : deps.cache.get(ref);
  if (next === undefined) throw new NotFoundError(`workload ${ref.namespace}/${ref.service} (plugin ${ref.plugin}) was removed`);
  if (next.version !== doc.version) return sendJson(res, 200, next, { etag: `"${next.version}"` });
  sendEmpty(res, 304, { etag: `"${next.version}"` });
}

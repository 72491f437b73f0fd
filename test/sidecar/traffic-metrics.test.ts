import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SidecarMetrics } from '../../sidecar/metrics.ts';
import { DURATION_BUCKETS } from '../../sidecar/traffic-metrics.ts';

/** The text prom-client itself writes for the same observations, labelled calls and all. */
async function reference(durations: [string, string, number][], requests: [string, string, string, number, string][]): Promise<string> {
  const registry = new Registry();
  const registers = [registry];
  const requestCounter = new Counter({ name: 'sidemesh_requests_total', help: 'HTTP requests proxied, by response code (0: no response sent).', labelNames: ['direction', 'source_service', 'destination_service', 'response_code', 'method'], registers });
  const h = new Histogram({ name: 'sidemesh_request_duration_seconds', help: 'HTTP request duration seen by the sidecar, from request head to last response byte.', labelNames: ['direction', 'destination_service'], buckets: [...DURATION_BUCKETS], registers });
  for (const [d, s, t, status, method] of requests) requestCounter.labels(d, s, t, String(status), method).inc();
  for (const [d, t, v] of durations) h.labels(d, t).observe(v);
  return registry.metrics();
}

/** One metric family's lines; series order within a family carries no meaning, so sorted. */
function section(text: string, name: string): string[] {
  const block = text.split('\n\n').find((s) => s.startsWith(`# HELP ${name} `)) ?? '';
  const [help, type, ...series] = block.trimEnd().split('\n');
  return [help, type, ...series.sort()];
}

describe('traffic metrics folded at scrape time', () => {
  it('writes the same exposition as labelled prom-client calls per request', async () => {
    const m = new SidecarMetrics();
    const a = m.traffic('outbound', 'web.default', 'api.default');
    const b = m.traffic('outbound', 'cron.default', 'api.default');
    const c = m.traffic('inbound', 'unknown', 'web.default');
    expect(m.traffic('outbound', 'web.default', 'api.default')).toBe(a);
    const values = [0, 0.0005, 0.0007, 0.001, 0.3, 30, 31, 2.5];
    const durations: [string, string, number][] = [];
    const requests: [string, string, string, number, string][] = [];
    values.forEach((v, i) => {
      const t = [a, b, c][i % 3];
      t.finished(v, 10, 20);
      durations.push([t.labels.direction, t.labels.destination_service, v]);
      const status = i % 2 === 0 ? 200 : 503;
      // Runs of the same method and status, and changes of either (the last count is cached).
      for (const method of ['GET', 'GET', i % 4 === 2 ? 'POST' : 'GET', 'GET'].slice(0, 1 + (i % 4))) {
        t.request(status, method);
        requests.push([t.labels.direction, t.labels.source_service, t.labels.destination_service, status, method]);
      }
    });
    const want = await reference(durations, requests);
    const got = await m.registry.metrics();
    expect(section(got, 'sidemesh_request_duration_seconds')).toEqual(section(want, 'sidemesh_request_duration_seconds'));
    expect(section(got, 'sidemesh_requests_total')).toEqual(section(want, 'sidemesh_requests_total'));
  });

  it('counts what arrives between scrapes once', async () => {
    const m = new SidecarMetrics();
    const t = m.traffic('outbound', 'web.default', 'api.default');
    t.finished(0.002, 5, 0);
    t.retries++;
    await m.registry.metrics();
    t.finished(0.002, 7, 0);
    t.retries++;
    const text = await m.registry.metrics();
    expect(text).toContain('sidemesh_request_bytes_total{direction="outbound",source_service="web.default",destination_service="api.default"} 12');
    expect(text).toContain('sidemesh_retries_total{destination_service="api.default"} 2');
    expect(text).toContain('sidemesh_request_duration_seconds_count{direction="outbound",destination_service="api.default"} 2');
    expect(text).not.toContain('sidemesh_response_bytes_total{');
  });
});

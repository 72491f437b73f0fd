/**
 * Every metric the webhook exports, in one place (STYLE.md convention 7). Labels are bounded:
 * `result` and `reason` come from fixed sets, never from a pod, namespace or path.
 * A registry per instance, so tests and several servers in one process do not share counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReviewResult, ReviewSkip } from './review.ts';

/** prom-client's default process_* and nodejs_* metrics get this prefix. */
const PROCESS_PREFIX = 'sidemesh_admission_';

export class AdmissionMetrics {
  readonly registry = new Registry();

  /** One per review: injected, skipped, error (allowed with a warning) or invalid (400). */
  readonly reviews = new Counter({
    name: 'sidemesh_admission_reviews_total',
    help: 'AdmissionReviews answered, by result (injected, skipped, error, invalid).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly skips = new Counter({
    name: 'sidemesh_admission_skips_total',
    help: 'Pods not injected, by reason (opted-out, host-network, already-injected, excluded-namespace, not-injectable, not-pod-create).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly duration = new Histogram({
    name: 'sidemesh_admission_duration_seconds',
    help: 'Time from the end of the request body to the response, in seconds.',
    labelNames: ['result'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly tlsReloads = new Counter({
    name: 'sidemesh_admission_tls_reloads_total',
    help: 'Serving certificate (re)loads, by result (ok, error). On error the previous certificate stays in use.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly certExpiry = new Gauge({
    name: 'sidemesh_admission_cert_expiry_timestamp_seconds',
    help: 'notAfter of the serving certificate in use, as a Unix timestamp.',
    registers: [this.registry],
  });

  readonly caBundleSyncs = new Counter({
    name: 'sidemesh_admission_ca_bundle_syncs_total',
    help: 'caBundle reconciles of the MutatingWebhookConfiguration, by result (unchanged, patched, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: PROCESS_PREFIX });
      // Gauges named like counters: `promtool check metrics` refuses them. The same counts stay
      // available by type in nodejs_active_{handles,requests,resources}.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(PROCESS_PREFIX + name);
      }
    }
    for (const result of ['injected', 'skipped', 'error', 'invalid']) this.reviews.labels(result).inc(0);
  }

  observe(result: ReviewResult, skipped: ReviewSkip | undefined, seconds: number): void {
    this.reviews.labels(result).inc();
    if (skipped) this.skips.labels(skipped).inc();
    this.duration.labels(result).observe(seconds);
  }
}

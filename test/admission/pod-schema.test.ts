import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { reviewAdmission } from '../../admission/review.ts';
import { validateObject } from '../deploy/k8s-schema.ts';
import { applyResponsePatch, fixture, options } from './helpers.ts';

// The API server validates the pod after every mutating webhook: an injected pod that breaks the Pod
// schema would fail the user's deployment. Checked against the OpenAPI schema (kubernetes-models).
describe('injected pods validate against the Pod schema', () => {
  for (const name of ['deployment-pod.json', 'conflicting-ports.json', 'job-pod.json', 'custom-dns-pod.json', 'dry-run.json']) {
    it(name, () => {
      const review = fixture(name);
      const response = JSON.parse(reviewAdmission(JSON.stringify(review), options).body).response;
      const pod = applyResponsePatch(review.request.object, response) as V1Pod & { apiVersion: string; kind: string };
      // creationTimestamp: null is how the API server sends an unset time; the schema wants a string.
      delete pod.metadata!.creationTimestamp;
      expect(() => validateObject(pod)).not.toThrow();
      const names = [...(pod.spec!.initContainers ?? []), ...pod.spec!.containers].flatMap((c) => (c.ports ?? []).flatMap((p) => (p.name ? [p.name] : [])));
      // Port names: unique in the pod, ≤ 15 characters, IANA_SVC_NAME.
      expect(new Set(names).size).toBe(names.length);
      for (const n of names) expect(n).toMatch(/^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/);
    });
  }
});

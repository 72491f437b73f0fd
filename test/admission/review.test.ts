import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { reviewAdmission } from '../../admission/review.ts';
import { fixture, fixtureText, options } from './helpers.ts';

const review = (body: unknown) => reviewAdmission(typeof body === 'string' ? body : JSON.stringify(body), options);

describe('reviewAdmission: the response contract', () => {
  it('copies the uid and answers in the request apiVersion', () => {
    const req = fixture('deployment-pod.json');
    const out = JSON.parse(review(req).body);
    expect(out.apiVersion).toBe('admission.k8s.io/v1');
    expect(out.kind).toBe('AdmissionReview');
    expect(out.response.uid).toBe(req.request.uid);
    req.apiVersion = 'admission.k8s.io/v1beta1';
    expect(JSON.parse(review(req).body).apiVersion).toBe('admission.k8s.io/v1beta1');
  });

  it('skips anything but CREATE of a pod, without a patch', () => {
    const req = fixture('deployment-pod.json');
    req.request.operation = 'UPDATE';
    expect(review(req)).toMatchObject({ status: 200, result: 'skipped', skipped: 'not-pod-create' });
    const svc = fixture('deployment-pod.json');
    (svc.request as Record<string, unknown>).kind = { group: '', version: 'v1', kind: 'Service' };
    expect(JSON.parse(review(svc).body).response).toEqual({ uid: svc.request.uid, allowed: true });
    const eph = fixture('deployment-pod.json');
    eph.request.subResource = 'ephemeralcontainers';
    expect(review(eph).skipped).toBe('not-pod-create');
  });

  it('falls back to metadata.namespace and warns when there is none at all', () => {
    const req = fixture('dry-run.json');
    req.request.namespace = '';
    expect(review(req).result).toBe('injected');
    delete req.request.object.metadata!.namespace;
    const out = review(req);
    expect(out).toMatchObject({ status: 200, result: 'error' });
    expect(JSON.parse(out.body).response.warnings[0]).toMatch(/namespace/);
  });
});

describe('reviewAdmission: bad input', () => {
  it('answers 400 JSON to bodies that are not AdmissionReviews', () => {
    for (const body of ['', 'null', '[]', '42', '{', '{"kind":"AdmissionReview"}', '{"kind":"Pod","apiVersion":"v1"}',
      '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}',
      '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v2","request":{"uid":"x"}}',
      '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":""}}',
      '\u0000\u00ff garbage']) {
      const out = review(body);
      expect(out.status, body).toBe(400);
      expect(out.result).toBe('invalid');
      expect(JSON.parse(out.body).error).toBe('SIDEMESH_ADMISSION_BAD_REVIEW');
    }
  });

  it('allows with a warning a review whose pod it cannot read', () => {
    const req = fixture('deployment-pod.json');
    for (const object of [null, 'pod', [], { spec: 'x' }, { metadata: 7 }]) {
      (req.request as Record<string, unknown>).object = object;
      const out = review(req);
      expect(out.status).toBe(200);
      const res = JSON.parse(out.body).response;
      expect(res).toMatchObject({ uid: req.request.uid, allowed: true });
      expect(res.patch).toBeUndefined();
      expect(res.warnings[0].length).toBeLessThanOrEqual(120);
    }
  });

  it('turns an unexpected exception into allowed + warning, logged', () => {
    const lines: string[] = [];
    const log = createLogger({}, { write: (l) => lines.push(l) });
    const req = fixture('deployment-pod.json');
    // A getter that throws: stands in for any bug in the injector.
    const text = JSON.stringify(req);
    const bad = { ...options, get excludedNamespaces(): string[] { throw new Error('boom'); } };
    const out = reviewAdmission(text, bad, log);
    expect(out).toMatchObject({ status: 200, result: 'error' });
    expect(JSON.parse(out.body).response.allowed).toBe(true);
    expect(lines.some((l) => JSON.parse(l).msg === 'injection failed')).toBe(true);
  });
});

describe('reviewAdmission: fuzz', () => {
  // Mutates captured reviews at random (types swapped, fields dropped, values replaced): whatever comes
  // in, the answer is 200 or 400 with a JSON body, and 200 always says allowed with the request's uid.
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const junk = (): unknown => [null, 0, -1, 1e308, '', 'x'.repeat(300), true, [], {}, [null], { a: { b: [] } }, '65301', 65536][Math.floor(rnd() * 13)];

  function mutate(v: unknown, depth = 0): unknown {
    if (rnd() < 0.05) return junk();
    if (Array.isArray(v)) return rnd() < 0.1 ? [] : v.map((x) => mutate(x, depth + 1));
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (rnd() > 0.05 || depth < 1) o[k] = mutate(x, depth + 1);
      if (rnd() < 0.05) o[['ports', 'env', 'dnsConfig', 'labels', 'annotations'][Math.floor(rnd() * 5)]] = junk();
      return o;
    }
    return v;
  }

  it('never throws and never answers anything but 200/400', () => {
    const names = ['deployment-pod.json', 'conflicting-ports.json', 'job-pod.json', 'custom-dns-pod.json', 'dry-run.json', 'injected-pod.json', 'host-network.json'];
    const counts = { 200: 0, 400: 0 };
    for (let i = 0; i < 3000; i++) {
      const base = fixture(names[i % names.length]);
      const body = i % 10 === 9 ? fixtureText(names[i % names.length]).slice(0, Math.floor(rnd() * 2000)) : JSON.stringify(mutate(base));
      const out = reviewAdmission(body, options);
      expect([200, 400]).toContain(out.status);
      const parsed = JSON.parse(out.body);
      if (out.status === 200) {
        expect(parsed.response.allowed).toBe(true);
        expect(typeof parsed.response.uid).toBe('string');
        for (const w of parsed.response.warnings ?? []) expect(w.length).toBeLessThanOrEqual(120);
        if (parsed.response.patch) expect(() => JSON.parse(Buffer.from(parsed.response.patch, 'base64').toString())).not.toThrow();
      }
      counts[out.status]++;
    }
    expect(counts[200]).toBeGreaterThan(1000);
  });
});

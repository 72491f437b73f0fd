/**
 * One AdmissionReview in, one out (Kubernetes docs, extensible-admission-controllers, "Request" and
 * "Response"). No sockets here: the HTTPS shell hands over the body text and writes back `status`
 * and `body`.
 *
 * Failure rule: once the body is an AdmissionReview with a `uid`, the answer is always `allowed: true`
 * (with a warning when something went wrong), never an error status the API server would turn into
 * a failed pod creation under `failurePolicy: Fail`. A body that is not an AdmissionReview at all gets
 * a 400 with a JSON error: that is a client bug, not a pod.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../lib/log.ts';
import { silentLogger } from '../lib/log.ts';
import { diffJson } from './json-patch.ts';
import { type InjectOptions, type SkipReason, injectPod } from './inject-pod.ts';

export type ReviewResult = 'injected' | 'skipped' | 'error' | 'invalid';
export type ReviewSkip = SkipReason | 'not-pod-create';

export interface ReviewOutcome {
  status: 200 | 400;
  /** JSON text of the response body. */
  body: string;
  result: ReviewResult;
  skipped?: ReviewSkip;
}

/** admission.k8s.io/v1beta1 has the same shape; answering in the request's version serves both. */
const VERSIONS = new Set(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']);

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function invalid(message: string): ReviewOutcome {
  return { status: 400, body: JSON.stringify({ error: 'SIDEMESH_ADMISSION_BAD_REVIEW', message }), result: 'invalid' };
}

function respond(apiVersion: string, uid: string, extra: Obj): string {
  return JSON.stringify({ apiVersion, kind: 'AdmissionReview', response: { uid, allowed: true, ...extra } });
}

/** Parses, injects and answers. Never throws. */
export function reviewAdmission(text: string, options: InjectOptions, log: Logger = silentLogger): ReviewOutcome {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return invalid('body is not JSON');
  }
  if (!isObj(doc) || doc.kind !== 'AdmissionReview') return invalid('body is not an AdmissionReview');
  if (typeof doc.apiVersion !== 'string' || !VERSIONS.has(doc.apiVersion)) return invalid('apiVersion must be admission.k8s.io/v1');
  const request = doc.request;
  if (!isObj(request) || typeof request.uid !== 'string' || request.uid === '') return invalid('request.uid is missing');
  const { apiVersion } = doc;
  const uid = request.uid;

  const allowWithWarning = (warning: string, skipped?: ReviewSkip): ReviewOutcome => ({
    status: 200,
    body: respond(apiVersion, uid, { warnings: [warning] }),
    result: 'error',
    skipped,
  });

  try {
    const kind = isObj(request.kind) ? request.kind.kind : undefined;
    const subResource = request.subResource;
    if (kind !== 'Pod' || request.operation !== 'CREATE' || (typeof subResource === 'string' && subResource !== '')) {
      return { status: 200, body: respond(apiVersion, uid, {}), result: 'skipped', skipped: 'not-pod-create' };
    }
    const pod = request.object;
    if (!isObj(pod) || (pod.spec !== undefined && !isObj(pod.spec)) || (pod.metadata !== undefined && !isObj(pod.metadata))) {
      return allowWithWarning('sidemesh: not injected: the request carries no readable pod', 'not-injectable');
    }
    const metadata = (pod.metadata ?? {}) as Obj;
    // metadata.namespace is often empty on CREATE (controllers, kubectl run): request.namespace is the truth.
    const namespace = typeof request.namespace === 'string' && request.namespace !== '' ? request.namespace : typeof metadata.namespace === 'string' ? metadata.namespace : '';
    if (namespace === '') return allowWithWarning('sidemesh: not injected: the request names no namespace', 'not-injectable');
    // name is empty when the client used generateName (every pod of a Deployment): log the prefix.
    const name = (typeof request.name === 'string' && request.name) || (typeof metadata.name === 'string' && metadata.name) || `${String(metadata.generateName ?? '')}*`;

    const result = injectPod(pod as V1Pod, namespace, options);
    const fields = { namespace, pod: name, dryRun: request.dryRun === true };
    if (result.skipped) {
      const outcome = result.skipped === 'not-injectable' ? 'error' : 'skipped';
      log[outcome === 'error' ? 'warn' : 'debug']('pod not injected', { ...fields, reason: result.skipped, warnings: result.warnings });
      const extra = result.warnings.length ? { warnings: result.warnings } : {};
      return { status: 200, body: respond(apiVersion, uid, extra), result: outcome, skipped: result.skipped };
    }
    const patch = diffJson(pod, result.pod);
    log.info('pod injected', { ...fields, ops: patch.length, warnings: result.warnings.length });
    const extra: Obj = { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') };
    if (result.warnings.length) extra.warnings = result.warnings;
    return { status: 200, body: respond(apiVersion, uid, extra), result: 'injected' };
  } catch (err) {
    log.error('injection failed', { uid, err });
    return allowWithWarning('sidemesh: not injected: internal error in the webhook (see its log)', 'not-injectable');
  }
}

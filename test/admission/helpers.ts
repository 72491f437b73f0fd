import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fjp from 'fast-json-patch';
import type { V1Pod } from '@kubernetes/client-node';
import type { InjectOptions } from '../../admission/inject-pod.ts';

export const fixtureDir = join(import.meta.dirname, '..', 'fixtures', 'admission');

export interface Review {
  apiVersion: string;
  kind: string;
  request: { uid: string; namespace: string; name: string; object: V1Pod; dryRun?: boolean; [k: string]: unknown };
}

export function fixture(name: string): Review {
  return JSON.parse(readFileSync(join(fixtureDir, name), 'utf8')) as Review;
}

export function fixtureText(name: string): string {
  return readFileSync(join(fixtureDir, name), 'utf8');
}

/** The defaults of admission/config.ts, written out so a test shows what it relies on. */
export const options: InjectOptions = Object.freeze({
  sidecarImage: 'sidemesh/sidecar:0.1.0',
  nativeSidecar: true,
  dns: true,
  copyEnv: true,
  resources: { cpuRequest: '10m', memoryRequest: '32Mi', memoryLimit: '128Mi' },
  readyTimeoutSeconds: 120,
  readyProbe: 'exec',
  clusterDomain: 'cluster.local',
  clusterDnsIp: '10.96.0.10',
  expandedDnsConfig: true,
  discoverBaseUrl: 'http://sidemesh-discover.sidemesh-system.svc:6100',
  excludedNamespaces: ['kube-system', 'sidemesh-system'],
  version: '0.1.0',
});

/** Applies an AdmissionReview response's base64 JSONPatch the way the API server would (validating ops). */
export function applyResponsePatch<T>(original: T, response: { patch?: string; patchType?: string }): T {
  if (response.patch === undefined) return structuredClone(original);
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as fjp.Operation[];
  return fjp.applyPatch(structuredClone(original), ops, true, false).newDocument;
}

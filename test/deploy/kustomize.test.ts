import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadAdmissionConfig } from '../../admission/config.ts';
import { loadDiscoverConfig } from '../../discover/config.ts';
import { validateObject } from './k8s-schema.ts';

const root = join(import.meta.dirname, '..', '..');

function findKubectl(): string | undefined {
  for (const p of ['/usr/bin/kubectl', '/usr/local/bin/kubectl']) if (existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const kubectl = findKubectl();
if (!kubectl) console.warn('test/deploy: kubectl not found, skipping the `kubectl kustomize deploy/` checks');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

describe.skipIf(!kubectl)('deploy/ (kubectl kustomize, offline)', () => {
  const text = kubectl ? execFileSync(kubectl, ['kustomize', join(root, 'deploy')], { encoding: 'utf8' }) : '';
  const objects: Obj[] = parseAllDocuments(text).map((d) => d.toJSON()).filter(Boolean);
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const workloads = objects.filter((o) => o.kind === 'Deployment');

  it('renders every object the install needs', () => {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    for (const want of [
      'Namespace/sidemesh-system',
      'Deployment/sidemesh-discover', 'Service/sidemesh-discover', 'PodDisruptionBudget/sidemesh-discover',
      'ServiceAccount/sidemesh-discover', 'ClusterRole/sidemesh-discover', 'ClusterRoleBinding/sidemesh-discover',
      'Deployment/sidemesh-admission', 'Service/sidemesh-admission', 'PodDisruptionBudget/sidemesh-admission',
      'ServiceAccount/sidemesh-admission', 'ClusterRole/sidemesh-admission', 'ClusterRoleBinding/sidemesh-admission',
      'MutatingWebhookConfiguration/sidemesh-admission',
    ]) expect(have).toContain(want);
  });

  it('validates every object against the Kubernetes OpenAPI schemas', () => {
    const problems: string[] = [];
    for (const o of objects) {
      try {
        validateObject(o);
      } catch (err) {
        problems.push(`${o.kind}/${o.metadata?.name}: ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
    // The validator does reject what the API server would.
    const broken = structuredClone(find('Deployment', 'sidemesh-admission'));
    broken.spec.replicas = 'two';
    expect(() => validateObject(broken)).toThrow();
  });

  it('puts every namespaced object in sidemesh-system', () => {
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);
    for (const o of objects.filter((x) => !clusterScoped.has(x.kind))) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('sidemesh-system');
  });

  it('configures the webhook as documented', () => {
    const mwc = find('MutatingWebhookConfiguration', 'sidemesh-admission');
    expect(mwc.webhooks).toHaveLength(2);
    for (const w of mwc.webhooks) {
      expect(w.sideEffects).toBe('None');
      expect(w.failurePolicy).toBe('Fail');
      expect(w.timeoutSeconds).toBe(5);
      expect(w.admissionReviewVersions).toEqual(['v1']);
      expect(w.reinvocationPolicy).toBe('IfNeeded');
      expect(w.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
      expect(w.clientConfig.service).toEqual({ name: 'sidemesh-admission', namespace: 'sidemesh-system', path: '/mutate', port: 443 });
      expect(w.namespaceSelector.matchExpressions).toContainEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'sidemesh-system'] });
    }
    const [byNs, byPod] = mwc.webhooks;
    expect(byNs.namespaceSelector.matchExpressions).toContainEqual({ key: 'sidemesh.io/inject', operator: 'In', values: ['enabled'] });
    expect(byNs.objectSelector.matchExpressions).toEqual([{ key: 'sidemesh.io/inject', operator: 'NotIn', values: ['false'] }]);
    expect(byPod.namespaceSelector.matchExpressions).toContainEqual({ key: 'sidemesh.io/inject', operator: 'NotIn', values: ['enabled'] });
    expect(byPod.objectSelector.matchExpressions).toEqual([{ key: 'sidemesh.io/inject', operator: 'In', values: ['true'] }]);
    // The Service the webhook calls exists and forwards 443 to the HTTPS container port.
    const svc = find('Service', 'sidemesh-admission');
    expect(svc.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
  });

  it('grants only read verbs, plus get/patch on the webhook configuration by name', () => {
    for (const role of objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
      for (const rule of role.rules) {
        if (rule.resources.includes('mutatingwebhookconfigurations')) {
          expect(rule).toEqual({ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['sidemesh-admission'], verbs: ['get', 'patch'] });
        } else {
          expect(rule.verbs.every((v: string) => ['get', 'list', 'watch'].includes(v)), JSON.stringify(rule)).toBe(true);
          expect(rule.resources.some((r: string) => r.includes('*') || r === 'secrets')).toBe(false);
        }
      }
    }
    const discover = find('ClusterRole', 'sidemesh-discover');
    expect(discover.rules.flatMap((r: Obj) => r.resources).sort()).toEqual(['configmaps', 'endpointslices', 'pods', 'services']);
    // Least privilege: discover's informers list and watch (discover/kube-source.ts), never get by name.
    for (const rule of discover.rules) expect(rule.verbs, JSON.stringify(rule)).toEqual(['list', 'watch']);
    const source = readFileSync(join(root, 'discover', 'kube-source.ts'), 'utf8');
    expect(source.match(/\b(?:core|discovery)\.(\w+)\(/g)?.every((call) => /\.list\w+ForAllNamespaces\($/.test(call))).toBe(true);
  });

  it('runs both Deployments highly available under the restricted Pod Security Standard', () => {
    expect(workloads).toHaveLength(2);
    for (const d of workloads) {
      const name = d.metadata.name;
      expect(d.spec.replicas, name).toBeGreaterThanOrEqual(2);
      expect(objects.some((o) => o.kind === 'PodDisruptionBudget' && o.spec.selector.matchLabels['app.kubernetes.io/name'] === name)).toBe(true);
      const pod = d.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.hostNetwork).toBeUndefined();
      for (const c of pod.containers) {
        expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(c.readinessProbe.httpGet.path).toBe('/readyz');
        expect(c.livenessProbe.httpGet.path).toBe('/healthz');
        expect(c.resources.requests.cpu).toBeDefined();
        expect(c.resources.limits.memory).toBeDefined();
        expect(c.image).toMatch(/^sidemesh\/discover:\d+\.\d+\.\d+$/);
      }
    }
    expect(find('Namespace', 'sidemesh-system').metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('points the sidecar image and discover at what the install creates', () => {
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('sidemesh-admission-config'));
    expect(cm.data.SIDECAR_IMAGE).toMatch(/^sidemesh\/sidecar:\d+\.\d+\.\d+$/);
    const adm = find('Deployment', 'sidemesh-admission').spec.template.spec.containers[0];
    expect(adm.envFrom[0].configMapRef.name).toBe(cm.metadata.name);
    expect(adm.args).toEqual(['admission', '--self-signed']);
    expect(find('Service', 'sidemesh-discover').spec.ports[0].port).toBe(6100);
  });

  it('gives discover and the webhook the same CLUSTER_DOMAIN, from one ConfigMap, and only variables they read', () => {
    /** The container's env as the kubelet builds it: envFrom ConfigMaps, then env values over them. */
    const envOf = (deployment: string): Record<string, string | undefined> => {
      const c = find('Deployment', deployment).spec.template.spec.containers[0];
      const out: Record<string, string | undefined> = {};
      for (const from of c.envFrom ?? []) {
        const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapRef.name);
        expect(cm, `${deployment}: ConfigMap ${from.configMapRef.name}`).toBeDefined();
        Object.assign(out, cm.data);
      }
      for (const e of c.env ?? []) out[e.name] = e.value ?? '<valueFrom>';
      return out;
    };
    const discover = envOf('sidemesh-discover');
    const admission = envOf('sidemesh-admission');
    expect(discover.CLUSTER_DOMAIN).toBe('cluster.local');
    expect(admission.CLUSTER_DOMAIN).toBe(discover.CLUSTER_DOMAIN);
    const sources = (d: string) => find('Deployment', d).spec.template.spec.containers[0].envFrom.map((f: Obj) => f.configMapRef.name);
    const shared = sources('sidemesh-discover').filter((n: string) => sources('sidemesh-admission').includes(n));
    expect(shared.some((n: string) => objects.find((o) => o.metadata.name === n)?.data?.CLUSTER_DOMAIN !== undefined)).toBe(true);
    // discover reads no POD_NAMESPACE: giving it one would be dead configuration.
    expect(discover.POD_NAMESPACE).toBeUndefined();
    expect(admission.POD_NAMESPACE).toBe('<valueFrom>');

    // Every variable the manifests set is one the process's config loader reads: a misspelt name
    // would be ignored without a word, and the default used instead.
    const reads = (load: (env: Record<string, string | undefined>) => unknown): Set<string> => {
      const seen = new Set<string>();
      load(new Proxy({}, { get: (_t, key) => (typeof key === 'string' && seen.add(key), undefined) }));
      return seen;
    };
    const discoverReads = reads((env) => loadDiscoverConfig(env, () => 'nameserver 10.96.0.10\n'));
    const admissionReads = reads((env) => loadAdmissionConfig(env, '0.1.0'));
    expect(Object.keys(discover).filter((k) => !discoverReads.has(k))).toEqual([]);
    expect(Object.keys(admission).filter((k) => !admissionReads.has(k))).toEqual([]);
  });
});

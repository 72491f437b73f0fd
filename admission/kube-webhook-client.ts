/**
 * The Kubernetes side of ca-bundle-sync.ts: read and JSON-patch one MutatingWebhookConfiguration.
 * RBAC: `get` and `patch` on that one object by resourceNames (deploy/admission-rbac.yaml); nothing else.
 */
import { AdmissionregistrationV1Api, KubeConfig } from '@kubernetes/client-node';
import type { WebhookConfigClient, WebhookConfigState } from './ca-bundle-sync.ts';
import type { JsonPatchOp } from './json-patch.ts';

/** In-cluster service account when run in a pod, else the user's kubeconfig. */
export function kubeWebhookConfigClient(kubeConfig: KubeConfig = defaultKubeConfig()): WebhookConfigClient {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  return {
    async read(name: string): Promise<WebhookConfigState> {
      const config = await api.readMutatingWebhookConfiguration({ name });
      return {
        resourceVersion: config.metadata?.resourceVersion ?? '',
        webhooks: (config.webhooks ?? []).map((w) => ({ name: w.name, caBundle: w.clientConfig?.caBundle })),
      };
    },
    async patch(name: string, ops: JsonPatchOp[]): Promise<void> {
      // client-node sends application/json-patch+json for this call by default.
      await api.patchMutatingWebhookConfiguration({ name, body: ops, fieldManager: 'sidemesh-admission' });
    },
  };
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

import { ANNOTATION_APP_BIND, ANNOTATION_INBOUND_PORTS, ANNOTATION_PLUGIN, ANNOTATION_SERVICE, CONFIGMAP_DATA_KEY, CONFIGMAP_LABEL_PLUGIN, CONFIGMAP_LABEL_SERVICE } from '../lib/names.ts';

type Obj = Record<string, unknown>;

const LABEL_APP_NAME = 'app.kubernetes.io/name';
const LABEL_APP = 'app';

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * What the informer cache keeps of a meshed pod: only what MeshedPodView reads (plus the metadata the
 * informer itself needs), so a cluster of large pod specs does not sit in discover's memory.
 */
export function slimPod(obj: unknown): unknown {
  if (!isObj(obj) || !isObj(obj.metadata)) return obj;
  const m = obj.metadata;
  const status = isObj(obj.status) ? obj.status : undefined;
  return {
    metadata: {
      namespace: m.namespace,
      name: m.name,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      labels: pick(m.labels, [LABEL_APP_NAME, LABEL_APP]),
      annotations: pick(m.annotations, [ANNOTATION_SERVICE, ANNOTATION_PLUGIN, ANNOTATION_INBOUND_PORTS, ANNOTATION_APP_BIND]),
    },
    status: status && status.podIP !== undefined ? { podIP: status.podIP } : {},
  };
}

/** Same for a plugin-config ConfigMap: its two labels and its one data key. */
export function slimConfigMap(obj: unknown): unknown {
  if (!isObj(obj) || !isObj(obj.metadata)) return obj;
  const m = obj.metadata;
  return {
    metadata: {
      namespace: m.namespace,
      name: m.name,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      labels: pick(m.labels, [CONFIGMAP_LABEL_PLUGIN, CONFIGMAP_LABEL_SERVICE]),
    },
    data: pick(obj.data, [CONFIGMAP_DATA_KEY]),
  };
}

/** Keeps `keys` of a map; anything that is not a map is kept as is, so the converter still reports it. */
function pick(v: unknown, keys: string[]): unknown {
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const k of keys) if (Object.hasOwn(v, k)) out[k] = v[k];
  return out;
}

import * as models from 'kubernetes-models';

type ModelClass = new (data: unknown) => { validate(): void };

/** `apps/v1` + `Deployment` → the kubernetes-models class whose validate() checks the OpenAPI schema. */
export function modelFor(apiVersion: string, kind: string): ModelClass | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const key = group === '' ? version : group.split('.').map((p, i) => (i === 0 ? p : p[0].toUpperCase() + p.slice(1))).join('');
  const ns = (models as unknown as Record<string, Record<string, unknown>>)[key];
  const versioned = (group === '' ? ns : (ns?.[version] as Record<string, unknown> | undefined)) as Record<string, unknown> | undefined;
  return versioned?.[kind] as ModelClass | undefined;
}

/** Throws with the schema errors when `obj` does not validate. */
export function validateObject(obj: { apiVersion: string; kind: string }): void {
  const Model = modelFor(obj.apiVersion, obj.kind);
  if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();
}

/**
 * Deep copy of a JSON value, as `JSON.parse` produced it: plain objects, arrays and primitives.
 * Injection copies the pod so the patch can be diffed against the original; `structuredClone`
 * did that at ~28% of the webhook's CPU because it also handles Maps, Dates, typed arrays and
 * cycles, none of which a parsed AdmissionReview holds.
 */
export function jsonClone<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = jsonClone(value[i]);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = jsonClone((value as Record<string, unknown>)[key]);
  return out as T;
}

/**
 * RFC 6902 JSON Patch as the diff of two JSON values: the injector mutates a copy of the pod and
 * sends `diffJson(original, mutated)`, so nobody hand-writes patch operations (as pepr does).
 *
 * What a caller may assume:
 * - applying the result to `original` yields a value deep-equal to `mutated`;
 * - a key missing from `original` is added whole (`add /metadata/annotations {…}`), never as
 *   children of a map that does not exist (RFC 6902 §4.1: the parent must exist; the API server
 *   rejects the patch otherwise);
 * - keys are escaped per RFC 6901 (`~` → `~0`, `/` → `~1`);
 * - two equal values give `[]`.
 */
import { jsonClone } from './json-clone.ts';

export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: unknown }
  /** Never produced by diffJson; used by callers that guard a patch (ca-bundle-sync.ts). */
  | { op: 'test'; path: string; value: unknown };

/** RFC 6901 reference token. */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function diffJson(original: unknown, mutated: unknown): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  if (!deepEqual(original, mutated)) diffInto(original, mutated, '', ops);
  return ops;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function diffInto(a: unknown, b: unknown, path: string, ops: JsonPatchOp[]): void {
  if (isMap(a) && isMap(b)) {
    for (const key of Object.keys(a)) {
      if (a[key] !== undefined && (!(key in b) || b[key] === undefined)) ops.push({ op: 'remove', path: `${path}/${escapePointer(key)}` });
    }
    for (const key of Object.keys(b)) {
      const bv = b[key];
      if (bv === undefined) continue;
      const p = `${path}/${escapePointer(key)}`;
      if (!(key in a) || a[key] === undefined) ops.push({ op: 'add', path: p, value: clone(bv) });
      else if (!deepEqual(a[key], bv)) diffInto(a[key], bv, p, ops);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    diffArrays(a, b, path, ops);
    return;
  }
  ops.push({ op: 'replace', path, value: clone(b) });
}

/**
 * Arrays: keep the common prefix and suffix, then pair up the middle element by element and add or
 * remove the rest. An insertion at the front (the native sidecar goes first among the init
 * containers) becomes one `add …/0`, not a rewrite of every element.
 */
function diffArrays(a: unknown[], b: unknown[], path: string, ops: JsonPatchOp[]): void {
  let start = 0;
  while (start < a.length && start < b.length && deepEqual(a[start], b[start])) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && deepEqual(a[endA - 1], b[endB - 1])) {
    endA--;
    endB--;
  }
  const paired = Math.min(endA - start, endB - start);
  for (let i = 0; i < paired; i++) diffInto(a[start + i], b[start + i], `${path}/${start + i}`, ops);
  // Removals go from the highest index down so earlier indexes stay valid.
  for (let i = endA - 1; i >= start + paired; i--) ops.push({ op: 'remove', path: `${path}/${i}` });
  for (let i = start + paired; i < endB; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: clone(b[i]) });
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (!(k in bo) || !deepEqual(ao[k], bo[k])) return false;
  return true;
}

function clone<T>(v: T): T {
  return v === null || typeof v !== 'object' ? v : jsonClone(v);
}

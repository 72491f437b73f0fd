import fjp from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { diffJson, escapePointer } from '../../admission/json-patch.ts';

const apply = <T>(doc: T, ops: unknown[]): T => fjp.applyPatch(structuredClone(doc), ops as fjp.Operation[], true, false).newDocument;

describe('diffJson', () => {
  it('gives no operations for equal values', () => {
    expect(diffJson({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
  });

  it('escapes / and ~ in keys (RFC 6901)', () => {
    expect(escapePointer('sidemesh.io/status')).toBe('sidemesh.io~1status');
    expect(escapePointer('a~b/c')).toBe('a~0b~1c');
    const ops = diffJson({ metadata: { annotations: {} } }, { metadata: { annotations: { 'sidemesh.io/status': 'x', 'a~b': 'y' } } });
    expect(ops).toEqual([
      { op: 'add', path: '/metadata/annotations/sidemesh.io~1status', value: 'x' },
      { op: 'add', path: '/metadata/annotations/a~0b', value: 'y' },
    ]);
  });

  it('adds a missing map whole instead of adding into a map that does not exist', () => {
    const ops = diffJson({ metadata: {} }, { metadata: { labels: { 'sidemesh.io/injected': 'true' } } });
    expect(ops).toEqual([{ op: 'add', path: '/metadata/labels', value: { 'sidemesh.io/injected': 'true' } }]);
  });

  it('turns an insertion at the front of an array into one add at index 0', () => {
    const a = { initContainers: [{ name: 'migrate' }, { name: 'seed' }] };
    const b = { initContainers: [{ name: 'sidecar' }, { name: 'migrate' }, { name: 'seed' }] };
    expect(diffJson(a, b)).toEqual([{ op: 'add', path: '/initContainers/0', value: { name: 'sidecar' } }]);
  });

  it('never shares structure with the mutated value', () => {
    const b = { x: { y: [1] } };
    const ops = diffJson({}, b) as Array<{ value: { y: number[] } }>;
    b.x.y.push(2);
    expect(ops[0].value.y).toEqual([1]);
  });

  it('round-trips random documents (apply(a, diff(a, b)) equals b)', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const keys = ['a', 'b', 'c/d', 'e~f', 'g'];
    const value = (depth: number): unknown => {
      const r = rnd();
      if (depth > 3 || r < 0.3) return [1, 'x', true, null][Math.floor(rnd() * 4)];
      if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (const k of keys) if (rnd() < 0.5) o[k] = value(depth + 1);
      return o;
    };
    for (let i = 0; i < 500; i++) {
      const a = { root: value(0) };
      const b = { root: value(0) };
      expect(apply(a, diffJson(a, b))).toEqual(b);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { canonicalJson, contentHash } from '../../lib/hash.ts';

describe('canonicalJson', () => {
  it('gives the same bytes whatever the key order', () => {
    const a = canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: null } });
    const b = canonicalJson({ a: { c: null, d: [3, { x: 2, y: 1 }] }, b: 1 });
    expect(a).toBe(b);
    expect(a).toBe('{"a":{"c":null,"d":[3,{"x":2,"y":1}]},"b":1}');
    expect(contentHash(a)).toMatch(/^[0-9a-f]{16}$/);
  });
});

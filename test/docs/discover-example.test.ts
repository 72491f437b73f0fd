import { describe, expect, it } from 'vitest';
import { documentedExample, exampleDocument } from '../../scripts/example-document.ts';

describe('docs/discover.md example document', () => {
  it('is what discover serves for examples/mesh.yaml (regenerate: node scripts/example-document.ts)', async () => {
    expect(documentedExample()).toEqual(await exampleDocument());
  });
});

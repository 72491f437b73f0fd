import { describe, expect, it } from 'vitest';
import { mebibytes } from '../../bench/scenarios/memory-limit.ts';

describe('memory limit scenario', () => {
  it('reads the binary quantities the webhook injects, and nothing else', () => {
    expect(mebibytes('128Mi')).toBe(128);
    expect(mebibytes('64Mi')).toBe(64);
    expect(mebibytes('1Gi')).toBe(1024);
    for (const q of ['none', '128M', '0.5Gi', '', undefined]) expect(mebibytes(q)).toBeUndefined();
  });
});

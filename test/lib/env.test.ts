import { describe, expect, it } from 'vitest';
import { EnvReader } from '../../lib/env.ts';
import { ConfigError } from '../../lib/errors.ts';

describe('EnvReader', () => {
  it('reads typed values with defaults', () => {
    const r = new EnvReader({ A: '7', B: '250ms', C: 'yes', D: 'x, y,,z', E: '' });
    expect(r.int('A', 1)).toBe(7);
    expect(r.durationMs('B', 0)).toBe(250);
    expect(r.durationMs('B2', 30_000)).toBe(30_000);
    expect(r.bool('C', false)).toBe(true);
    expect(r.list('D', [])).toEqual(['x', 'y', 'z']);
    expect(r.string('E', 'fallback')).toBe('fallback');
    r.finish();
  });

  it('lists every problem at once', () => {
    const r = new EnvReader({ PORT: '70000', WAIT: 'soon', FLAG: 'maybe', URL: 'http://:6100/x' });
    r.port('PORT', 1);
    r.durationMs('WAIT', 1);
    r.bool('FLAG', false);
    r.url('URL');
    r.requiredString('MISSING');
    let err: unknown;
    try {
      r.finish();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/PORT.*WAIT.*FLAG.*URL.*MISSING/s);
    expect((err as ConfigError).code).toBe('SIDEMESH_CONFIG_INVALID');
  });
});

import * as index from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Histogram, Registry } from '../../lib/prom.ts';

describe('lib/prom', () => {
  it("is prom-client's own classes, loaded without its index (a moved file fails here)", () => {
    expect(Registry).toBe(index.Registry);
    expect(Counter).toBe(index.Counter);
    expect(Gauge).toBe(index.Gauge);
    expect(Histogram).toBe(index.Histogram);
  });
});

/**
 * mulberry32: a tiny, fast, seeded PRNG with good enough statistics for distribution checks and
 * fuzzing, so a failing run can be replayed from its seed.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seeded integer in [0, n) per call, from mulberry32. (An LCG taken `% n` is not a substitute: its
 * low bits repeat with a short period, so `% 2` can give the same answer on every iteration of a loop.)
 */
export function seededInts(seed: number): (n: number) => number {
  const next = mulberry32(seed);
  return (n) => Math.floor(next() * n);
}

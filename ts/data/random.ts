// Seeded randomness for data handling (shuffles, splits). Kept apart from tf.manualSeed's stream
// so that shuffling data never shifts the draws a model's initialisation or dropout sees.
import { ValueError } from '../errors';

export type Random = () => number;

export function checkSeed(seed: unknown, what = 'seed'): number {
  if (!(Number.isSafeInteger(seed) && (seed as number) >= 0)) throw new ValueError(`${what} must be a non-negative integer, got ${String(seed)}`);
  return seed as number;
}

/** mulberry32 over a seed mixed with `stream` (e.g. the epoch), uniform in [0, 1). */
export function seededRandom(seed: number, stream = 0): Random {
  // both 32-bit halves of the seed count, then the stream, so nearby (seed, stream) pairs differ
  let s = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(Math.floor(seed / 2 ** 32) + 1, 0xc2b2ae35);
  s = (Math.imul(s ^ (s >>> 16), 0x27d4eb2f) + Math.imul(stream + 1, 0x165667b1)) >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates in place. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(a: T, random: Random): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** 0..n-1 in a seeded random order. */
export function permutation(n: number, random: Random): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffleInPlace(p, random);
}

// One seed per test run (REF_SEED from the environment, else random), and an independent rng per
// test derived from it and the test's name. Failures print the seed so they can be rerun.
import { Rng, makeRng } from './reference';

export const BASE_SEED = process.env.REF_SEED !== undefined
  ? Number(process.env.REF_SEED)
  : Math.floor(Math.random() * 2 ** 31);

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function rngFor(name: string): Rng {
  return makeRng((BASE_SEED + hashName(name)) >>> 0);
}

// Finite-difference gradients and tolerance comparison, used to check every VJP (reference and native).
import { RefTensor, clone, sameShape } from './tensor';

/**
 * Gradient of L(x_0..x_n) = sum(f(x) * gradOut) with respect to each input, by central differences
 * in float64: dL/dx[j] ≈ (L(x + eps e_j) - L(x - eps e_j)) / (2 eps). Returns one tensor per input,
 * shaped like it. Index-like inputs can be excluded with `differentiable` (their gradient is then
 * all zeros and they are never perturbed).
 */
export function finiteDiffVjp(
  f: (inputs: RefTensor[]) => RefTensor,
  inputs: RefTensor[],
  gradOut: RefTensor,
  eps = 1e-6,
  differentiable: boolean[] = inputs.map(() => true),
): RefTensor[] {
  const objective = (xs: RefTensor[]): number => {
    const y = f(xs);
    if (!sameShape(y.shape, gradOut.shape)) {
      throw new Error(`finiteDiffVjp: output [${y.shape.join(', ')}] != gradOut [${gradOut.shape.join(', ')}]`);
    }
    let total = 0;
    for (let i = 0; i < y.data.length; i++) total += y.data[i] * gradOut.data[i];
    return total;
  };
  const work = inputs.map(clone);
  return work.map((x, k) => {
    const grad = { shape: [...x.shape], data: new Float64Array(x.data.length) };
    if (!differentiable[k]) return grad;
    for (let j = 0; j < x.data.length; j++) {
      const saved = x.data[j];
      x.data[j] = saved + eps;
      const plus = objective(work);
      x.data[j] = saved - eps;
      const minus = objective(work);
      x.data[j] = saved;
      grad.data[j] = (plus - minus) / (2 * eps);
    }
    return grad;
  });
}

/** How far one element lies beyond |actual - expected| <= atol + rtol * |expected| (> 0: too far).
 *  NaN never passes unless allowNaN and both are NaN; infinities must match exactly. */
function excessOf(a: number, e: number, rtol: number, atol: number, allowNaN: boolean): number {
  if (Number.isNaN(a) || Number.isNaN(e)) return allowNaN && Number.isNaN(a) && Number.isNaN(e) ? 0 : Infinity;
  if (!Number.isFinite(e) || !Number.isFinite(a)) return a === e ? 0 : Infinity;
  return Math.abs(a - e) - (atol + rtol * Math.abs(e));
}

/**
 * Compares actual with expected by |actual - expected| <= atol + rtol * |expected|, elementwise
 * (NaN never passes unless allowNaN and both are NaN at the same position; infinities must match).
 * Returns null when close, else a message naming the worst element and how many are off.
 */
export function closeness(
  actual: RefTensor,
  expected: RefTensor,
  rtol: number,
  atol: number,
  allowNaN = false,
): string | null {
  if (!sameShape(actual.shape, expected.shape)) {
    return `shape [${actual.shape.join(', ')}] != expected [${expected.shape.join(', ')}]`;
  }
  let worst = -1;
  let worstExcess = 0;
  let bad = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const excess = excessOf(actual.data[i], expected.data[i], rtol, atol, allowNaN);
    if (!(excess > 0)) continue;
    bad++;
    if (worst < 0 || excess > worstExcess) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst < 0) return null;
  return `element ${worst}: actual ${actual.data[worst]} vs expected ${expected.data[worst]} ` +
    `(rtol ${rtol}, atol ${atol}; ${bad} of ${expected.data.length} elements off)`;
}

/** Throws with closeness's message when actual is not close to expected. */
export function assertClose(actual: RefTensor, expected: RefTensor, rtol: number, atol: number, what = 'tensor'): void {
  const problem = closeness(actual, expected, rtol, atol);
  if (problem !== null) throw new Error(`${what}: ${problem}`);
}

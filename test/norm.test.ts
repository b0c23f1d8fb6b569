// Normalisation, dropout, embedding and activations: the float64 reference VJPs against finite
// differences; native forward and autograd gradients against the reference on random inputs
// (odd sizes, contiguous / transposed / stepped layouts, with and without affine parameters, rows
// with a large mean); batchNorm running statistics over several steps; PyTorch fixtures; dropout's
// seeding and masks; typed errors, direct native calls with inconsistent views, and leaks.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/norm.test.ts
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '../ts';
import * as native from '../ts/native';
import * as R from './reference';
import { RefTensor, Rng, finiteDiffVjp, normVjp } from './reference';
import { expectClose, expectEqual, expectNoLeaks, fromRef, fuzzKernelCalls, nonContiguous, seeded, toRef, expectThrows } from './helpers';

// Tolerances (float32 kernels vs float64): forward values are O(1) after normalisation and
// carry a few ulps; weight/bias gradients and batchNorm's per-channel sums add up hundreds of
// terms in float32 before the double accumulation, so backward gets 1e-4 relative.
const FWD: [number, number] = [1e-5, 1e-5];
const BWD: [number, number] = [1e-4, 1e-5];

type Layout = 'contiguous' | 'transpose' | 'step';
const LAYOUTS: Layout[] = ['contiguous', 'transpose', 'step'];

/** A float32 tensor in the given layout and the reference holding exactly its values. */
function input(ref: RefTensor, layout: Layout, requiresGrad = false): [tf.Tensor, RefTensor] {
  const r = toRef(fromRef(ref));
  const base = fromRef(r);
  const t = layout === 'contiguous' ? base : nonContiguous(base, layout);
  if (requiresGrad) t.requiresGrad_(true);
  return [t, r];
}
const f32ref = (r: RefTensor) => toRef(fromRef(r));

/** Normal values, optionally with per-row offsets far from 0 (a large mean with small spread). */
function rowsWithMean(shape: number[], rng: Rng, mean: number, spread = 1): RefTensor {
  return R.make(shape, () => mean + spread * rng.normal());
}

// ---- 1. reference VJPs vs finite differences --------------------------------------------------
describe('reference VJPs match finite differences', () => {
  const check = (what: string, f: (xs: RefTensor[]) => RefTensor, xs: RefTensor[], back: (g: RefTensor) => RefTensor[],
    rng: Rng, differentiable?: boolean[]) => {
    const g = R.randn(f(xs).shape, rng);
    const fd = finiteDiffVjp(f, xs, g, 1e-6, differentiable);
    const an = back(g);
    const kept = fd.filter((_, i) => !differentiable || differentiable[i]);
    an.forEach((a, i) => expectClose(a, kept[i], 1e-5, 1e-6, `${what} input ${i}`));
  };

  seeded('layerNorm, 1 and 2 normalised dims, with and without affine', (rng) => {
    for (const [shape, ns] of [[[3, 5], [5]], [[2, 3, 4], [3, 4]], [[4], [4]]] as [number[], number[]][]) {
      const x = R.randn(shape, rng), w = R.randn(ns, rng), b = R.randn(ns, rng);
      check('layerNorm affine', ([a, ww, bb]) => R.layerNorm(a, ns, ww, bb, 1e-5), [x, w, b],
        (g) => normVjp.layerNorm(x, ns, w, b, 1e-5, g), rng);
      check('layerNorm plain', ([a]) => R.layerNorm(a, ns, null, null, 1e-3), [x],
        (g) => normVjp.layerNorm(x, ns, null, null, 1e-3, g), rng);
    }
  });

  seeded('batchNorm train and eval, 2/3/4-D', (rng) => {
    for (const shape of [[5, 3], [3, 2, 4], [2, 3, 2, 3]]) {
      const C = shape[1];
      const x = R.randn(shape, rng), w = R.randn([C], rng), b = R.randn([C], rng);
      const rm = R.randn([C], rng), rv = R.rand([C], rng, 0.5, 2);
      for (const training of [true, false]) {
        const opts = { training, eps: 1e-5 };
        check(`batchNorm ${training}`, ([a, ww, bb]) => R.batchNorm(a, rm, rv, ww, bb, opts).y, [x, w, b],
          (g) => normVjp.batchNorm(x, rm, rv, w, b, opts, g), rng);
      }
    }
  });

  seeded('activations', (rng) => {
    const x = R.make([23], () => 4 * rng.normal());
    check('gelu', ([a]) => R.gelu(a), [x], (g) => normVjp.gelu(x, 'none', g), rng);
    check('gelu tanh', ([a]) => R.gelu(a, 'tanh'), [x], (g) => normVjp.gelu(x, 'tanh', g), rng);
    check('silu', ([a]) => R.silu(a), [x], (g) => normVjp.silu(x, g), rng);
    check('softplus', ([a]) => R.softplus(a, 1.5, 3), [x], (g) => normVjp.softplus(x, 1.5, 3, g), rng);
    check('leakyRelu', ([a]) => R.leakyRelu(a, 0.2), [x], (g) => normVjp.leakyRelu(x, 0.2, g), rng);
    check('elu', ([a]) => R.elu(a, 0.7), [x], (g) => normVjp.elu(x, 0.7, g), rng);
  });

  seeded('embedding (paddingIdx row excluded)', (rng) => {
    const w = R.randn([5, 3], rng), idx = R.tensor([0, 2, 2, 4, 1, 2], [2, 3]);
    check('embedding', ([ww]) => R.embedding(idx, ww), [w], (g) => normVjp.embedding(idx, w, null, g), rng);
    const g = R.randn([2, 3, 3], rng);
    const [gw] = normVjp.embedding(idx, w, 2, g);
    for (let d = 0; d < 3; d++) expect(gw.data[2 * 3 + d]).toBe(0);
  });

  test('erf and the normal CDF against known values', () => {
    expect(R.erf(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(R.erf(2)).toBeCloseTo(0.9953222650189527, 14);
    expect(R.erfc(4) / 1.541725790028002e-8).toBeCloseTo(1, 12);
    expect(R.normalCdf(-6) / 9.865876450376946e-10).toBeCloseTo(1, 10);
  });
});

// ---- 2 and 3. native forward and autograd against the reference -------------------------------
/** loss = Σ y·G, backward, and each leaf's .grad against the reference VJP. */
function gradCheck(what: string, y: tf.Tensor, rng: Rng, leaves: tf.Tensor[], back: (g: RefTensor) => RefTensor[]): void {
  const G = f32ref(R.randn([...y.shape], rng));
  y.mul(fromRef(G)).sum().backward();
  const expected = back(G);
  leaves.forEach((t, i) => {
    if (!t.grad) throw new Error(`${what}: leaf ${i} got no gradient`);
    expect(t.grad.shape).toEqual([...t.shape]);
    expectClose(t.grad, expected[i], BWD[0], BWD[1], `${what}: grad ${i}`);
  });
}

describe('layerNorm', () => {
  const cases: [number[], number[]][] = [[[7, 13], [13]], [[3, 5, 6], [6]], [[2, 5, 3, 7], [3, 7]], [[1, 1], [1]], [[9], [9]], [[4, 1, 33], [1, 33]]];
  for (const [shape, ns] of cases)
    for (const layout of LAYOUTS)
      for (const affine of ['none', 'weight', 'both'] as const)
        seeded(`[${shape}] over [${ns}], ${layout}, affine ${affine}: forward and gradients`, (rng) => {
          const [x, xr] = input(R.randn(shape, rng), layout, true);
          const [w, wr] = affine !== 'none' ? input(R.randn(ns, rng), layout, true) : [null, null];
          const [b, br] = affine === 'both' ? input(R.randn(ns, rng), 'contiguous', true) : [null, null];
          const eps = affine === 'none' ? 1e-3 : 1e-5;
          const y = tf.F.layerNorm(x, ns, w, b, eps);
          expectClose(y, R.layerNorm(xr, ns, wr, br, eps), ...FWD, 'forward');
          gradCheck('layerNorm', y, rng, [x, ...(w ? [w] : []), ...(b ? [b] : [])],
            (g) => normVjp.layerNorm(xr, ns, wr, br, eps, g));
        });

  for (const mean of [1e4, -3e3])
    seeded(`rows with a large mean (${mean} + noise) keep full accuracy`, (rng) => {
      const [x, xr] = input(rowsWithMean([16, 40], rng, mean, 0.5), 'contiguous', true);
      const [w, wr] = input(R.randn([40], rng), 'contiguous', true);
      const [b, br] = input(R.randn([40], rng), 'contiguous', true);
      const y = tf.F.layerNorm(x, [40], w, b);
      expectClose(y, R.layerNorm(xr, [40], wr, br), 2e-5, 2e-5, 'forward');
      gradCheck('layerNorm large mean', y, rng, [x, w, b], (g) => normVjp.layerNorm(xr, [40], wr, br, 1e-5, g));
    });

  seeded('long rows, many rows (threads and row blocks)', (rng) => {
    const [x, xr] = input(R.randn([300, 257], rng), 'contiguous', true);
    const [w, wr] = input(R.randn([257], rng), 'contiguous', true);
    const y = tf.F.layerNorm(x, 257, w);
    expectClose(y, R.layerNorm(xr, [257], wr, null), ...FWD, 'forward');
    gradCheck('layerNorm big', y, rng, [x, w], (g) => normVjp.layerNorm(xr, [257], wr, null, 1e-5, g));
  });

  seeded('a non-contiguous output gradient', (rng) => {
    const [x, xr] = input(R.randn([5, 6], rng), 'contiguous', true);
    const y = tf.F.layerNorm(x, [6]);
    const G = f32ref(R.randn([6, 5], rng));
    y.backward(fromRef(G).transpose(0, 1));  // g arrives transposed
    expectClose(x.grad!, normVjp.layerNorm(xr, [6], null, null, 1e-5, R.transpose(G, 0, 1))[0], ...BWD, 'gx');
  });

  test('NaN in a row propagates to that row only', () => {
    const y = tf.F.layerNorm(tf.tensor([[1, NaN, 3], [1, 2, 3]]), [3]).toArray() as number[][];
    expect(y[0].every(Number.isNaN)).toBe(true);
    expect(y[1].some(Number.isNaN)).toBe(false);
  });

  test('the same inputs give bit-identical gradients whatever the thread count', () => {
    tf.scope(() => {
      const run = () => {
        const x = tf.randn([200, 64], { requiresGrad: true }), w = tf.ones([64], { requiresGrad: true });
        return { x, w };
      };
      tf.manualSeed(3);
      const a = run();
      tf.manualSeed(3);
      const b = run();
      const g = tf.randn([200, 64]);
      const threads = tf.getNumThreads();
      tf.F.layerNorm(a.x, [64], a.w).mul(g).sum().backward();
      tf.setNumThreads(1);
      try {
        tf.F.layerNorm(b.x, [64], b.w).mul(g).sum().backward();
      } finally {
        tf.setNumThreads(threads);
      }
      expectEqual(a.w.grad!, toRef(b.w.grad!), 'gWeight');
      expectEqual(a.x.grad!, toRef(b.x.grad!), 'gx');
    });
  });
});

describe('batchNorm', () => {
  const shapes = [[7, 3], [33, 37], [5, 4, 9], [3, 2, 5, 7], [2, 5, 1, 1], [4, 1, 6], [2, 3, 17]];
  for (const shape of shapes)
    for (const layout of LAYOUTS)
      for (const training of [true, false])
        seeded(`[${shape}] ${layout} ${training ? 'train' : 'eval'}: forward, running stats and gradients`, (rng) => {
          const C = shape[1];
          const affine = layout !== 'step';
          const [x, xr] = input(R.randn(shape, rng).data.length ? R.make(shape, () => 1.5 * rng.normal() + 0.7) : R.zeros(shape), layout, true);
          const [w, wr] = affine ? input(R.randn([C], rng), 'contiguous', true) : [null, null];
          const [b, br] = affine ? input(R.randn([C], rng), 'contiguous', true) : [null, null];
          const rmr = f32ref(R.randn([C], rng)), rvr = f32ref(R.rand([C], rng, 0.5, 2));
          const rm = fromRef(rmr), rv = fromRef(rvr);
          const opts = { training, momentum: 0.25, eps: 1e-5 };
          const y = tf.F.batchNorm(x, rm, rv, w, b, opts);
          const ref = R.batchNorm(xr, rmr, rvr, wr, br, opts);
          expectClose(y, ref.y, ...FWD, 'forward');
          expectClose(rm, ref.runningMean!, ...FWD, 'running mean');
          expectClose(rv, ref.runningVar!, ...FWD, 'running var');
          expect(rm.requiresGrad || rv.requiresGrad).toBe(false);
          expect(rm.gradFn ?? rv.gradFn).toBeNull();
          gradCheck('batchNorm', y, rng, [x, ...(w ? [w, b!] : [])], (g) => normVjp.batchNorm(xr, rmr, rvr, wr, br, opts, g));
        });

  seeded('running statistics over several training steps, then eval', (rng) => {
    const C = 4;
    let rmr = R.zeros([C]), rvr = R.ones([C]);
    const rm = tf.zeros([C]), rv = tf.ones([C]);
    const [w, wr] = input(R.randn([C], rng), 'contiguous');
    for (let step = 0; step < 5; step++) {
      const [x, xr] = input(R.make([6, C, 3, 2], () => 3 * rng.normal() + step), 'contiguous');
      const y = tf.F.batchNorm(x, rm, rv, w, null, { training: true });
      const ref = R.batchNorm(xr, rmr, rvr, wr, null, { training: true });
      expectClose(y, ref.y, ...FWD, `step ${step} output`);
      rmr = ref.runningMean!;
      rvr = ref.runningVar!;
      expectClose(rm, rmr, ...FWD, `step ${step} running mean`);
      expectClose(rv, rvr, ...FWD, `step ${step} running var`);
    }
    const [x, xr] = input(R.randn([3, C, 2, 2], rng), 'contiguous');
    expectClose(tf.F.batchNorm(x, rm, rv, w), R.batchNorm(xr, rmr, rvr, wr, null).y, ...FWD, 'eval');
  });

  seeded('training without running statistics; a large channel mean', (rng) => {
    const [x, xr] = input(R.make([8, 3, 10], () => 5e3 + rng.normal()), 'contiguous', true);
    const y = tf.F.batchNorm(x, null, null, null, null, { training: true });
    expectClose(y, R.batchNorm(xr, null, null, null, null, { training: true }).y, 2e-5, 2e-5, 'forward');
    gradCheck('batchNorm large mean', y, rng, [x], (g) => normVjp.batchNorm(xr, null, null, null, null, { training: true }, g));
  });

  seeded('a non-contiguous (transposed) output gradient', (rng) => {
    const [x, xr] = input(R.randn([3, 4, 2, 5], rng), 'contiguous', true);
    const [w, wr] = input(R.randn([4], rng), 'contiguous', true);
    const y = tf.F.batchNorm(x, null, null, w, null, { training: true });
    const G = f32ref(R.randn([3, 4, 5, 2], rng));
    y.backward(fromRef(G).transpose(2, 3));
    const [gx, gw] = normVjp.batchNorm(xr, null, null, wr, null, { training: true }, R.transpose(G, 2, 3));
    expectClose(x.grad!, gx, ...BWD, 'gx');
    expectClose(w.grad!, gw, ...BWD, 'gw');
  });

  test('batchNorm2d takes 4-D input only', () => {
    expect(tf.F.batchNorm2d(tf.randn([2, 3, 2, 2]), null, null, null, null, { training: true }).shape).toEqual([2, 3, 2, 2]);
    expect(() => tf.F.batchNorm2d(tf.randn([2, 3, 4]), null, null, null, null, { training: true })).toThrow(tf.ShapeError);
  });
});

describe('activations', () => {
  const gen = (shape: number[], rng: Rng) => R.make(shape, () => (rng.uniform() < 0.1 ? 25 : 4) * rng.normal());
  const ops: [string, (x: tf.Tensor) => tf.Tensor, (x: RefTensor) => RefTensor, (x: RefTensor, g: RefTensor) => RefTensor[]][] = [
    ['gelu', (x) => tf.F.gelu(x), (x) => R.gelu(x), (x, g) => normVjp.gelu(x, 'none', g)],
    ['gelu tanh', (x) => tf.F.gelu(x, { approximate: 'tanh' }), (x) => R.gelu(x, 'tanh'), (x, g) => normVjp.gelu(x, 'tanh', g)],
    ['silu', (x) => tf.F.silu(x), (x) => R.silu(x), (x, g) => normVjp.silu(x, g)],
    ['softplus', (x) => tf.F.softplus(x, { beta: 2, threshold: 15 }), (x) => R.softplus(x, 2, 15), (x, g) => normVjp.softplus(x, 2, 15, g)],
    ['softplus default', (x) => tf.F.softplus(x), (x) => R.softplus(x), (x, g) => normVjp.softplus(x, 1, 20, g)],
    ['leakyRelu', (x) => tf.F.leakyRelu(x, 0.1), (x) => R.leakyRelu(x, 0.1), (x, g) => normVjp.leakyRelu(x, 0.1, g)],
    ['elu', (x) => tf.F.elu(x, 1.3), (x) => R.elu(x, 1.3), (x, g) => normVjp.elu(x, 1.3, g)],
  ];
  for (const [name, fn, ref, back] of ops)
    for (const layout of LAYOUTS)
      seeded(`${name} ${layout}: forward and gradient`, (rng) => {
        const [x, xr] = input(gen([37, 29], rng), layout, true);
        const y = fn(x);
        // ~1e-6 relative: a polynomial exp (1 ulp) and a Chebyshev erfc (1.2e-7) in float32
        expectClose(y, ref(xr), 1e-5, 1e-6, 'forward');
        gradCheck(name, y, rng, [x], (g) => back(xr, g));
      });

  test('gelu and silu: special values, and accuracy across the float range', () => {
    const v = [NaN, Infinity, 0, -0, 1e-30, -1e-30, 88, 89, 100, -5, -8, 3e38];
    const x = tf.tensor(v);
    expectClose(tf.F.gelu(x), R.gelu(toRef(x)), 2e-6, 1e-30, 'gelu');
    expectClose(tf.F.silu(x), R.silu(toRef(x)), 2e-6, 1e-30, 'silu');
    // a dense sweep over [-9, 9]: the kernels' worst relative error stays ~1e-6
    const sweep = tf.linspace(-9, 9, 20001);
    const sr = toRef(sweep);
    expectClose(tf.F.gelu(sweep), R.gelu(sr), 2e-6, 1e-37, 'gelu sweep');
    // the tanh form's lower tail is x·e^(2u) with u ~ x³: float rounding of u (a few ulps of
    // |2u| <= 66 on this range) is amplified by |2u|, so its bound is looser there
    expectClose(tf.F.gelu(sweep, { approximate: 'tanh' }), R.gelu(sr, 'tanh'), 3e-5, 1e-30, 'gelu tanh sweep');
    expectClose(tf.F.silu(sweep), R.silu(sr), 2e-6, 1e-37, 'silu sweep');
  });

  test('relu, sigmoid and tanh are exported in tf.F', () => {
    const x = tf.tensor([-1, 0.5]);
    expect(Array.from(tf.F.relu(x).dataSync())).toEqual([0, 0.5]);
    expect(tf.F.sigmoid(x).dataSync()[1]).toBeCloseTo(1 / (1 + Math.exp(-0.5)), 6);
    expect(tf.F.tanh(x).dataSync()[0]).toBeCloseTo(Math.tanh(-1), 6);
  });
});

describe('dropout', () => {
  test('same seed, same mask; inverted scaling; mean preserved (fixed seed)', () => {
    const x = tf.ones([200000]);
    tf.manualSeed(42);
    const a = tf.F.dropout(x, 0.3).dataSync();
    tf.manualSeed(42);
    const b = tf.F.dropout(x, 0.3).dataSync();
    expect(a.every((v, i) => v === b[i])).toBe(true);
    let zeros = 0, sum = 0, other = 0;
    for (const v of a) {
      if (v === 0) zeros++;
      else if (Math.abs(v - 1 / 0.7) > 1e-6) other++;
      sum += v;
    }
    expect(other).toBe(0);  // every survivor is scaled by exactly 1/(1 - p)
    // n = 200000: the std of the mean is sqrt(p/(1-p)/n) ≈ 0.0015; the seed is fixed, so the
    // bound (about 10 std) documents the expectation without any chance of flaking
    expect(Math.abs(sum / a.length - 1)).toBeLessThan(0.015);
    expect(Math.abs(zeros / a.length - 0.3)).toBeLessThan(0.01);
    const c = tf.F.dropout(x, 0.3).dataSync();  // the generator moved on: a different mask
    expect(c.every((v, i) => v === a[i])).toBe(false);
  });

  seeded('the gradient uses the forward mask', (rng) => {
    const [x] = input(R.rand([40, 30], rng, 1, 2), 'transpose', true);
    const y = tf.F.dropout(x, 0.6);
    const G = f32ref(R.randn([40, 30], rng));
    y.mul(fromRef(G)).sum().backward();
    const Y = y.dataSync(), gx = x.grad!.dataSync();
    for (let i = 0; i < Y.length; i++) expect(gx[i]).toBeCloseTo(Y[i] === 0 ? 0 : G.data[i] / 0.4, 5);
  });

  test('p = 0, training = false, p = 1; invalid p', () => {
    const x = tf.randn([4, 5], { requiresGrad: true });
    for (const y of [tf.F.dropout(x, 0), tf.F.dropout(x, 0.5, false)]) {
      expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
      expect(y).not.toBe(x);
    }
    const z = tf.F.dropout(x, 1);
    expect(Array.from(z.dataSync()).every((v) => v === 0)).toBe(true);
    z.sum().backward();
    expect(Array.from(x.grad!.dataSync()).every((v) => v === 0)).toBe(true);
    for (const p of [-0.1, 1.5, NaN]) expect(() => tf.F.dropout(x, p)).toThrow(tf.ValueError);
  });
});

describe('embedding', () => {
  seeded('any index shape, repeated indices, paddingIdx', (rng) => {
    const [w, wr] = input(R.randn([7, 5], rng), 'transpose', true);
    const idxr = R.randint([3, 2, 4], rng, 0, 7);
    idxr.data[0] = idxr.data[1] = idxr.data[5] = 3;  // repeats
    const idx = fromRef(idxr, { dtype: 'int32' });
    const y = tf.F.embedding(idx, w, { paddingIdx: 3 });
    expectEqual(y, R.embedding(idxr, wr));
    gradCheck('embedding', y, rng, [w], (g) => normVjp.embedding(idxr, wr, 3, g));
    const row3 = Array.from(w.grad!.dataSync()).slice(15, 20);
    expect(row3).toEqual([0, 0, 0, 0, 0]);
  });

  seeded('negative paddingIdx counts from the end; 0-d and non-contiguous indices', (rng) => {
    const [w, wr] = input(R.randn([4, 3], rng), 'contiguous', true);
    const idxr = R.tensor([3, 0, 3, 1, 2, 3], [2, 3]);
    const idx = nonContiguous(fromRef(idxr, { dtype: 'int32' }), 'step');
    const y = tf.F.embedding(idx, w, { paddingIdx: -1 });
    expectEqual(y, R.embedding(idxr, wr));
    gradCheck('embedding', y, rng, [w], (g) => normVjp.embedding(idxr, wr, 3, g));
    expect(tf.F.embedding(tf.scalar(2, { dtype: 'int32' }), w).shape).toEqual([3]);
  });
});

// ---- 4. PyTorch fixtures ----------------------------------------------------------------------
describe('PyTorch fixtures (scripts/fixtures/norm.py)', () => {
  interface J { shape: number[]; data: number[] }
  const fx = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'norm.json'), 'utf8'));
  const ref = (j: J): RefTensor => R.tensor(j.data, j.shape);
  const leaf = (j: J) => fromRef(ref(j), { requiresGrad: true });

  test('layerNorm forward and gradients', () => {
    for (const c of fx.layerNorm) {
      const x = leaf(c.x), w = c.weight ? leaf(c.weight) : null, b = c.bias ? leaf(c.bias) : null;
      const y = tf.F.layerNorm(x, c.normalizedShape, w, b, c.eps);
      expectClose(y, ref(c.y), 2e-5, 2e-5, 'y');
      y.mul(fromRef(ref(c.g))).sum().backward();
      expectClose(x.grad!, ref(c.gx), ...BWD, 'gx');
      if (w) expectClose(w.grad!, ref(c.gw), ...BWD, 'gw');
      if (b) expectClose(b.grad!, ref(c.gb), ...BWD, 'gb');
    }
  });

  test('batchNorm: training steps (running stats) then eval, forward and gradients', () => {
    for (const c of fx.batchNorm) {
      const rm = fromRef(ref(c.runningMean0)), rv = fromRef(ref(c.runningVar0));
      const w = c.weight ? leaf(c.weight) : null, b = c.bias ? leaf(c.bias) : null;
      for (const s of c.steps) {
        w?.zeroGrad();
        b?.zeroGrad();
        const x = leaf(s.x);
        const y = tf.F.batchNorm(x, rm, rv, w, b, { training: s.training, momentum: c.momentum, eps: c.eps });
        expectClose(y, ref(s.y), 2e-5, 2e-5, 'y');
        expectClose(rm, ref(s.runningMean), ...FWD, 'running mean');
        expectClose(rv, ref(s.runningVar), ...FWD, 'running var');
        y.mul(fromRef(ref(s.g))).sum().backward();
        expectClose(x.grad!, ref(s.gx), ...BWD, 'gx');
        if (w) expectClose(w.grad!, ref(s.gw), ...BWD, 'gw');
        if (b) expectClose(b.grad!, ref(s.gb), ...BWD, 'gb');
      }
    }
  });

  test('activations forward and gradients', () => {
    const a = fx.activations;
    const fns: Record<string, (x: tf.Tensor) => tf.Tensor> = {
      gelu: (x) => tf.F.gelu(x),
      geluTanh: (x) => tf.F.gelu(x, { approximate: 'tanh' }),
      silu: (x) => tf.F.silu(x),
      softplus: (x) => tf.F.softplus(x, { beta: 2, threshold: 10 }),
      leakyRelu: (x) => tf.F.leakyRelu(x, 0.2),
      elu: (x) => tf.F.elu(x, 0.7),
    };
    for (const [name, fn] of Object.entries(fns)) {
      const x = leaf(a.x);
      const y = fn(x);
      expectClose(y, ref(a[name].y), 1e-5, 1e-6, `${name} y`);
      y.mul(fromRef(ref(a.g))).sum().backward();
      expectClose(x.grad!, ref(a[name].gx), 1e-5, 1e-6, `${name} gx`);
    }
  });

  test('embedding with paddingIdx', () => {
    const e = fx.embedding;
    const w = leaf(e.weight);
    const y = tf.F.embedding(fromRef(ref(e.indices), { dtype: 'int32' }), w, { paddingIdx: e.paddingIdx });
    expectEqual(y, ref(e.y));
    y.mul(fromRef(ref(e.g))).sum().backward();
    expectClose(w.grad!, ref(e.gw), 1e-6, 1e-6, 'gw');
  });
});

// ---- 5. bad input -----------------------------------------------------------------------------
describe('bad input raises typed errors', () => {
  const x = tf.randn([4, 3, 5]);
  const i32 = tf.tensor([0, 1], undefined, { dtype: 'int32' });
  test.each<[string, () => unknown, new (m: string) => Error, RegExp]>([
    ['layerNorm shape', () => tf.F.layerNorm(x, [4]), tf.ShapeError, /expected input with shape \[\*, 4\], got \[4, 3, 5\]/],
    ['layerNorm weight', () => tf.F.layerNorm(x, [5], tf.ones([4])), tf.ShapeError, /weight must have shape \[5\]/],
    ['layerNorm dtype', () => tf.F.layerNorm(x.int(), [5]), tf.DTypeError, /float32/],
    ['layerNorm empty shape', () => tf.F.layerNorm(x, []), tf.ArgumentError, /non-empty/],
    ['layerNorm eps', () => tf.F.layerNorm(x, [5], null, null, -1), tf.ValueError, /eps/],
    ['batchNorm rank', () => tf.F.batchNorm(tf.randn([3]), null, null, null, null, { training: true }), tf.ShapeError, /\[N, C, \.\.\.\]/],
    ['batchNorm running shape', () => tf.F.batchNorm(x, tf.zeros([4]), tf.ones([4])), tf.ShapeError, /runningMean must have shape \[3\]/],
    ['batchNorm one value per channel', () => tf.F.batchNorm(tf.randn([1, 3]), tf.zeros([3]), tf.ones([3]), null, null, { training: true }), tf.ValueError, /more than 1 value per channel/],
    ['batchNorm eval without stats', () => tf.F.batchNorm(x, null, null), tf.ArgumentError, /eval mode/],
    ['batchNorm one running stat', () => tf.F.batchNorm(x, tf.zeros([3]), null, null, null, { training: true }), tf.ArgumentError, /both/],
    ['batchNorm grad running stats', () => tf.F.batchNorm(x, tf.zeros([3], { requiresGrad: true }), tf.ones([3]), null, null, { training: true }), tf.ArgumentError, /must not require grad/],
    ['gelu approximate', () => tf.F.gelu(x, { approximate: 'fast' as never }), tf.ArgumentError, /'none' or 'tanh'/],
    ['gelu int', () => tf.F.gelu(i32), tf.DTypeError, /float32/],
    ['softplus beta', () => tf.F.softplus(x, { beta: 0 }), tf.ValueError, /non-zero/],
    ['leakyRelu slope', () => tf.F.leakyRelu(x, NaN), tf.ArgumentError, /finite/],
    ['dropout p', () => tf.F.dropout(x, 2), tf.ValueError, /between 0 and 1/],
    ['embedding index dtype', () => tf.F.embedding(tf.tensor([0, 1]), tf.randn([3, 2])), tf.DTypeError, /int32/],
    ['embedding out of range', () => tf.F.embedding(tf.tensor([0, 3], undefined, { dtype: 'int32' }), tf.randn([3, 2])), tf.IndexError, /embedding: .*index 3 is out of range/],
    ['embedding negative index', () => tf.F.embedding(tf.tensor([-1], undefined, { dtype: 'int32' }), tf.randn([3, 2])), tf.IndexError, /out of range/],
    ['embedding weight rank', () => tf.F.embedding(i32, tf.randn([3])), tf.ShapeError, /2-D/],
    ['embedding paddingIdx', () => tf.F.embedding(i32, tf.randn([3, 2]), { paddingIdx: 3 }), tf.ValueError, /paddingIdx/],
  ])('%s', (_name, fn, Cls, message) => {
    expectThrows(fn, Cls, message);
  });

  test('direct native.run calls with inconsistent views or attributes throw, never crash', () => {
    const v = (t: tf.Tensor) => t.nativeView();
    const e = () => tf.empty([0]);
    const xv = tf.randn([4, 6]), y = tf.empty([4, 6]), m = tf.empty([4]), r = tf.empty([4]);
    const ln = { normDims: 1, eps: 1e-5, hasWeight: 0, hasBias: 0 };
    const bad: [string, native.NativeView[], native.Attrs][] = [
      ['layerNorm', [v(xv), v(e()), v(e()), v(y), v(tf.empty([3])), v(r)], ln],          // mean too short
      ['layerNorm', [v(xv), v(tf.ones([5])), v(e()), v(y), v(m), v(r)], { ...ln, hasWeight: 1 }],  // weight size
      ['layerNorm', [v(xv), v(tf.ones([6])), v(e()), v(y), v(m), v(r)], ln],             // weight given but flag 0
      ['layerNorm', [v(xv), v(e()), v(e()), v(y), v(m), v(r)], { ...ln, normDims: 3 }],  // normDims > ndim
      ['layerNorm', [v(xv), v(e()), v(e()), v(y), v(m), v(r)], { ...ln, hasWeight: 2 }],
      ['layerNorm', [v(xv), v(e()), v(e()), v(tf.empty([4, 5])), v(m), v(r)], ln],
      ['layerNorm', [v(xv), v(e()), v(e()), v(y), v(m), v(r)], { ...ln, eps: NaN }],
      ['layerNormBackward', [v(xv), v(e()), v(m), v(r), v(tf.empty([6, 4])), v(y), v(e()), v(e())], { normDims: 1, hasWeight: 0, hasBias: 0 }],
      ['layerNormBackward', [v(xv), v(e()), v(m), v(r), v(xv), v(y), v(e()), v(e())], { normDims: 1, hasWeight: 0, hasBias: 1 }],
      ['batchNorm', [v(xv), v(e()), v(e()), v(y), v(tf.empty([4])), v(tf.empty([4])), v(e()), v(e())],
        { training: 1, momentum: 0.1, eps: 1e-5, hasWeight: 0, hasBias: 0, hasRunning: 0 }],  // saved stats: 6 channels, not 4
      ['batchNorm', [v(xv), v(e()), v(e()), v(y), v(tf.empty([6])), v(tf.empty([6])), v(e()), v(e())],
        { training: 0, momentum: 0.1, eps: 1e-5, hasWeight: 0, hasBias: 0, hasRunning: 0 }],
      ['batchNorm', [v(tf.randn([1, 6])), v(e()), v(e()), v(tf.empty([1, 6])), v(tf.empty([6])), v(tf.empty([6])), v(e()), v(e())],
        { training: 1, momentum: 0.1, eps: 1e-5, hasWeight: 0, hasBias: 0, hasRunning: 0 }],
      ['batchNormBackward', [v(xv), v(e()), v(tf.empty([6])), v(tf.empty([6])), v(xv), v(y), v(tf.empty([6])), v(e())],
        { training: 1, hasWeight: 0, hasBias: 0 }],
      ['activation', [v(xv), v(y)], { op: 'nope', alpha: 0, beta: 0 }],
      ['activation', [v(xv), v(tf.empty([6, 4]))], { op: 'gelu', alpha: 0, beta: 0 }],
      ['activation', [v(tf.zeros([4, 6], { dtype: 'int32' })), v(y)], { op: 'gelu', alpha: 0, beta: 0 }],
      ['activation', [v(xv), v(y)], { op: 'gelu' }],
      ['activationBackward', [v(xv), v(tf.empty([4, 5])), v(y)], { op: 'silu', alpha: 0, beta: 0 }],
    ];
    bad.forEach(([op, views, attrs], i) => { let threw = false; try { native.run(op, views, attrs); } catch (err) { threw = err instanceof tf.TensorforgeError; } if (!threw) throw new Error(`case ${i} (${op}) did not throw a typed error`); });
    // a weight view overlapping the output is refused by the binding
    expect(() => native.run('layerNorm', [v(xv), v(y.reshape([24]).slice(0, 0, 6)), v(e()), v(y), v(m), v(r)], { ...ln, hasWeight: 1 }))
      .toThrow(tf.TensorforgeError);
  });
});

describe('the native kernels survive random shapes and attributes', () => {
  // Views of random shapes and strides over real buffers (the binding keeps each inside its
  // buffer), random view counts and attributes: every call either works or throws a typed error.
  // A kernel trusting a shape it did not check would read or write outside a view and crash.
  seeded('fuzz: 3000 calls of the norm-family kernels', (rng) => {
    const ops = ['layerNorm', 'layerNormBackward', 'batchNorm', 'batchNormBackward', 'activation', 'activationBackward'];
    fuzzKernelCalls(rng, {
      calls: 3000, ranks: [1, 2, 3, 4], values: [0, 1, 2, -1, 0.5, 3, NaN, 1e-5, 1e9],
      make: (x, pick) => {
        const op = pick(ops);
        const k = 1 + Math.floor(rng.uniform() * x.length);
        const lead = x.slice(0, x.length - k), norm = x.slice(x.length - k), C = [x[1] ?? 1];
        const hw = pick([0, 1]), hb = pick([0, 1]);
        const opt = (on: number, shape: number[]) => (on ? shape : [0]);
        const shapes: Record<string, number[][]> = {
          layerNorm: [x, opt(hw, norm), opt(hb, norm), x, lead, lead],
          layerNormBackward: [x, opt(hw, norm), lead, lead, x, x, opt(hw, norm), opt(hb, norm)],
          batchNorm: [x, opt(hw, C), opt(hb, C), x, C, C, C, C],
          batchNormBackward: [x, opt(hw, C), C, C, x, x, opt(hw, C), opt(hb, C)],
          activation: [x, x],
          activationBackward: [x, x, x],
        };
        return {
          op, shapes: shapes[op], attrs: {
            normDims: k, eps: 1e-5, hasWeight: hw, hasBias: hb, training: pick([0, 1]), momentum: 0.1, hasRunning: 1,
            op: pick(['gelu', 'geluTanh', 'silu', 'softplus', 'leakyRelu', 'elu']), alpha: 0.5, beta: 2,
          },
        };
      },
    });
  });
});

// ---- 6. leaks ---------------------------------------------------------------------------------
describe('no leaks', () => {
  test('forward and backward of every op free everything they made', () => {
    const body = () => tf.scope(() => {
      const x = tf.randn([6, 4, 5], { requiresGrad: true });
      const w = tf.randn([5], { requiresGrad: true }), b = tf.randn([5], { requiresGrad: true });
      const c = tf.randn([4], { requiresGrad: true }), d = tf.randn([4], { requiresGrad: true });
      const rm = tf.zeros([4]), rv = tf.ones([4]);
      const emb = tf.randn([9, 5], { requiresGrad: true });
      const idx = tf.tensor([[1, 2], [8, 1]], undefined, { dtype: 'int32' });
      const parts = [
        tf.F.layerNorm(x, [5], w, b), tf.F.layerNorm(x, [4, 5]),
        tf.F.batchNorm(x, rm, rv, c, d, { training: true }), tf.F.batchNorm(x, rm, rv, c, null),
        tf.F.gelu(x), tf.F.gelu(x, { approximate: 'tanh' }), tf.F.silu(x), tf.F.softplus(x), tf.F.leakyRelu(x), tf.F.elu(x),
        tf.F.dropout(x, 0.3), tf.F.dropout(x, 0), tf.F.dropout(x, 1),
      ];
      let loss = tf.F.embedding(idx, emb, { paddingIdx: 1 }).sum();
      for (const p of parts) loss = loss.add(p.sum());
      loss.backward();
      for (const t of [x, w, b, c, d, emb]) t.zeroGrad();
      // an op whose result needs no gradient frees its saved statistics at once
      tf.noGrad(() => tf.F.layerNorm(x, [5], w, b).dispose());
    });
    body();  // warm-up: first-use allocations of the module
    expectNoLeaks(body);
  });

  test('saved statistics are freed by backward, or at once when no gradient is needed (no scope)', () => {
    const x = tf.randn([3, 4, 5], { requiresGrad: true }), w = tf.randn([5], { requiresGrad: true });
    const c = tf.randn([4], { requiresGrad: true }), rm = tf.zeros([4]), rv = tf.ones([4]);
    const ops = [
      () => tf.F.layerNorm(x, [5], w), () => tf.F.batchNorm(x, rm, rv, c, null, { training: true }),
      () => tf.F.batchNorm(x, rm, rv), () => tf.F.gelu(x), () => tf.F.dropout(x, 0.5),
    ];
    for (const op of ops) {
      expectNoLeaks(() => {
        const y = op();
        const loss = y.sum();
        loss.backward();
        [y, loss].forEach((t) => t.dispose());
        [x, w, c].forEach((t) => t.zeroGrad());
      });
      expectNoLeaks(() => tf.noGrad(() => op().dispose()));
    }
    [x, w, c, rm, rv].forEach((t) => t.dispose());
  });

  test('a failing forward frees its outputs and temporaries', () => {
    const w = tf.randn([2, 2]), idx = tf.tensor([[5]], undefined, { dtype: 'int32' }), x = tf.randn([2, 3]);
    const rm = tf.zeros([3]), rvBad = tf.ones([3]);
    expectNoLeaks(() => {
      expect(() => tf.F.embedding(idx, w)).toThrow(tf.IndexError);
      // the binding refuses an output (running var) that overlaps another output (running mean)
      expect(() => tf.F.batchNorm(x, rm, rm, null, null, { training: true })).toThrow(tf.TensorforgeError);
    });
    [w, idx, x, rm, rvBad].forEach((t) => t.dispose());
  });
});

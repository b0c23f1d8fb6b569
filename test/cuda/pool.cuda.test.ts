// CUDA pooling kernels (cuda/pool.cu) against the CPU kernels on the same random inputs: forward
// values and argmax indices, and the input gradients, over a table of window configurations (odd
// sizes, ceil mode, padding, dilation, overlapping and disjoint windows, adaptive sizes that do
// not divide, up- and down-sampling, the warp-per-output path of large adaptive windows), strided
// inputs, NaN windows, the attribute-less scatter form of maxPool2dBackward, and determinism.
// Max pooling selects values and its gather backward adds in the CPU's order, so those agree
// exactly; averages agree to float32 rounding.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/cuda/pool.cuda.test.ts
import * as tf from '../../ts';
import * as R from '../reference';
import { RefTensor, Rng } from '../reference';
import { runKernel } from '../../ts/ops/kernel';
import { describeCuda, expectClose, expectEqual, seeded, toRef } from '../helpers';

const RTOL = 1e-5;
const ATOL = 1e-6;

type Pair = [number, number];
interface MaxCfg { shape: number[]; k: Pair; s?: Pair; p?: Pair; d?: Pair; ceil?: boolean }
interface AvgCfg { shape: number[]; k: Pair; s?: Pair; p?: Pair; ceil?: boolean; includePad?: boolean; divisor?: number }
interface AdaptiveCfg { shape: number[]; size: [number | null, number | null] }

const MAX_CONFIGS: MaxCfg[] = [
  { shape: [2, 3, 8, 8], k: [2, 2] },                                  // disjoint windows
  { shape: [2, 3, 7, 9], k: [3, 3], s: [2, 2], p: [1, 1] },            // overlapping, padded, odd
  { shape: [1, 2, 9, 11], k: [3, 3], s: [2, 2], ceil: true },          // ceil mode, last window clipped
  { shape: [2, 2, 10, 13], k: [3, 2], s: [1, 2], p: [1, 1], ceil: true },
  { shape: [1, 3, 11, 12], k: [3, 3], s: [1, 1], p: [1, 1], d: [2, 2] },  // dilation, stride 1
  { shape: [2, 1, 9, 9], k: [2, 3], s: [3, 1], p: [1, 1], d: [3, 1], ceil: true },
  { shape: [1, 1, 1, 1], k: [1, 1] },
  { shape: [1, 1, 5, 1], k: [3, 1], s: [1, 1], p: [1, 0] },
  { shape: [4, 16, 57, 63], k: [3, 3], s: [2, 2], p: [1, 1], ceil: true },  // a ResNet-style stem, many blocks
];

const AVG_CONFIGS: AvgCfg[] = [
  { shape: [2, 3, 8, 8], k: [2, 2] },
  { shape: [2, 3, 7, 9], k: [3, 3], s: [2, 2], p: [1, 1] },
  { shape: [2, 3, 7, 9], k: [3, 3], s: [2, 2], p: [1, 1], includePad: false },
  { shape: [1, 2, 9, 11], k: [3, 3], s: [2, 2], p: [1, 1], ceil: true },  // windows clipped to the padded input
  { shape: [1, 2, 9, 11], k: [3, 3], s: [2, 2], p: [1, 1], ceil: true, includePad: false },
  { shape: [2, 2, 10, 13], k: [4, 2], s: [1, 3], p: [2, 1], divisor: 5 },
  { shape: [1, 1, 6, 7], k: [3, 3], s: [1, 1], divisor: -3 },
  { shape: [1, 1, 1, 1], k: [1, 1] },
  { shape: [4, 16, 57, 63], k: [3, 3], s: [2, 2], p: [1, 1], ceil: true, includePad: false },
];

const ADAPTIVE_CONFIGS: AdaptiveCfg[] = [
  { shape: [2, 3, 7, 9], size: [3, 5] },      // sizes that do not divide: overlapping cells
  { shape: [2, 3, 8, 8], size: [4, 4] },      // disjoint cells
  { shape: [1, 2, 4, 5], size: [9, 11] },     // up-sampling: an input in many cells
  { shape: [2, 2, 6, 10], size: [null, 3] },
  { shape: [3, 5, 32, 32], size: [1, 1] },    // global pool: a warp per output
  { shape: [2, 4, 56, 57], size: [4, 3] },    // large cells: a warp per output
  { shape: [1, 1, 1, 1], size: [1, 1] },
];

const randnRef = (shape: number[], rng: Rng): RefTensor => R.randn(shape, rng);

/** The same values as a CPU leaf and a CUDA leaf, both requiring grad. */
function leaves(r: RefTensor): [tf.Tensor, tf.Tensor] {
  const v = Float32Array.from(r.data);
  return [tf.tensor(v, [...r.shape], { requiresGrad: true }), tf.tensor(v, [...r.shape], { requiresGrad: true, device: 'cuda' })];
}

const host = (t: tf.Tensor) => t.to('cpu');

/** CUDA result against the CPU one. */
function same(cuda: tf.Tensor, cpu: tf.Tensor, what: string, rtol = RTOL, atol = ATOL): void {
  expect(cuda.device).toBe('cuda');
  expect(cuda.shape).toEqual(cpu.shape);
  expect(cuda.dtype).toBe(cpu.dtype);
  if (rtol === 0 && atol === 0) expectEqual(host(cuda), toRef(cpu), what);
  else expectClose(host(cuda), toRef(cpu), rtol, atol, what);
}

/** Runs f on both devices with the same input and the same output gradient G; compares values,
 *  (optional) indices and input gradients. */
function compare(what: string, shape: number[], rng: Rng, f: (x: tf.Tensor) => tf.Tensor | [tf.Tensor, tf.Tensor],
                 exact: boolean, transform?: (x: tf.Tensor) => tf.Tensor): void {
  const xr = randnRef(shape, rng);
  const [xc, xg] = leaves(xr);
  const run = (x: tf.Tensor) => {
    const out = f(transform ? transform(x) : x);
    return Array.isArray(out) ? out : [out] as [tf.Tensor];
  };
  const [yc, ic] = run(xc);
  const [yg, ig] = run(xg);
  const tol: [number, number] = exact ? [0, 0] : [RTOL, ATOL];
  same(yg, yc, `${what}: forward`, ...tol);
  if (ic) same(ig!, ic, `${what}: indices`, 0, 0);
  const G = randnRef([...yc.shape], rng);
  const Gv = Float32Array.from(G.data);
  yc.mul(tf.tensor(Gv, [...G.shape])).sum().backward();
  yg.mul(tf.tensor(Gv, [...G.shape], { device: 'cuda' })).sum().backward();
  same(xg.grad!, xc.grad!, `${what}: input gradient`, ...tol);
}

describeCuda('CUDA pooling matches the CPU kernels', () => {
  seeded('maxPool2d over a table of windows (values, indices and gradients exact)', (rng) => {
    for (const c of MAX_CONFIGS) {
      const opts = { kernelSize: c.k, stride: c.s ?? null, padding: c.p ?? [0, 0] as Pair, dilation: c.d ?? [1, 1] as Pair,
        ceilMode: c.ceil ?? false, returnIndices: true as const };
      compare(`maxPool2d ${JSON.stringify(c)}`, c.shape, rng, (x) => tf.F.maxPool2d(x, opts), true);
    }
  });

  seeded('avgPool2d over a table of windows', (rng) => {
    for (const c of AVG_CONFIGS) {
      const opts = { kernelSize: c.k, stride: c.s ?? null, padding: c.p ?? [0, 0] as Pair, ceilMode: c.ceil ?? false,
        countIncludePad: c.includePad ?? true, divisorOverride: c.divisor ?? null };
      compare(`avgPool2d ${JSON.stringify(c)}`, c.shape, rng, (x) => tf.F.avgPool2d(x, opts), false);
    }
  });

  seeded('adaptiveAvgPool2d and adaptiveMaxPool2d over sizes that do and do not divide', (rng) => {
    for (const c of ADAPTIVE_CONFIGS) {
      compare(`adaptiveAvgPool2d ${JSON.stringify(c)}`, c.shape, rng, (x) => tf.F.adaptiveAvgPool2d(x, c.size), false);
      compare(`adaptiveMaxPool2d ${JSON.stringify(c)}`, c.shape, rng,
        (x) => tf.F.adaptiveMaxPool2d(x, c.size, { returnIndices: true }), true);
    }
  });

  seeded('strided inputs (a transposed view) and unbatched inputs', (rng) => {
    // the leaf is [N, C, W, H]; the ops see its transpose, whose columns are not contiguous
    const t = (x: tf.Tensor) => x.transpose(2, 3);
    compare('maxPool2d transposed', [2, 3, 11, 8], rng,
      (x) => tf.F.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1, returnIndices: true }), true, t);
    compare('avgPool2d transposed', [2, 3, 11, 8], rng,
      (x) => tf.F.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }), false, t);
    compare('adaptiveAvgPool2d transposed', [2, 3, 40, 33], rng, (x) => tf.F.adaptiveAvgPool2d(x, [3, 2]), false, t);
    compare('adaptiveMaxPool2d transposed', [2, 3, 40, 33], rng,
      (x) => tf.F.adaptiveMaxPool2d(x, [3, 2], { returnIndices: true }), true, t);
    compare('maxPool2d unbatched', [3, 9, 7], rng, (x) => tf.F.maxPool2d(x, { kernelSize: 2, returnIndices: true }), true);
  });

  seeded('NaN wins a max window (the last NaN), ties keep the first position, -inf windows', (rng) => {
    const shape = [1, 2, 13, 12];  // 156 values a plane: adaptive [1, 1] takes the warp path
    const xr = randnRef(shape, rng);
    for (let i = 0; i < xr.data.length; i += 7) xr.data[i] = NaN;
    for (let i = 3; i < xr.data.length; i += 5) xr.data[i] = 2.5;  // ties
    for (let i = 1; i < xr.data.length; i += 11) xr.data[i] = -Infinity;
    const v = Float32Array.from(xr.data);
    const xc = tf.tensor(v, shape), xg = tf.tensor(v, shape, { device: 'cuda' });
    for (const opts of [{ kernelSize: 3, stride: 1, padding: 1 }, { kernelSize: 2, dilation: 3, stride: 1 }, { kernelSize: 4, stride: 3, ceilMode: true }]) {
      const [yc, ic] = tf.F.maxPool2d(xc, { ...opts, returnIndices: true });
      const [yg, ig] = tf.F.maxPool2d(xg, { ...opts, returnIndices: true });
      same(yg, yc, `maxPool2d NaN ${JSON.stringify(opts)}`, 0, 0);
      same(ig, ic, `maxPool2d NaN indices ${JSON.stringify(opts)}`, 0, 0);
    }
    for (const size of [[2, 3], [1, 1]] as Pair[]) {  // [1, 1]: the warp's lanes merge NaNs and ties
      const [yc, ic] = tf.F.adaptiveMaxPool2d(xc, size, { returnIndices: true });
      const [yg, ig] = tf.F.adaptiveMaxPool2d(xg, size, { returnIndices: true });
      same(yg, yc, `adaptiveMaxPool2d NaN ${size}`, 0, 0);
      same(ig, ic, `adaptiveMaxPool2d NaN indices ${size}`, 0, 0);
    }
    const big = randnRef([1, 1, 30, 30], rng);
    big.data.fill(1.5);  // every position ties: the first one must win across the warp's lanes
    const bc = tf.tensor(Float32Array.from(big.data), [1, 1, 30, 30]);
    const [, ibc] = tf.F.adaptiveMaxPool2d(bc, 1, { returnIndices: true });
    const [, ibg] = tf.F.adaptiveMaxPool2d(bc.to('cuda'), 1, { returnIndices: true });
    same(ibg, ibc, 'adaptiveMaxPool2d all ties', 0, 0);
  });

  seeded('maxPool2dBackward without window attributes scatters like the CPU', (rng) => {
    const shape = [2, 3, 9, 8];
    const x = tf.tensor(Float32Array.from(randnRef(shape, rng).data), shape);
    const [y, ix] = tf.F.maxPool2d(x, { kernelSize: 3, stride: 1, padding: 1, returnIndices: true });
    const g = tf.tensor(Float32Array.from(randnRef([...y.shape], rng).data), [...y.shape]);
    const gxc = tf.zeros(shape), gxg = tf.zeros(shape, { device: 'cuda' });
    runKernel('maxPool2dBackward', [g, ix], [gxc]);
    runKernel('maxPool2dBackward', [g.to('cuda'), ix.to('cuda')], [gxg]);
    // overlapping windows: atomics may add in another order
    same(gxg, gxc, 'scatter backward', 1e-6, 1e-6);
  });

  seeded('backward kernels are deterministic', (rng) => {
    const shape = [4, 8, 33, 31];
    const xr = randnRef(shape, rng);
    const grads: tf.Tensor[] = [];
    for (let rep = 0; rep < 2; rep++) {
      const x = tf.tensor(Float32Array.from(xr.data), shape, { requiresGrad: true, device: 'cuda' });
      const y = tf.F.maxPool2d(x, { kernelSize: 3, stride: 1, padding: 1 }).add(tf.F.avgPool2d(x, { kernelSize: 5, stride: 2, padding: 2 }).sum());
      y.sum().backward();
      grads.push(host(x.grad!));
    }
    expectEqual(grads[1], toRef(grads[0]), 'gradient on the second run');
  });

  seeded('large inputs: one plane of 1.2M elements', (rng) => {
    const shape = [1, 1, 1030, 1201];
    compare('maxPool2d large plane', shape, rng, (x) => tf.F.maxPool2d(x, { kernelSize: 2, returnIndices: true }), true);
    compare('adaptiveAvgPool2d large plane', shape, rng, (x) => tf.F.adaptiveAvgPool2d(x, [7, 7]), false);
  });
});

// The CUDA convolution kernels (cuda/conv.cu) against the CPU kernels on the same random inputs:
// forward (with and without bias), input gradient and weight gradient, over a table of geometries
// that hits every edge of the implicit-GEMM tiles (128 positions × 64 channels × 16/32 K per
// tile, a zero-padded last channel chunk per tap, split-K weight gradients), at each matmul
// precision, plus the benchmark shape. The generic suite (TF_TEST_DEVICE=cuda) covers the
// float64 reference, errors and leaks on small shapes.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/cuda/conv.cuda.test.ts
import { describeCuda } from '../helpers';   // describe() where a GPU exists, describe.skip otherwise
import * as tf from '../../ts';
import { conv2dBackward, type Conv2dOptions } from '../../ts/ops/conv';
import * as R from '../reference';
import { RefTensor, Rng } from '../reference';
import { expectClose, fromRef, seeded, toRef } from '../helpers';

interface Config {
  x: number[];  // [N, C, H, W]
  w: number[];  // [Co, C / groups, kh, kw]
  bias: boolean;
  opts: Conv2dOptions;
}
const label = (c: Config) => `x ${JSON.stringify(c.x)} w ${JSON.stringify(c.w)} bias ${c.bias} ${JSON.stringify(c.opts)}`;

const CONFIGS: Config[] = [
  // kernel sizes, odd images, batch 1
  { x: [1, 3, 7, 9], w: [5, 3, 1, 1], bias: true, opts: {} },
  { x: [1, 5, 11, 13], w: [7, 5, 3, 3], bias: false, opts: { padding: 1 } },
  { x: [1, 4, 15, 9], w: [6, 4, 5, 5], bias: true, opts: { padding: 2 } },
  { x: [2, 6, 9, 17], w: [8, 6, 1, 7], bias: false, opts: { padding: [0, 3] } },
  // strides 2 and 3, stride larger than the kernel, uneven padding, dilation
  { x: [2, 8, 17, 19], w: [12, 8, 3, 3], bias: true, opts: { stride: 2, padding: 1 } },
  { x: [1, 7, 23, 21], w: [9, 7, 3, 3], bias: false, opts: { stride: 3, padding: 2 } },
  { x: [2, 5, 13, 14], w: [4, 5, 1, 1], bias: true, opts: { stride: 3 } },
  { x: [1, 6, 19, 15], w: [10, 6, 3, 3], bias: false, opts: { stride: [2, 1], padding: [2, 0], dilation: 2 } },
  { x: [1, 3, 10, 12], w: [4, 3, 2, 3], bias: true, opts: { padding: 'same', dilation: [2, 1] } },
  // groups 2 and depthwise (groups = C)
  { x: [2, 12, 11, 10], w: [18, 6, 3, 3], bias: true, opts: { padding: 1, groups: 2 } },
  { x: [3, 16, 13, 13], w: [16, 1, 3, 3], bias: true, opts: { padding: 1, groups: 16 } },
  { x: [1, 9, 14, 11], w: [18, 1, 5, 5], bias: false, opts: { stride: 2, padding: 2, groups: 9 } },
  // tiny images, huge padding
  { x: [2, 3, 1, 1], w: [4, 3, 1, 1], bias: true, opts: {} },
  { x: [1, 2, 2, 3], w: [3, 2, 3, 3], bias: false, opts: { padding: 4 } },
  // tile edges: channels past one 64-wide N tile and one 16/32-deep K chunk, positions not a
  // multiple of 128, batch 33 (split-K weight gradient over many images)
  { x: [1, 70, 9, 11], w: [67, 70, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [33, 20, 7, 9], w: [130, 20, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [33, 17, 12, 10], w: [33, 17, 1, 1], bias: false, opts: { stride: 2 } },
  { x: [4, 48, 15, 15], w: [96, 24, 3, 3], bias: false, opts: { padding: 1, groups: 2, dilation: 2 } },
  { x: [2, 130, 6, 5], w: [3, 130, 3, 3], bias: true, opts: { padding: 1 } },
];

const PRECISIONS = ['highest', 'high', 'medium'] as const;
// Absolute error per sqrt(terms) and relative error, per precision: float32 sums; TF32 inputs
// (10-bit mantissa); BF16 inputs (8-bit mantissa). Random-sign sums grow as sqrt(terms).
const TOL: Record<(typeof PRECISIONS)[number], { rtol: number; atol: number }> = {
  highest: { rtol: 1e-4, atol: 3e-5 },
  high: { rtol: 1e-2, atol: 3e-3 },
  medium: { rtol: 3e-2, atol: 2.5e-2 },
};

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function randn(shape: number[], rng: Rng): tf.Tensor {
  return fromRef(R.randn(shape, rng));
}

/** The three results on one device: forward output, input and weight gradients. */
function run(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null, g: tf.Tensor | null, opts: Conv2dOptions) {
  const y = tf.F.conv2d(x, w, b, opts);
  const grads = g ? conv2dBackward(x, w, g, opts) : null;
  return { y, gx: grads?.[0] ?? null, gw: grads?.[1] ?? null };
}

const cpuRef = (t: tf.Tensor): RefTensor => toRef(t.device === 'cpu' ? t : t.to('cpu'));

/** CUDA vs CPU for one configuration at the given precisions (the CPU results computed once). */
function compare(c: Config, rng: Rng, precisions: readonly (typeof PRECISIONS)[number][]): void {
  const x = randn(c.x, rng), w = randn(c.w, rng), b = c.bias ? randn([c.w[0]], rng) : null;
  const y = tf.F.conv2d(x, w, b, c.opts);
  const g = randn([...y.shape], rng);
  const [gx, gw] = conv2dBackward(x, w, g, c.opts);
  const cpu = { y: toRef(y), gx: toRef(gx), gw: toRef(gw) };
  const xd = x.to('cuda'), wd = w.to('cuda'), bd = b?.to('cuda') ?? null, gd = g.to('cuda');
  const [, cg, kh, kw] = c.w;
  const taps = kh * kw, cog = c.w[0] / (c.opts.groups ?? 1);
  for (const precision of precisions) {
    tf.setMatmulPrecision(precision);
    const dev = run(xd, wd, bd, gd, c.opts);
    tf.cuda.synchronize();
    expect(dev.y.device).toBe('cuda');
    const { rtol, atol } = TOL[precision];
    const tol = (terms: number) => atol * Math.sqrt(Math.max(terms, 1));
    const what = `${precision} ${label(c)}`;
    expectClose(cpuRef(dev.y), cpu.y, rtol, tol(cg * taps), `forward ${what}`);
    expectClose(cpuRef(dev.gx!), cpu.gx, rtol, tol(cog * taps), `input grad ${what}`);
    expectClose(cpuRef(dev.gw!), cpu.gw, rtol, tol(y.shape[0] * y.shape[2] * y.shape[3]), `weight grad ${what}`);
  }
  tf.setMatmulPrecision('highest');
}

describeCuda('CUDA conv2d vs the CPU kernels', () => {
  afterEach(() => tf.setMatmulPrecision('highest'));

  for (const precision of PRECISIONS)
    seeded(`forward, input and weight gradients, precision ${precision}`, (rng) => {
      for (const c of CONFIGS) compare(c, rng, [precision]);
    }, 120_000);

  seeded('the benchmark shape (32×64×56×56, 64 3×3 filters, pad 1) at each precision', (rng) => {
    // Under the kernel emulator (TF_CUDA_EMULATED=1) a smaller batch and image, same channels and tiles.
    const x = process.env.TF_CUDA_EMULATED === '1' ? [2, 64, 19, 21] : [32, 64, 56, 56];
    const c: Config = { x, w: [64, 64, 3, 3], bias: true, opts: { padding: 1 } };
    compare(c, rng, PRECISIONS);
  }, 300_000);

  seeded('the weight gradient is reproducible bit for bit (split-K without atomics)', (rng) => {
    const x = randn([33, 32, 20, 20], rng).to('cuda'), w = randn([48, 32, 3, 3], rng).to('cuda');
    const g = randn([33, 48, 20, 20], rng).to('cuda');
    for (const precision of PRECISIONS) {
      tf.setMatmulPrecision(precision);
      const a = cpuRef(conv2dBackward(x, w, g, { padding: 1 })[1]);
      const b = cpuRef(conv2dBackward(x, w, g, { padding: 1 })[1]);
      expect(Array.from(b.data)).toEqual(Array.from(a.data));
    }
  }, 60_000);

  seeded('autograd through a CUDA conv2d matches the CPU', (rng) => {
    const x = randn([3, 10, 12, 11], rng), w = randn([14, 5, 3, 3], rng), b = randn([14], rng);
    const opts: Conv2dOptions = { stride: 2, padding: 1, groups: 2 };
    const grads = (dev: 'cpu' | 'cuda') => {
      const xs = [x, w, b].map((t) => (dev === 'cpu' ? t.clone() : t.to('cuda')).requiresGrad_(true));
      tf.F.conv2d(xs[0], xs[1], xs[2], opts).square().sum().backward();
      return xs.map((t) => cpuRef(t.grad!));
    };
    const cpu = grads('cpu'), dev = grads('cuda');
    for (let i = 0; i < 3; i++) expectClose(dev[i], cpu[i], 1e-4, 1e-3, ['gx', 'gw', 'gb'][i]);
  });

  seeded('empty batch and empty channel counts', () => {
    const x = tf.zeros([0, 4, 5, 5]).to('cuda'), w = tf.ones([6, 4, 3, 3]).to('cuda');
    const y = tf.F.conv2d(x, w, null, { padding: 1 });
    expect(y.shape).toEqual([0, 6, 5, 5]);
    const [gx, gw] = conv2dBackward(x, w, tf.zeros([0, 6, 5, 5]).to('cuda'), { padding: 1 });
    expect(gx.shape).toEqual([0, 4, 5, 5]);
    expect(Array.from(cpuRef(gw).data)).toEqual(new Array(prod([6, 4, 3, 3])).fill(0));
  });
});

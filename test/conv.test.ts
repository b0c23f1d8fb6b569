// conv2d (tf.F.conv2d) against the float64 reference (test/reference/conv.ts) and PyTorch fixtures:
// the reference VJP by finite differences, the native forward and both backward kernels on random
// configurations (odd sizes, strides, padding modes, dilation, groups, bias, batch, layouts), typed
// errors from the wrapper and the native boundary, NaN propagation and leaks.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/conv.test.ts
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '../ts';
import * as native from '../ts/native';
import * as R from './reference';
import { RefConv2dOptions, RefTensor, Rng, conv2d as refConv2d, conv2dVjp } from './reference';
import { expectClose, expectNoLeaks, fromRef, nonContiguous, seeded, toRef, expectThrows } from './helpers';

interface Config {
  x: number[];  // [N, C, H, W] or unbatched [C, H, W]
  w: number[];
  bias: boolean;
  opts: RefConv2dOptions;
}

const describeConfig = (c: Config) => `x ${JSON.stringify(c.x)} w ${JSON.stringify(c.w)} bias ${c.bias} ${JSON.stringify(c.opts)}`;

/** A random valid configuration: 1-3 images or unbatched, groups 1 / 2 / depthwise, kernels 1-4,
 *  stride 1-3, dilation 1-2, padding as a number, a pair, 'valid' or 'same' (stride 1 only). */
function randomConfig(rng: Rng): Config {
  const gKind = rng.int(0, 3);
  const cg = gKind === 2 ? 1 : rng.int(1, 4);
  const groups = gKind === 0 ? 1 : gKind === 1 ? 2 : rng.int(2, 5);
  const cout = groups * (gKind === 2 ? rng.int(1, 3) : rng.int(1, 4));
  const kh = rng.int(1, 5), kw = rng.int(1, 5);
  const dilation: [number, number] = [rng.int(1, 3), rng.int(1, 3)];
  let stride: number | [number, number] = rng.uniform() < 0.5 ? rng.int(1, 4) : [rng.int(1, 4), rng.int(1, 4)];
  const pm = rng.int(0, 4);
  let padding: RefConv2dOptions['padding'];
  if (pm === 0) padding = rng.int(0, 3);
  else if (pm === 1) padding = [rng.int(0, 3), rng.int(0, 3)];
  else if (pm === 2) padding = 'valid';
  else {
    padding = 'same';
    stride = 1;
  }
  const pads = typeof padding === 'number' ? [padding, padding] : Array.isArray(padding) ? padding : [0, 0];
  // input at least as large as the dilated kernel minus the padding, plus a few odd extras
  const h = Math.max(1, dilation[0] * (kh - 1) + 1 - 2 * pads[0]) + rng.int(0, 7);
  const w = Math.max(1, dilation[1] * (kw - 1) + 1 - 2 * pads[1]) + rng.int(0, 7);
  const batch = rng.int(0, 4);  // 0: unbatched
  const cin = cg * groups;
  return {
    x: batch === 0 ? [cin, h, w] : [batch, cin, h, w],
    w: [cout, cg, kh, kw],
    bias: rng.uniform() < 0.5,
    opts: { stride, padding, dilation, groups },
  };
}

/** Larger configurations whose column matrices span several blocks of output positions (the
 *  kernels block at most 192 output positions), with block edges inside output rows, and the 1×1 path;
 *  and stride-1 ones with >= 16 channels per group, which run on the padded grid (forward, the input
 *  gradient as a transposed convolution, the weight gradient), with uneven padding, dilation, groups. */
const BLOCKED: Config[] = [
  { x: [2, 64, 20, 19], w: [5, 64, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [2, 32, 13, 11], w: [40, 16, 3, 2], bias: true, opts: { padding: [1, 0], dilation: [2, 1], groups: 2 } },
  { x: [1, 16, 9, 30], w: [24, 16, 3, 5], bias: false, opts: { padding: 'same', dilation: [1, 2] } },
  { x: [1, 272, 6, 5], w: [3, 272, 3, 3], bias: true, opts: { padding: 1 } },  // deeper than one K block per tap
  // few input channels, 3×3, rows of >= 16 outputs: the weight gradient's dot-product path
  { x: [3, 2, 18, 21], w: [5, 2, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [2, 3, 20, 35], w: [6, 1, 3, 3], bias: false, opts: { padding: [2, 0], dilation: [2, 1], groups: 3 } },
  { x: [1, 48, 23, 17], w: [6, 24, 3, 3], bias: false, opts: { padding: [2, 1], stride: [1, 2], dilation: 2, groups: 2 } },
  { x: [2, 1100, 9, 11], w: [3, 1100, 1, 1], bias: true, opts: {} },
];

type Layout = 'contiguous' | 'transpose' | 'step';
const LAYOUTS: Layout[] = ['contiguous', 'transpose', 'step'];

/** A float32 tensor (and its exact float64 values) of the given shape and layout. */
function input(shape: number[], rng: Rng, layout: Layout, requiresGrad = false): { t: tf.Tensor; ref: RefTensor } {
  const base = fromRef(R.randn(shape, rng));
  const ref = toRef(base);
  const t = layout === 'contiguous' ? base : nonContiguous(base, layout);
  if (requiresGrad) t.requiresGrad_(true);
  return { t, ref };
}

// float32 sums against float64: the error grows with the number of terms per output (~sqrt(n)
// for random signs), so the absolute tolerance scales with it.
const tolFor = (terms: number): [number, number] => [1e-4, 3e-5 * Math.sqrt(Math.max(terms, 1))];

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

describe('reference conv2d', () => {
  seeded('VJP matches finite differences', (rng) => {
    const configs: Config[] = [
      { x: [2, 2, 5, 4], w: [3, 2, 3, 2], bias: true, opts: { stride: [2, 1], padding: 1 } },
      { x: [1, 4, 6, 5], w: [4, 2, 2, 3], bias: false, opts: { dilation: [2, 1], padding: 'same', groups: 2 } },
      { x: [3, 5, 4], w: [3, 1, 3, 3], bias: true, opts: { stride: 3, padding: [2, 0], groups: 3 } },
      { x: [1, 2, 5, 5], w: [2, 2, 4, 2], bias: true, opts: { padding: 'same' } },
    ];
    for (const c of configs) {
      const x = R.randn(c.x, rng), w = R.randn(c.w, rng), b = c.bias ? R.randn([c.w[0]], rng) : null;
      const y = refConv2d(x, w, b, c.opts);
      const g = R.randn(y.shape, rng);
      const f = (ins: RefTensor[]) => refConv2d(ins[0], ins[1], b ? ins[2] : null, c.opts);
      const fd = R.finiteDiffVjp(f, b ? [x, w, b] : [x, w], g);
      const [gx, gw, gb] = conv2dVjp(x, w, b, c.opts, g);
      R.assertClose(gx, fd[0], 1e-6, 1e-6, `gx ${describeConfig(c)}`);
      R.assertClose(gw, fd[1], 1e-6, 1e-6, `gw ${describeConfig(c)}`);
      if (b) R.assertClose(gb!, fd[2], 1e-6, 1e-6, `gb ${describeConfig(c)}`);
    }
  });

  test("'same' puts the odd padding at the bottom/right, like torch", () => {
    // 1×1 input, 2×2 kernel: the input sits at the top-left tap, so only w[0,0,0,0] sees it
    const y = refConv2d(R.tensor([5], [1, 1, 1, 1]), R.tensor([1, 2, 3, 4], [1, 1, 2, 2]), null, { padding: 'same' });
    expect(Array.from(y.data)).toEqual([5]);
  });
});

describe('native conv2d vs the reference', () => {
  seeded('forward on random configurations and layouts', (rng) => {
    for (let trial = 0; trial < 60; trial++) {
      const c = randomConfig(rng);
      const layout = LAYOUTS[trial % 3];
      tf.scope(() => {
        const x = input(c.x, rng, layout), w = input(c.w, rng, trial % 2 ? 'transpose' : 'contiguous');
        const b = c.bias ? input([c.w[0]], rng, trial % 4 === 1 ? 'step' : 'contiguous') : null;
        const y = tf.F.conv2d(x.t, w.t, b?.t, c.opts);
        const want = refConv2d(x.ref, w.ref, b?.ref ?? null, c.opts);
        expectClose(y, want, ...tolFor(numel(c.w.slice(1))), `forward ${describeConfig(c)} (${layout})`);
      });
    }
  });

  seeded('forward and backward on configurations spanning several column blocks', (rng) => {
    for (const c of BLOCKED) {
      tf.scope(() => {
        const x = input(c.x, rng, 'contiguous', true), w = input(c.w, rng, 'contiguous', true);
        const b = c.bias ? input([c.w[0]], rng, 'contiguous', true) : null;
        const y = tf.F.conv2d(x.t, w.t, b?.t, c.opts);
        const want = refConv2d(x.ref, w.ref, b?.ref ?? null, c.opts);
        expectClose(y, want, ...tolFor(numel(c.w.slice(1))), `forward ${describeConfig(c)}`);
        const G = toRef(fromRef(R.randn(y.shape, rng)));
        y.mul(fromRef(G)).sum().backward();
        const [gx, gw, gb] = conv2dVjp(x.ref, w.ref, b?.ref ?? null, c.opts, G);
        expectClose(x.t.grad!, gx, ...tolFor(c.w[0] * c.w[2] * c.w[3]), `gx ${describeConfig(c)}`);
        expectClose(w.t.grad!, gw, ...tolFor(numel(y.shape) / y.shape[1]), `gw ${describeConfig(c)}`);
        if (b) expectClose(b.t.grad!, gb!, ...tolFor(numel(y.shape) / y.shape[1]), `gb ${describeConfig(c)}`);
      });
    }
  });

  seeded('autograd gradients match the reference VJP', (rng) => {
    for (let trial = 0; trial < 40; trial++) {
      const c = randomConfig(rng);
      const layout = LAYOUTS[trial % 3];
      tf.scope(() => {
        const x = input(c.x, rng, layout, true), w = input(c.w, rng, layout === 'step' ? 'transpose' : 'contiguous', true);
        const b = c.bias ? input([c.w[0]], rng, 'contiguous', true) : null;
        const y = tf.F.conv2d(x.t, w.t, b?.t, c.opts);
        const G = toRef(fromRef(R.randn(y.shape, rng)));
        y.mul(fromRef(G)).sum().backward();
        const [gx, gw, gb] = conv2dVjp(x.ref, w.ref, b?.ref ?? null, c.opts, G);
        const what = `${describeConfig(c)} (${layout})`;
        expectClose(x.t.grad!, gx, ...tolFor(c.w[0] * c.w[2] * c.w[3]), `gx ${what}`);
        expectClose(w.t.grad!, gw, ...tolFor(numel(y.shape) / y.shape[y.ndim - 3]), `gw ${what}`);
        if (b) expectClose(b.t.grad!, gb!, ...tolFor(numel(y.shape) / y.shape[y.ndim - 3]), `gb ${what}`);
      });
    }
  });

  seeded('only the inputs that require grad get one', (rng) => {
    const x = input([2, 3, 5, 5], rng, 'contiguous'), w = input([4, 3, 3, 3], rng, 'contiguous', true);
    const b = input([4], rng, 'contiguous');
    tf.F.conv2d(x.t, w.t, b.t, { padding: 1 }).sum().backward();
    expect(x.t.grad).toBeNull();
    expect(b.t.grad).toBeNull();
    expect(w.t.grad!.shape).toEqual([4, 3, 3, 3]);
  });

  seeded('NaN in the input reaches exactly the outputs whose window covers it', (rng) => {
    const xr = R.randn([1, 2, 6, 7], rng);
    xr.data[1 * 42 + 3 * 7 + 4] = NaN;
    const wr = R.randn([3, 2, 3, 3], rng);
    const opts: RefConv2dOptions = { padding: 1, stride: [1, 2] };
    const y = tf.F.conv2d(fromRef(xr), fromRef(wr), null, opts);
    const want = refConv2d(toRef(fromRef(xr)), toRef(fromRef(wr)), null, opts);
    expect(want.data.some(Number.isNaN) && !want.data.every(Number.isNaN)).toBe(true);
    expectClose(y, want, ...tolFor(18), 'forward with NaN');
  });

  test('a batch of zero images gives an empty output and a zero weight gradient', () => {
    const x = tf.zeros([0, 2, 5, 5], { requiresGrad: true }), w = tf.randn([3, 2, 3, 3], { requiresGrad: true });
    const y = tf.F.conv2d(x, w);
    expect(y.shape).toEqual([0, 3, 3, 3]);
    y.sum().backward();
    expect(Array.from(w.grad!.dataSync())).toEqual(new Array(54).fill(0));
    expect(x.grad!.shape).toEqual([0, 2, 5, 5]);
  });
});

describe('PyTorch fixtures', () => {
  interface Fixture {
    options: RefConv2dOptions;
    x: RefTensorJson; w: RefTensorJson; b: RefTensorJson | null; y: RefTensorJson; g: RefTensorJson;
    gx: number[]; gw: number[]; gb: number[] | null;
  }
  interface RefTensorJson { shape: number[]; data: number[] }
  const fixtures: Fixture[] = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'conv.json'), 'utf8')).cases;
  const ref = (j: RefTensorJson): RefTensor => R.tensor(j.data, j.shape);

  test.each(fixtures.map((f, i) => [i, JSON.stringify(f.options), f] as const))('case %d %s', (_i, _o, f) => {
    tf.scope(() => {
      // torch ran in float64 on these exact values; float32 rounding of the inputs stays well inside 1e-4
      const x = fromRef(ref(f.x), { requiresGrad: true }), w = fromRef(ref(f.w), { requiresGrad: true });
      const b = f.b ? fromRef(ref(f.b), { requiresGrad: true }) : null;
      const y = tf.F.conv2d(x, w, b, f.options);
      expectClose(y, ref(f.y), 1e-4, 1e-4, 'forward');
      y.mul(fromRef(ref(f.g))).sum().backward();
      expectClose(x.grad!, R.tensor(f.gx, f.x.shape), 1e-4, 1e-4, 'gx');
      expectClose(w.grad!, R.tensor(f.gw, f.w.shape), 1e-4, 1e-4, 'gw');
      if (b) expectClose(b.grad!, R.tensor(f.gb!, f.b!.shape), 1e-4, 1e-4, 'gb');
      // and the reference agrees with torch in float64
      const [gx] = conv2dVjp(ref(f.x), ref(f.w), f.b ? ref(f.b) : null, f.options, ref(f.g));
      R.assertClose(refConv2d(ref(f.x), ref(f.w), f.b ? ref(f.b) : null, f.options), ref(f.y), 1e-12, 1e-12, 'reference forward');
      R.assertClose(gx, R.tensor(f.gx, f.x.shape), 1e-12, 1e-12, 'reference gx');
    });
  });
});

describe('bad arguments raise typed errors', () => {
  const x = tf.randn([2, 4, 6, 6]);
  const w = tf.randn([6, 2, 3, 3]);
  test.each<[string, () => unknown, new (m: string) => Error, RegExp]>([
    ['int input', () => tf.F.conv2d(x.int(), w), tf.DTypeError, /input must be float32, got int32/],
    ['not a tensor', () => tf.F.conv2d(x, [1] as never), tf.ArgumentError, /weight must be a Tensor/],
    ['2-D input', () => tf.F.conv2d(tf.randn([4, 6]), w), tf.ShapeError, /input must be \[N, C, H, W\] or unbatched/],
    ['3-D weight', () => tf.F.conv2d(x, tf.randn([6, 4, 3])), tf.ShapeError, /weight must be \[outChannels/],
    ['channel mismatch', () => tf.F.conv2d(x, tf.randn([6, 3, 3, 3])), tf.ShapeError, /needs 4 input channels per group/],
    ['groups do not divide', () => tf.F.conv2d(x, w, null, { groups: 3 }), tf.ShapeError, /divisible by groups \(3\)/],
    ['bias shape', () => tf.F.conv2d(x, w, tf.randn([5]), { groups: 2 }), tf.ShapeError, /bias must have shape \[6\]/],
    ['stride 0', () => tf.F.conv2d(x, w, null, { stride: 0, groups: 2 }), tf.ArgumentError, /stride must be an integer >= 1/],
    ['negative padding', () => tf.F.conv2d(x, w, null, { padding: -1, groups: 2 }), tf.ArgumentError, /padding must be an integer >= 0/],
    ['unknown padding mode', () => tf.F.conv2d(x, w, null, { padding: 'full' as never, groups: 2 }), tf.ArgumentError, /'valid' or 'same'/],
    ["'same' with stride 2", () => tf.F.conv2d(x, w, null, { padding: 'same', stride: 2, groups: 2 }), tf.ArgumentError, /needs stride 1/],
    ['fractional dilation', () => tf.F.conv2d(x, w, null, { dilation: 1.5, groups: 2 }), tf.ArgumentError, /dilation/],
    ['pair of three', () => tf.F.conv2d(x, w, null, { stride: [1, 1, 1] as never, groups: 2 }), tf.ArgumentError, /pair/],
    ['groups 0', () => tf.F.conv2d(x, w, null, { groups: 0 }), tf.ArgumentError, /groups must be a positive integer/],
    ['kernel too large', () => tf.F.conv2d(x, w, null, { dilation: 3, groups: 2 }), tf.ShapeError, /larger than the padded input/],
  ])('%s', (_name, fn, Cls, message) => {
    expectThrows(fn, Cls, message);
  });
});

describe('the native kernels validate their views', () => {
  const attrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
  const run = (op: string, ts: tf.Tensor[], a: native.Attrs = attrs) => () => native.run(op, ts.map((t) => t.nativeView()), a);
  const x = tf.randn([2, 3, 5, 5]), w = tf.randn([4, 3, 3, 3]), y = tf.empty([2, 4, 5, 5]);
  test.each<[string, () => void, new (m: string) => Error, RegExp]>([
    ['wrong output shape', run('conv2d', [x, w, tf.empty([2, 4, 4, 5])]), tf.ShapeError, /output must be \[2, 4, 5, 5\]/],
    ['output channels', run('conv2d', [x, w, tf.empty([2, 3, 5, 5])]), tf.ShapeError, /output must be/],
    ['non-contiguous input', run('conv2d', [x.transpose(2, 3), w, y]), tf.ShapeError, /contiguous 4-D/],
    ['3-D input', run('conv2d', [tf.randn([3, 5, 5]), w, y]), tf.ShapeError, /contiguous 4-D/],
    ['weight channels', run('conv2d', [x, tf.randn([4, 2, 3, 3]), y]), tf.ShapeError, /inChannels \/ groups = 3/],
    ['int32 weight', run('conv2d', [x, tf.zeros([4, 3, 3, 3], { dtype: 'int32' }), y]), tf.DTypeError, /float32/],
    ['bias length', run('conv2dBias', [x, w, tf.randn([3]), y]), tf.ShapeError, /bias must be \[4\]/],
    ['missing attribute', run('conv2d', [x, w, y], { stride: [1, 1], padding: [1, 1, 1, 1], groups: 1 }), tf.ArgumentError, /dilation/],
    ['short padding', run('conv2d', [x, w, y], { ...attrs, padding: [1, 1] }), tf.ArgumentError, /needs 4 values/],
    ['zero stride', run('conv2d', [x, w, y], { ...attrs, stride: [0, 1] }), tf.ArgumentError, /stride/],
    ['huge dilation', run('conv2d', [x, w, y], { ...attrs, dilation: [2 ** 40, 1] }), tf.ArgumentError, /dilation/],
    ['groups mismatch', run('conv2d', [x, w, y], { ...attrs, groups: 2 }), tf.ShapeError, /divisible by groups=2/],
    ['kernel too large', run('conv2d', [x, w, y], { ...attrs, padding: [0, 0, 0, 0], dilation: [3, 1] }), tf.ShapeError, /larger than the padded input/],
    ['dgrad input-gradient shape', run('conv2dInputGrad', [y, w, tf.empty([2, 3, 6, 5])]), tf.ShapeError, /output gradient must be \[2, 4, 6, 5\]/],
    ['dgrad gradient shape', run('conv2dInputGrad', [tf.randn([2, 4, 5, 4]), w, tf.empty([2, 3, 5, 5])]), tf.ShapeError, /output gradient must be \[2, 4, 5, 5\]/],
    ['wgrad weight shape', run('conv2dWeightGrad', [x, tf.randn([2, 4, 5, 5]), tf.empty([4, 3, 3, 2])]), tf.ShapeError, /output gradient must be \[2, 4, 5, 6\]/],
    ['wgrad batch mismatch', run('conv2dWeightGrad', [x, tf.randn([1, 4, 5, 5]), tf.empty([4, 3, 3, 3])]), tf.ShapeError, /output gradient must be \[2, 4, 5, 5\]/],
  ])('%s', (_name, fn, Cls, message) => {
    expectThrows(fn, Cls, message);
  });
});

describe('the native kernels survive random near-valid calls', () => {
  // Consistent geometries with one thing perturbed (a dim, a stride, an attribute) at random, run
  // in a child process: every call must succeed or throw a typed error, never crash.
  const script = `
    const addon = require('node-gyp-build')(${JSON.stringify(path.join(__dirname, '..'))});
    let seed = Number(process.argv[1]);
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo));
    const buf = addon.alloc(1 << 20);
    const contiguous = (s) => s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));
    const tweak = (s) => (rand() < 0.15 ? s.map((d) => (rand() < 0.3 ? int(0, 7) : d)) : s);
    const view = (shape, dtype = 0) => {
      const s = rand() < 0.05 ? shape.slice(1) : tweak(shape);
      let st = contiguous(s);
      if (rand() < 0.1) st = st.map((x) => x * int(0, 3));
      return [buf, rand() < 0.03 ? 1 : dtype, int(0, 64), s, st];
    };
    let ok = 0, typed = 0;
    const untyped = [];
    for (let i = 0; i < 3000; i++) {
      const g = int(1, 4), n = int(0, 3), cg = int(0, 4), cog = int(0, 3), kh = int(1, 4), kw = int(1, 4);
      const attrs = { stride: [int(1, 4), int(1, 4)], padding: [int(0, 3), int(0, 3), int(0, 3), int(0, 3)], dilation: [int(1, 3), int(1, 3)], groups: g };
      if (rand() < 0.1) attrs[['stride', 'padding', 'dilation', 'groups'][int(0, 4)]] = [[0, 1], [-1, 0, 0, 0], [1], 0, 2 ** 40, 'x'][int(0, 6)];
      const h = int(0, 9), w = int(0, 9);
      const ho = Math.floor((h + attrs.padding[0] + attrs.padding[1] - attrs.dilation[0] * (kh - 1) - 1) / attrs.stride[0]) + 1;
      const wo = Math.floor((w + attrs.padding[2] + attrs.padding[3] - attrs.dilation[1] * (kw - 1) - 1) / attrs.stride[1]) + 1;
      const xs = [n, cg * g, h, w], ws = [cog * g, cg, kh, kw], os = [n, cog * g, Math.max(ho, 0), Math.max(wo, 0)];
      const op = ['conv2d', 'conv2dBias', 'conv2dInputGrad', 'conv2dWeightGrad'][int(0, 4)];
      const views = op === 'conv2d' ? [view(xs), view(ws), view(os)]
        : op === 'conv2dBias' ? [view(xs), view(ws), view([cog * g]), view(os)]
        : op === 'conv2dInputGrad' ? [view(os), view(ws), view(xs)] : [view(xs), view(os), view(ws)];
      try { addon.run(op, views, attrs); ok++; } catch (e) {
        if (String(e && e.code).startsWith('ERR_TF_')) typed++; else untyped.push(String(e && e.message));
      }
    }
    console.log(JSON.stringify({ ok, typed, untyped: untyped.slice(0, 5) }));
  `;
  test('3000 calls: each succeeds or throws a typed error', () => {
    const r = spawnSync(process.execPath, ['-e', script, String(Date.now() % 1e9)], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    const summary = JSON.parse(r.stdout.trim());
    expect(summary.untyped).toEqual([]);
    expect(summary.ok).toBeGreaterThan(300);  // many calls reach the arithmetic
    expect(summary.typed).toBeGreaterThan(300);
  });
});

describe('memory', () => {
  seeded('forward and backward leave nothing behind (batched, unbatched, non-contiguous, bias)', (rng) => {
    const cases: [number[], number[], boolean, Layout][] = [
      [[2, 4, 7, 6], [6, 2, 3, 3], true, 'transpose'],
      [[4, 7, 6], [4, 4, 1, 1], false, 'step'],
      [[1, 8, 9, 9], [8, 8, 3, 3], true, 'contiguous'],
    ];
    for (const [xs, ws, bias, layout] of cases) {
      const x = input(xs, rng, layout, true), w = input(ws, rng, 'contiguous', true);
      const b = bias ? input([ws[0]], rng, 'contiguous', true) : null;
      const groups = (xs[xs.length - 3] / ws[1]);
      expectNoLeaks(() => {
        tf.scope(() => tf.F.conv2d(x.t, w.t, b?.t, { padding: 1, groups }).sum().backward());
        for (const t of [x.t, w.t, b?.t]) {
          t?.grad?.dispose();
          if (t) t.grad = null;
        }
      });
      expectNoLeaks(() => tf.noGrad(() => tf.F.conv2d(x.t, w.t, b?.t, { padding: 'same', groups }).dispose()));
    }
  });
});

// 2-D pooling (maxPool2d, avgPool2d, adaptiveAvgPool2d, adaptiveMaxPool2d) against the float64
// reference (test/reference/pool.ts), whose VJPs are checked by finite differences first; then
// autograd, PyTorch fixtures, poisoned outputs and strided output views at the native boundary,
// typed errors, NaN propagation and leaks.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/pool.test.ts
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '../ts';
import * as native from '../ts/native';
import * as R from './reference';
import { RefPoolOptions, RefTensor, Rng } from './reference';
import { expectClose, expectEqual, expectNoLeaks, fromRef, nonContiguous, seeded, toRef, expectThrows } from './helpers';

// Max pooling selects values: forward values and indices must be exact. Averages and gradients
// add at most a few dozen float32 terms of magnitude ~1, so a few ulps of float32 suffice.
const RTOL = 1e-5;
const ATOL = 1e-6;

type Kind = 'max' | 'avg' | 'adaptiveAvg' | 'adaptiveMax';
type Layout = 'contiguous' | 'transpose' | 'step' | 'expand';
const LAYOUTS: Layout[] = ['contiguous', 'transpose', 'step', 'expand'];

interface Config { kind: Kind; shape: number[]; opts: RefPoolOptions; size: [number, number] }

const rint = (rng: Rng, lo: number, hi: number) => rng.int(lo, hi + 1);  // inclusive

/** A random configuration with a valid (>= 1) output; `wide` makes W long enough for the
 *  vectorised interior-column loops. */
function randomConfig(rng: Rng, kind: Kind, wide = false): Config {
  for (;;) {
    const shape = [rint(rng, 1, 2), rint(rng, 1, 3), rint(rng, 1, 11), wide ? rint(rng, 20, 53) : rint(rng, 1, 11)];
    const size: [number, number] = [rint(rng, 1, 5), rint(rng, 1, 6)];
    const k: [number, number] = [rint(rng, 1, 4), rint(rng, 1, 4)];
    const opts: RefPoolOptions = {
      kernelSize: k,
      stride: [rint(rng, 1, 3), rint(rng, 1, 3)],
      padding: [rint(rng, 0, k[0] >> 1), rint(rng, 0, k[1] >> 1)],
      dilation: kind === 'max' ? [rint(rng, 1, 2), rint(rng, 1, 2)] : [1, 1],
      ceilMode: rng.uniform() < 0.5,
      countIncludePad: rng.uniform() < 0.5,
      divisorOverride: kind === 'avg' && rng.uniform() < 0.25 ? rint(rng, 1, 7) : undefined,
    };
    const [, , H, W] = shape;
    const d = opts.dilation!;
    const ok = kind.startsWith('adaptive') ||
      (R.pooledSize(H, k[0], opts.stride![0], opts.padding![0], d[0], opts.ceilMode!) >= 1 &&
       R.pooledSize(W, k[1], opts.stride![1], opts.padding![1], d[1], opts.ceilMode!) >= 1);
    if (ok) return { kind, shape, opts, size };
  }
}

const describeConfig = (c: Config) => `${c.kind} ${JSON.stringify(c.shape)} ${c.kind.startsWith('adaptive') ? JSON.stringify(c.size) : JSON.stringify(c.opts)}`;

/** The public op for a configuration: values and (for max kinds) indices. */
function runOp(c: Config, x: tf.Tensor): { y: tf.Tensor; ix?: tf.Tensor } {
  const o = c.opts;
  switch (c.kind) {
    case 'max': {
      const [y, ix] = tf.F.maxPool2d(x, { kernelSize: o.kernelSize, stride: o.stride, padding: o.padding, dilation: o.dilation, ceilMode: o.ceilMode, returnIndices: true });
      return { y, ix };
    }
    case 'avg':
      return { y: tf.F.avgPool2d(x, { kernelSize: o.kernelSize, stride: o.stride, padding: o.padding, ceilMode: o.ceilMode, countIncludePad: o.countIncludePad, divisorOverride: o.divisorOverride }) };
    case 'adaptiveAvg':
      return { y: tf.F.adaptiveAvgPool2d(x, c.size) };
    case 'adaptiveMax': {
      const [y, ix] = tf.F.adaptiveMaxPool2d(x, c.size, { returnIndices: true });
      return { y, ix };
    }
  }
}

function refForward(c: Config, x: RefTensor): { y: RefTensor; ix?: RefTensor } {
  switch (c.kind) {
    case 'max': { const r = R.maxPool2d(x, c.opts); return { y: r.values, ix: r.indices }; }
    case 'avg': return { y: R.avgPool2d(x, c.opts) };
    case 'adaptiveAvg': return { y: R.adaptiveAvgPool2d(x, c.size) };
    case 'adaptiveMax': { const r = R.adaptiveMaxPool2d(x, c.size); return { y: r.values, ix: r.indices }; }
  }
}

function refVjp(c: Config, x: RefTensor, g: RefTensor): RefTensor {
  switch (c.kind) {
    case 'max': return R.maxPool2dVjp(x, c.opts, g);
    case 'avg': return R.avgPool2dVjp(x, c.opts, g);
    case 'adaptiveAvg': return R.adaptiveAvgPool2dVjp(x, c.size, g);
    case 'adaptiveMax': return R.adaptiveMaxPool2dVjp(x, c.size, g);
  }
}

/** Input values rounded to float32, so the reference sees what the engine sees. */
const f32Randn = (shape: number[], rng: Rng) => toRef(fromRef(R.randn(shape, rng)));

/** x in a layout; 'expand' broadcasts one sample along N (stride 0). Returns the tensor and the
 *  reference for the values it holds. */
function inLayout(ref: RefTensor, layout: Layout): { t: tf.Tensor; ref: RefTensor } {
  if (layout === 'expand') {
    const one = { shape: [1, ...ref.shape.slice(1)], data: ref.data.slice(0, R.numel(ref.shape.slice(1))) };
    return { t: fromRef(one).expand(ref.shape), ref: R.expand(one, ref.shape) };
  }
  const base = fromRef(ref);
  return { t: layout === 'contiguous' ? base : nonContiguous(base, layout), ref };
}

// ---- 1. the reference's VJPs against finite differences --------------------------------------
describe('reference VJPs match finite differences', () => {
  const kinds: Kind[] = ['max', 'avg', 'adaptiveAvg', 'adaptiveMax'];
  for (const kind of kinds)
    seeded(`${kind}`, (rng) => {
      for (let trial = 0; trial < 6; trial++) {
        const c = randomConfig(rng, kind);
        const x = R.randn(c.shape, rng);
        const y = refForward(c, x).y;
        // a max window lying wholly in the padding gives -inf, where no finite difference exists
        if (y.data.some((v) => !Number.isFinite(v))) continue;
        const g = R.randn(y.shape, rng);
        const [fd] = R.finiteDiffVjp(([xx]) => refForward(c, xx).y, [x], g);
        R.assertClose(refVjp(c, x, g), fd, 1e-6, 1e-7, describeConfig(c));
      }
    });
});

// ---- 2. native forward against the reference -------------------------------------------------
describe('forward matches the reference over random configurations', () => {
  const kinds: Kind[] = ['max', 'avg', 'adaptiveAvg', 'adaptiveMax'];
  for (const kind of kinds)
    for (const wide of [false, true])
      seeded(`${kind}${wide ? ' (wide rows: vector path)' : ''}`, (rng) => {
        for (let trial = 0; trial < 40; trial++) {
          const c = randomConfig(rng, kind, wide);
          const xr = f32Randn(c.shape, rng);
          const layout = LAYOUTS[trial % LAYOUTS.length];
          const { t, ref } = inLayout(xr, layout);
          const want = refForward(c, ref);
          const got = runOp(c, t);
          const what = `${describeConfig(c)} ${layout}`;
          if (kind === 'max' || kind === 'adaptiveMax') {
            expectEqual(got.y, want.y, `${what} values`);
            expect(got.ix!.dtype).toBe('int32');
            expectEqual(got.ix!, want.ix!, `${what} indices`);
          } else expectClose(got.y, want.y, RTOL, ATOL, what);
        }
      });

  seeded('vector path for every stride (1, 2, gathered 3), dilation and padding on long and 8-wide rows', (rng) => {
    for (const W of [75, 21]) {
      const xr = f32Randn([1, 2, 6, W], rng);
      const x = fromRef(xr), xt = nonContiguous(x, 'step');
      for (const s of [1, 2, 3])
        for (const d of [1, 2])
          for (const p of [0, 1]) {
            const o: RefPoolOptions = { kernelSize: [2, 3], stride: [1, s], padding: [p, p], dilation: [d, d], ceilMode: s === 3 };
            const what = JSON.stringify(o);
            const want = R.maxPool2d(xr, o);
            for (const t of [x, xt]) {
              const [v, i] = tf.F.maxPool2d(t, { ...o, returnIndices: true });
              expectEqual(v, want.values, `max ${what}`);
              expectEqual(i, want.indices, `max indices ${what}`);
              expectClose(tf.F.avgPool2d(t, { ...o, dilation: undefined } as tf.F.AvgPool2dOptions), R.avgPool2d(xr, o), RTOL, ATOL, `avg ${what}`);
            }
            // and the backward kernels on the same long rows
            const xg = fromRef(xr, { requiresGrad: true });
            const yMax = tf.F.maxPool2d(xg, o), yAvg = tf.F.avgPool2d(xg, { ...o, dilation: undefined } as tf.F.AvgPool2dOptions);
            const gMax = toRef(fromRef(R.randn(yMax.shape as number[], rng))), gAvg = toRef(fromRef(R.randn(yAvg.shape as number[], rng)));
            yMax.mul(fromRef(gMax)).sum().add(yAvg.mul(fromRef(gAvg)).sum()).backward();
            const want2 = R.binary('add', R.maxPool2dVjp(xr, o, gMax), R.avgPool2dVjp(xr, { ...o, dilation: [1, 1] }, gAvg));
            expectClose(xg.grad!, want2, RTOL, ATOL, `backward ${what}`);
          }
    }
  });

  seeded('unbatched [C, H, W] inputs give the batched result without the batch dim', (rng) => {
    for (const kind of ['max', 'avg', 'adaptiveAvg', 'adaptiveMax'] as Kind[]) {
      const c = randomConfig(rng, kind);
      c.shape = [1, ...c.shape.slice(1)];
      const x = fromRef(f32Randn(c.shape, rng));
      const b = runOp(c, x), u = runOp(c, x.reshape(c.shape.slice(1)));
      expect(u.y.shape).toEqual(b.y.shape.slice(1));
      expectEqual(u.y, toRef(b.y.reshape(u.y.shape as number[])), kind);
      if (b.ix) expectEqual(u.ix!, toRef(b.ix.reshape(u.ix!.shape as number[])), `${kind} indices`);
    }
  });

  seeded('global average pool (adaptive 1x1) on classifier-sized inputs, every layout', (rng) => {
    for (const layout of LAYOUTS) {
      const xr = f32Randn([4, 33, 7, 7], rng);
      const { t, ref } = inLayout(xr, layout);
      expectClose(tf.F.adaptiveAvgPool2d(t, 1), R.adaptiveAvgPool2d(ref, [1, 1]), RTOL, ATOL, layout);
    }
    for (const layout of ['contiguous', 'transpose'] as const) {  // and its backward (a fill per plane)
      const xr = f32Randn([3, 5, 7, 6], rng);
      const x = layout === 'contiguous' ? fromRef(xr, { requiresGrad: true }) : nonContiguous(fromRef(xr), layout, { requiresGrad: true });
      const G = f32Randn([3, 5, 1, 1], rng);
      tf.F.adaptiveAvgPool2d(x, 1).mul(fromRef(G)).sum().backward();
      expectClose(x.grad!, R.adaptiveAvgPool2dVjp(xr, [1, 1], G), RTOL, ATOL, `backward ${layout}`);
      const gx = tf.full([3, 5, 6, 7], NaN).transpose(2, 3);  // a strided, poisoned gradient output
      native.run('adaptiveAvgPool2dBackward', [fromRef(G).nativeView(), gx.nativeView()]);
      expectClose(gx, R.adaptiveAvgPool2dVjp(xr, [1, 1], G), RTOL, ATOL, 'strided gx');
    }
    const big = f32Randn([1, 2, 150, 170], rng);  // one long sum per plane
    expectClose(tf.F.adaptiveAvgPool2d(fromRef(big), [1, 1]), R.adaptiveAvgPool2d(big, [1, 1]), 1e-5, 1e-6, 'large plane');
  });

  seeded('a few planes with many rows split into row blocks across threads', (rng) => {
    const xr = f32Randn([1, 1, 97, 64], rng);
    const x = fromRef(xr);
    const o: RefPoolOptions = { kernelSize: [3, 3], stride: [2, 2], padding: [1, 1] };
    expectEqual(tf.F.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), R.maxPool2d(xr, o).values, 'max');
    expectClose(tf.F.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), R.avgPool2d(xr, o), RTOL, ATOL, 'avg');
  });

  test('torch conventions on a known example: ceil-mode windows, divisors, indices', () => {
    const x = tf.arange(25).float().reshape([1, 1, 5, 5]);
    const [v, i] = tf.F.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, returnIndices: true });
    expect(v.toArray()).toEqual([[[[6, 8, 9], [16, 18, 19], [21, 23, 24]]]]);
    expect(i.toArray()).toEqual([[[[6, 8, 9], [16, 18, 19], [21, 23, 24]]]]);
    const a = tf.F.avgPool2d(tf.ones([1, 1, 5, 5]), { kernelSize: 3, stride: 2, padding: 1, ceilMode: true });
    expectClose(a, R.tensor([4 / 9, 6 / 9, 4 / 9, 6 / 9, 1, 6 / 9, 4 / 9, 6 / 9, 4 / 9], [1, 1, 3, 3]), 1e-6, 0, 'avg ceil');
    // stride defaults to kernelSize; a bare number is the kernel size
    expect(tf.F.maxPool2d(tf.zeros([1, 1, 6, 6]), 2).shape).toEqual([1, 1, 3, 3]);
    expect(tf.F.avgPool2d(tf.zeros([2, 6, 6]), { kernelSize: [2, 3], stride: null }).shape).toEqual([2, 3, 2]);
    expect(tf.F.adaptiveAvgPool2d(tf.zeros([1, 2, 5, 6]), [null, 3]).shape).toEqual([1, 2, 5, 3]);
  });

  test('NaN propagates: it wins a max window (the last NaN gives the index), it spreads through averages', () => {
    const N = NaN;
    const I = -Infinity;
    const xs = [1, N, 3, N, 5, 6, 7, 8, I, I, I, I, I, I, N, 1];
    const xr = R.tensor(xs, [1, 1, 4, 4]);
    const x = fromRef(xr);
    const o: RefPoolOptions = { kernelSize: [2, 2] };
    const [v, i] = tf.F.maxPool2d(x, { kernelSize: 2, returnIndices: true });
    const want = R.maxPool2d(xr, o);
    expectClose(v, want.values, 0, 0, 'values');
    expectEqual(i, want.indices, 'indices');
    expect(Array.from(i.dataSync())).toEqual([1, 3, 8, 14]);
    expect(Array.from(v.dataSync()).map(String)).toEqual(['NaN', 'NaN', '-Infinity', 'NaN']);
    expectClose(tf.F.avgPool2d(x, 2), R.avgPool2d(xr, o), 0, 0, 'avg');
    expectClose(tf.F.adaptiveMaxPool2d(x, 1), R.adaptiveMaxPool2d(xr, [1, 1]).values, 0, 0, 'adaptive max');
    expect(tf.F.adaptiveAvgPool2d(x, 1).item()).toBeNaN();
    // wide rows run the vector path: NaN must win there too
    const wide = toRef(fromRef(R.randn([1, 1, 2, 40], R.makeRng(7))));
    wide.data[21] = N;
    expectClose(tf.F.maxPool2d(fromRef(wide), { kernelSize: [2, 3], stride: [1, 1] }), R.maxPool2d(wide, { kernelSize: [2, 3], stride: [1, 1] }).values, 0, 0, 'wide');
  });
});

// ---- 3. autograd against the reference VJPs --------------------------------------------------
describe('gradients match the reference VJPs', () => {
  const kinds: Kind[] = ['max', 'avg', 'adaptiveAvg', 'adaptiveMax'];
  for (const kind of kinds)
    seeded(`${kind}`, (rng) => {
      for (let trial = 0; trial < 24; trial++) {
        const c = randomConfig(rng, kind, trial % 3 === 2);
        const unbatched = trial % 5 === 4;
        if (unbatched) c.shape = [1, ...c.shape.slice(1)];
        const xr = f32Randn(c.shape, rng);
        const layout = (['contiguous', 'transpose', 'step'] as const)[trial % 3];
        const base = fromRef(unbatched ? { shape: c.shape.slice(1), data: xr.data } : xr);
        const x = layout === 'contiguous' ? base.requiresGrad_(true) : nonContiguous(base, layout, { requiresGrad: true });
        const { y } = runOp(c, x);
        const G = toRef(fromRef(R.randn(y.shape as number[], rng)));
        // a non-contiguous output gradient too: the backward kernels take any strides
        const Gt = trial % 2 ? nonContiguous(fromRef(G), 'transpose') : fromRef(G);
        y.mul(Gt).sum().backward();
        const want = refVjp(c, xr, { shape: [...c.shape.slice(0, 2), ...y.shape.slice(-2)], data: G.data });
        expectClose(x.grad!, { shape: [...x.shape], data: want.data }, RTOL, ATOL, `${describeConfig(c)} ${layout}${unbatched ? ' unbatched' : ''}`);
      }
    });

  test('overlapping max windows accumulate at a shared argmax', () => {
    const x = tf.tensor([[[[0, 0, 0], [0, 9, 0], [0, 0, 0]]]], undefined, { requiresGrad: true });
    tf.F.maxPool2d(x, { kernelSize: 2, stride: 1 }).sum().backward();
    expect(x.grad!.toArray()).toEqual([[[[0, 0, 0], [0, 4, 0], [0, 0, 0]]]]);
  });
});

// ---- 4. PyTorch fixtures ---------------------------------------------------------------------
describe('PyTorch fixtures (scripts/fixtures/pool.py)', () => {
  interface FixtureCase {
    kind: string;
    options: Record<string, unknown>;
    x: RefTensor; g: RefTensor; y: RefTensor; gx: RefTensor; indices?: RefTensor;
  }
  const file = path.join(__dirname, 'fixtures', 'pool.json');
  const cases: FixtureCase[] = JSON.parse(fs.readFileSync(file, 'utf8')).cases;
  const asRef = (r: RefTensor): RefTensor => ({ shape: r.shape, data: Float64Array.from(r.data) });

  test.each(cases.map((c, i) => [`${i}: ${c.kind} ${JSON.stringify(c.x.shape)} ${JSON.stringify(c.options)}`, c] as const))('%s', (_name, c) => {
    tf.scope(() => {
      const x = fromRef(asRef(c.x), { requiresGrad: true });
      const o = c.options as never as { outputSize: [number, number] };
      let y: tf.Tensor, ix: tf.Tensor | undefined;
      if (c.kind === 'maxPool2d') [y, ix] = tf.F.maxPool2d(x, { ...(c.options as never as tf.F.MaxPool2dOptions), returnIndices: true });
      else if (c.kind === 'avgPool2d') y = tf.F.avgPool2d(x, c.options as never as tf.F.AvgPool2dOptions);
      else if (c.kind === 'adaptiveAvgPool2d') y = tf.F.adaptiveAvgPool2d(x, o.outputSize);
      else [y, ix] = tf.F.adaptiveMaxPool2d(x, o.outputSize, { returnIndices: true });
      expectClose(y, asRef(c.y), RTOL, ATOL, 'forward');
      if (c.indices) expectEqual(ix!, asRef(c.indices), 'indices');
      y.mul(fromRef(asRef(c.g))).sum().backward();
      expectClose(x.grad!, asRef(c.gx), RTOL, ATOL, 'input gradient');
    });
  });
});

// ---- 5. native boundary: poisoned outputs, strided outputs, bad calls -------------------------
describe('native kernels', () => {
  const v = (t: tf.Tensor) => t.nativeView();
  const mAttrs = (o: RefPoolOptions) => ({
    kernelSize: o.kernelSize, stride: o.stride ?? o.kernelSize, padding: o.padding ?? [0, 0], dilation: o.dilation ?? [1, 1], ceilMode: !!o.ceilMode,
  });
  const aAttrs = (o: RefPoolOptions) => ({
    kernelSize: o.kernelSize, stride: o.stride ?? o.kernelSize, padding: o.padding ?? [0, 0], ceilMode: !!o.ceilMode,
    countIncludePad: o.countIncludePad ?? true, divisorOverride: o.divisorOverride ?? 0,
  });
  /** A NaN-filled (poisoned) output; 'strided' makes it a transposed view of its buffer. */
  const poisoned = (shape: number[], strided: boolean, dtype: tf.DType = 'float32') => {
    if (!strided) return tf.full(shape, dtype === 'float32' ? NaN : -7, { dtype });
    const s = [...shape];
    [s[2], s[3]] = [s[3], s[2]];
    return tf.full(s, dtype === 'float32' ? NaN : -7, { dtype }).transpose(2, 3);
  };

  seeded('every kernel writes every output element, into contiguous and strided outputs', (rng) => {
    for (let trial = 0; trial < 16; trial++) {
      const strided = trial % 2 === 1;
      for (const kind of ['max', 'avg', 'adaptiveAvg', 'adaptiveMax'] as Kind[]) {
        const c = randomConfig(rng, kind, trial % 4 === 3);
        const xr = f32Randn(c.shape, rng);
        const want = refForward(c, xr);
        const oshape = want.y.shape;
        const y = poisoned(oshape, strided), ix = poisoned(oshape, strided, 'int32');
        const x = fromRef(xr);
        const what = `${describeConfig(c)}${strided ? ' strided' : ''}`;
        if (kind === 'max') native.run('maxPool2d', [v(x), v(y), v(ix)], mAttrs(c.opts));
        else if (kind === 'avg') native.run('avgPool2d', [v(x), v(y)], aAttrs(c.opts));
        else if (kind === 'adaptiveAvg') native.run('adaptiveAvgPool2d', [v(x), v(y)]);
        else native.run('adaptiveMaxPool2d', [v(x), v(y), v(ix)]);
        expectClose(y, want.y, RTOL, ATOL, what);
        if (want.ix) expectEqual(ix, want.ix, `${what} indices`);
        // backward into a poisoned input gradient
        const G = f32Randn(oshape, rng);
        const gx2 = poisoned(c.shape, strided);
        if (kind === 'max' || kind === 'adaptiveMax') native.run('maxPool2dBackward', [v(fromRef(G)), v(fromRef(want.ix!, { dtype: 'int32' })), v(gx2)]);
        else if (kind === 'avg') native.run('avgPool2dBackward', [v(fromRef(G)), v(gx2)], aAttrs(c.opts));
        else native.run('adaptiveAvgPool2dBackward', [v(fromRef(G)), v(gx2)]);
        expectClose(gx2, refVjp(c, xr, G), RTOL, ATOL, `${what} backward`);
      }
    }
  });

  test('inconsistent views or attributes throw typed errors, never crash', () => {
    const x = tf.randn([2, 3, 6, 6]), y = tf.empty([2, 3, 3, 3]), ix = tf.zeros([2, 3, 3, 3], { dtype: 'int32' });
    const m = { kernelSize: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: 0 };
    const a = { kernelSize: [2, 2], stride: [2, 2], padding: [0, 0], ceilMode: 0, countIncludePad: 1, divisorOverride: 0 };
    const badIx = tf.full([2, 3, 3, 3], 36, { dtype: 'int32' });
    const bad: [string, native.NativeView[], native.Attrs | undefined, RegExp][] = [
      ['maxPool2d', [v(x), v(tf.empty([2, 3, 3, 2])), v(ix)], m, /output must have shape \[2, 3, 3, 3\]/],
      ['maxPool2d', [v(x), v(y), v(tf.empty([2, 3, 3, 3]))], m, /indices/],
      ['maxPool2d', [v(x.reshape([6, 6, 6])), v(y), v(ix)], m, /4-D/],
      ['maxPool2d', [v(x.int()), v(y), v(ix)], m, /int32|float32/],
      ['maxPool2d', [v(x), v(y), v(ix)], { ...m, kernelSize: [2] }, /2 integers/],
      ['maxPool2d', [v(x), v(y), v(ix)], { ...m, kernelSize: [0, 2] }, /kernelSize/],
      ['maxPool2d', [v(x), v(y), v(ix)], { ...m, stride: [2, -1] }, /stride/],
      ['maxPool2d', [v(x), v(y), v(ix)], { ...m, padding: [2, 0] }, /half of kernelSize/],
      ['maxPool2d', [v(x), v(y), v(ix)], { ...m, dilation: [0, 1] }, /dilation/],
      ['maxPool2d', [v(x), v(y), v(ix)], { ...m, ceilMode: 2 }, /ceilMode/],
      ['maxPool2d', [v(x), v(y), v(ix)], { kernelSize: [2, 2], stride: [2, 2], padding: [0, 0], ceilMode: 0 }, /dilation/],
      ['maxPool2d', [v(tf.randn([1, 1, 2, 2])), v(tf.empty([1, 1, 1, 1])), v(tf.zeros([1, 1, 1, 1], { dtype: 'int32' }))], { ...m, kernelSize: [3, 3], stride: [1, 1] }, /too small/],
      ['maxPool2d', [v(tf.randn([1, 1, 0, 4])), v(tf.empty([1, 1, 1, 2])), v(tf.zeros([1, 1, 1, 2], { dtype: 'int32' }))], m, /non-empty/],
      ['maxPool2dBackward', [v(y), v(badIx), v(tf.empty([2, 3, 6, 6]))], undefined, /index 36 is out of range/],
      ['maxPool2dBackward', [v(y), v(tf.full([2, 3, 3, 3], -2, { dtype: 'int32' })), v(tf.empty([2, 3, 6, 6]))], undefined, /out of range/],
      ['maxPool2dBackward', [v(y), v(tf.zeros([2, 3, 3, 2], { dtype: 'int32' })), v(tf.empty([2, 3, 6, 6]))], undefined, /indices/],
      ['maxPool2dBackward', [v(y), v(ix), v(tf.empty([2, 4, 6, 6]))], undefined, /shape/],
      ['avgPool2d', [v(x), v(tf.empty([2, 3, 4, 3]))], a, /output must have shape/],
      ['avgPool2d', [v(x), v(y)], { ...a, divisorOverride: 1.5 }, /integer/],
      ['avgPool2d', [v(x), v(y)], { ...a, countIncludePad: 3 }, /countIncludePad/],
      ['avgPool2d', [v(x), v(y)], { ...a, countIncludePad: undefined as never }, /countIncludePad/],
      ['avgPool2dBackward', [v(tf.empty([2, 3, 3, 2])), v(tf.empty([2, 3, 6, 6]))], a, /output gradient must have shape/],
      ['avgPool2dBackward', [v(y), v(tf.empty([2, 3, 6, 6], { dtype: 'int32' }))], a, /float32/],
      ['adaptiveAvgPool2d', [v(x), v(tf.empty([2, 3, 0, 1]))], undefined, /at least 1x1/],
      ['adaptiveAvgPool2d', [v(x), v(tf.empty([3, 3, 1, 1]))], undefined, /shape/],
      ['adaptiveAvgPool2dBackward', [v(tf.empty([2, 2, 1, 1])), v(x)], undefined, /shape/],
      ['adaptiveMaxPool2d', [v(x), v(y), v(tf.zeros([2, 3, 3, 1], { dtype: 'int32' }))], undefined, /indices/],
    ];
    bad.forEach(([op, views, attrs, message], i) => {
      let err: unknown = null;
      try { native.run(op, views, attrs); } catch (e) { err = e; }
      if (!(err instanceof tf.TensorforgeError)) throw new Error(`case ${i} (${op}) did not throw a typed error: ${String(err)}`);
      expect([i, (err as Error).message]).toEqual([i, expect.stringMatching(message)]);
    });
  });
});

// ---- 6. typed errors from the public API -------------------------------------------------------
describe('bad arguments raise typed errors naming the op', () => {
  const x = tf.randn([1, 2, 5, 5]);
  test.each<[string, () => unknown, new (m: string) => Error, RegExp]>([
    ['int32 input', () => tf.F.maxPool2d(x.int(), 2), tf.DTypeError, /maxPool2d: input must be float32, got int32/],
    ['2-D input', () => tf.F.avgPool2d(tf.randn([5, 5]), 2), tf.ShapeError, /avgPool2d: input must be \[N, C, H, W\] or \[C, H, W\], got \[5, 5\]/],
    ['5-D input', () => tf.F.adaptiveAvgPool2d(tf.randn([1, 1, 1, 5, 5]), 1), tf.ShapeError, /adaptiveAvgPool2d/],
    ['empty plane', () => tf.F.maxPool2d(tf.zeros([1, 1, 0, 5]), 2), tf.ShapeError, /non-zero C, H and W/],
    ['not a tensor', () => tf.F.maxPool2d([1, 2] as never, 2), tf.ArgumentError, /must be a Tensor/],
    ['missing kernelSize', () => tf.F.maxPool2d(x, {} as never), tf.ArgumentError, /kernelSize is required/],
    ['zero kernel', () => tf.F.maxPool2d(x, { kernelSize: 0 }), tf.ArgumentError, /kernelSize must be an integer >= 1/],
    ['fractional kernel', () => tf.F.avgPool2d(x, { kernelSize: 1.5 }), tf.ArgumentError, /kernelSize/],
    ['kernel triple', () => tf.F.avgPool2d(x, { kernelSize: [1, 2, 3] as never }), tf.ArgumentError, /pair/],
    ['zero stride', () => tf.F.maxPool2d(x, { kernelSize: 2, stride: 0 }), tf.ArgumentError, /stride must be an integer >= 1/],
    ['negative padding', () => tf.F.maxPool2d(x, { kernelSize: 2, padding: -1 }), tf.ArgumentError, /padding must be an integer >= 0/],
    ['padding over half the kernel', () => tf.F.maxPool2d(x, { kernelSize: 3, padding: 2 }), tf.ArgumentError, /padding must be at most half of kernelSize/],
    ['avg padding over half', () => tf.F.avgPool2d(x, { kernelSize: [2, 4], padding: [2, 1] }), tf.ArgumentError, /at most half/],
    ['zero dilation', () => tf.F.maxPool2d(x, { kernelSize: 2, dilation: 0 }), tf.ArgumentError, /dilation/],
    ['output too small', () => tf.F.maxPool2d(x, { kernelSize: 3, dilation: 3 }), tf.ShapeError, /too small .* output would be 0x0/],
    ['non-boolean ceilMode', () => tf.F.avgPool2d(x, { kernelSize: 2, ceilMode: 1 as never }), tf.ArgumentError, /ceilMode must be a boolean/],
    ['non-boolean countIncludePad', () => tf.F.avgPool2d(x, { kernelSize: 2, countIncludePad: 'no' as never }), tf.ArgumentError, /countIncludePad/],
    ['zero divisorOverride', () => tf.F.avgPool2d(x, { kernelSize: 2, divisorOverride: 0 }), tf.ArgumentError, /divisorOverride must be a non-zero integer/],
    ['fractional divisorOverride', () => tf.F.avgPool2d(x, { kernelSize: 2, divisorOverride: 2.5 }), tf.ArgumentError, /divisorOverride/],
    ['adaptive size 0', () => tf.F.adaptiveAvgPool2d(x, 0), tf.ArgumentError, /outputSize must be a positive integer/],
    ['adaptive size triple', () => tf.F.adaptiveMaxPool2d(x, [1, 2, 3] as never), tf.ArgumentError, /outputSize/],
    ['returnIndices not boolean', () => tf.F.maxPool2d(x, { kernelSize: 2, returnIndices: 'yes' as never }), tf.ArgumentError, /returnIndices/],
  ])('%s', (_name, fn, Cls, message) => {
    expectThrows(fn, Cls, message);
  });
});

// ---- 7. leaks ----------------------------------------------------------------------------------
describe('no leaks', () => {
  test('forward and backward of every op, with and without grad, free everything they made', () => {
    const body = () => tf.scope(() => {
      const x = tf.randn([2, 3, 7, 6], { requiresGrad: true });
      const u = tf.randn([3, 7, 6], { requiresGrad: true });
      const [mv, mi] = tf.F.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, returnIndices: true });
      const [uv, ui] = tf.F.maxPool2d(u, { kernelSize: 2, returnIndices: true });
      const [av, ai] = tf.F.adaptiveMaxPool2d(u, [3, 2], { returnIndices: true });
      const parts = [
        mv, uv, av, tf.F.maxPool2d(x, 2), tf.F.avgPool2d(x, { kernelSize: 3, padding: 1, countIncludePad: false }),
        tf.F.avgPool2d(u, 2), tf.F.adaptiveAvgPool2d(x, 1), tf.F.adaptiveAvgPool2d(u, [4, 5]), tf.F.adaptiveMaxPool2d(x, 2),
      ];
      let loss = parts[0].sum();
      for (const p of parts.slice(1)) loss = loss.add(p.sum());
      loss.backward();
      expect(mi.sum().item()).toBeGreaterThan(0);  // indices survive the backward that freed the graph
      [x, u].forEach((t) => t.zeroGrad());
      [mi, ui, ai].forEach((t) => t.dispose());
      // without grad: the indices nobody asked for are freed at once
      tf.noGrad(() => tf.F.maxPool2d(x, 2).dispose());
      tf.F.adaptiveMaxPool2d(tf.randn([2, 5, 5]), 2).dispose();
    });
    body();  // warm-up: lazily created state is not a leak
    expectNoLeaks(body);
    expect(tf.memory().native.scratchBytes).toBe(0);
  });
});

// softmax / logSoftmax and the losses (crossEntropy, nllLoss, mseLoss, binaryCrossEntropyWithLogits,
// binaryCrossEntropy) against the float64 reference (test/reference/loss.ts, reduce.ts) and torch
// fixtures (scripts/fixtures/loss.py): reference VJPs by finite differences, native forward on every
// dim and layout (rows, strided lanes, gathered), extreme values, autograd against the reference
// VJPs, every crossEntropy option combination, typed errors, direct native calls, leaks, and each
// ISA path of the vectorised exp.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/loss.test.ts
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '../ts';
import * as native from '../ts/native';
import * as R from './reference';
import { RefTensor, Rng, lossVjp, vjp } from './reference';
import { expectClose, expectNoLeaks, fromRef, nonContiguous, seeded, toRef, expectThrows } from './helpers';

// float32 against float64: softmax is a few ulps per element (polynomial exp ~1 ulp, a sum of
// positive terms, one division); gradients and reduced losses sum over rows/batches: 1e-4.
const RTOL = 1e-5, ATOL = 1e-6;
const GRTOL = 1e-4, GATOL = 1e-5;

type Layout = 'contiguous' | 'transpose' | 'step' | 'permuted';
const LAYOUTS: Layout[] = ['contiguous', 'transpose', 'step', 'permuted'];

/** A float32 tensor holding ref's values in the given layout; 'permuted' stores the dims reversed
 *  (so every dim has a non-unit stride except the first). The reference is rounded to float32. */
function layout(ref: RefTensor, how: Layout, requiresGrad = false): { t: tf.Tensor; ref: RefTensor } {
  const r = toRef(fromRef(ref));
  let t: tf.Tensor;
  if (how === 'permuted' && r.shape.length >= 2) {
    const rev = r.shape.map((_, i) => r.shape.length - 1 - i);
    const stored = fromRef(R.permute(r, rev));
    t = stored.permute(rev);
    stored.dispose();
  } else if (how === 'transpose' || how === 'step') {
    const base = fromRef(r);
    t = nonContiguous(base, how);
    base.dispose();
  } else t = fromRef(r);
  if (requiresGrad) t.requiresGrad_(true);
  return { t, ref: r };
}

const targetsRef = (shape: number[], C: number, rng: Rng, ignore?: number, pIgnore = 0.2): RefTensor =>
  R.make(shape, () => (ignore !== undefined && rng.uniform() < pIgnore ? ignore : rng.int(0, C)));
const intTensor = (r: RefTensor) => fromRef(r, { dtype: 'int32' });

// ---- reference VJPs by finite differences --------------------------------------------------
describe('reference loss VJPs match finite differences', () => {
  const fdCheck = (f: (xs: RefTensor[]) => RefTensor, inputs: RefTensor[], grads: (RefTensor | null)[], diff: boolean[], rng: Rng) => {
    const out = f(inputs);
    const G = R.randn(out.shape, rng);
    const fd = R.finiteDiffVjp(f, inputs, G, 1e-6, diff);
    const an = (grads as unknown as ((g: RefTensor) => (RefTensor | null)[]))(G);
    diff.forEach((d, k) => { if (d) R.assertClose(an[k]!, fd[k], 1e-5, 1e-6, `input ${k}`); });
  };
  for (const [shape, C] of [[[6, 4], 4], [[5], 5], [[3, 4, 2, 2], 4]] as [number[], number][])
    for (const weighted of [false, true])
      for (const eps of [0, 0.3])
        for (const reduction of ['none', 'sum', 'mean'] as const)
          seeded(`crossEntropy [${shape}] weight=${weighted} eps=${eps} ${reduction}`, (rng) => {
            const x = R.randn(shape, rng);
            const tShape = shape.length === 1 ? [] : [shape[0], ...shape.slice(2)];
            const t = targetsRef(tShape, C, rng, shape.length === 1 ? undefined : -100);
            const opts = { weight: weighted ? R.rand([C], rng, 0.2, 2) : null, labelSmoothing: eps, reduction };
            const f = (xs: RefTensor[]) => R.crossEntropy(xs[0], t, opts);
            fdCheck(f, [x], ((G: RefTensor) => lossVjp.crossEntropy(x, t, opts, G)) as never, [true], rng);
          });
  seeded('crossEntropySoft (input and target)', (rng) => {
    const x = R.randn([3, 4, 2], rng), p = R.rand([3, 4, 2], rng);
    const opts = { weight: R.rand([4], rng, 0.2, 2), labelSmoothing: 0.2, reduction: 'mean' as const };
    fdCheck((xs) => R.crossEntropySoft(xs[0], xs[1], opts), [x, p], ((G: RefTensor) => lossVjp.crossEntropySoft(x, p, opts, G)) as never, [true, true], rng);
  });
  seeded('nllLoss', (rng) => {
    const x = R.randn([5, 3, 2], rng), t = targetsRef([5, 2], 3, rng, -100);
    const opts = { weight: R.rand([3], rng, 0.2, 2), reduction: 'mean' as const };
    fdCheck((xs) => R.nllLoss(xs[0], t, opts), [x], ((G: RefTensor) => lossVjp.nllLoss(x, t, opts, G)) as never, [true], rng);
  });
  seeded('mseLoss with broadcasting', (rng) => {
    const a = R.randn([3, 4], rng), b = R.randn([4], rng);
    for (const reduction of ['none', 'sum', 'mean'] as const)
      fdCheck((xs) => R.mseLoss(xs[0], xs[1], reduction), [a, b], ((G: RefTensor) => lossVjp.mseLoss(a, b, reduction, G)) as never, [true, true], rng);
  });
  seeded('bceWithLogits (input, target, weight, posWeight)', (rng) => {
    const x = R.randn([3, 4], rng), y = R.rand([3, 4], rng), w = R.rand([4], rng, 0.5, 2), pw = R.rand([4], rng, 0.2, 3);
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      const f = (xs: RefTensor[]) => R.bceWithLogits(xs[0], xs[1], { weight: xs[2], posWeight: xs[3], reduction });
      fdCheck(f, [x, y, w, pw], ((G: RefTensor) => lossVjp.bceWithLogits(x, y, { weight: w, posWeight: pw, reduction }, G)) as never,
        [true, true, true, true], rng);
    }
  });
});

// ---- softmax / logSoftmax forward -----------------------------------------------------------
describe('softmax and logSoftmax match the reference', () => {
  const shapes = [[], [1], [7], [3, 13], [70, 3], [2, 5, 37], [3, 4, 2, 9], [2, 1, 66, 3]];
  for (const shape of shapes)
    for (const how of LAYOUTS)
      seeded(`[${shape}] ${how}, every dim`, (rng) => {
        const { t, ref } = layout(R.randn(shape, rng), how);
        for (let d = -Math.max(shape.length, 1); d < Math.max(shape.length, 1); d++) {
          const dim = R.normDim(d, shape.length);
          expectClose(tf.F.softmax(t, d), R.softmax(ref, dim), RTOL, ATOL, `softmax dim ${d}`);
          expectClose(tf.F.logSoftmax(t, d), R.logSoftmax(ref, dim), RTOL, ATOL, `logSoftmax dim ${d}`);
        }
      });

  // long rows flush the float partial sums into double; wide lane blocks cover 4-vector groups,
  // single vectors and scalar tail lanes; the methods are the same op
  for (const [shape, dim] of [[[37, 2500], 1], [[2500, 21], 0], [[3, 1200, 131], 1], [[200, 70], 0], [[4, 3000], 0]] as [number[], number][])
    seeded(`long and wide: [${shape}] dim ${dim}`, (rng) => {
      const { t, ref } = layout(R.randn(shape, rng), 'contiguous');
      expectClose(t.softmax(dim), R.softmax(ref, dim), RTOL, ATOL, 'softmax');
      expectClose(t.logSoftmax(dim), R.logSoftmax(ref, dim), RTOL, ATOL, 'logSoftmax');
    });

  for (const scale of [80, 1e4])
    seeded(`large magnitudes ±${scale} do not overflow`, (rng) => {
      const ref = R.make([6, 33], () => scale * (2 * rng.uniform() - 1));
      for (const dim of [0, 1]) {
        const { t, ref: r } = layout(ref, dim === 0 ? 'contiguous' : 'transpose');
        const y = tf.F.softmax(t, dim), ly = tf.F.logSoftmax(t, dim);
        expectClose(y, R.softmax(r, dim), RTOL, ATOL, 'softmax');
        // log_softmax values reach −2e4: relative to their magnitude
        expectClose(ly, R.logSoftmax(r, dim), RTOL, ATOL, 'logSoftmax');
        expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
      }
    });

  test('-inf entries get probability 0; an all -inf row is NaN, as torch', () => {
    const ninf = -Infinity;
    const ref = R.tensor([ninf, 0, 1, 2, ninf, ninf, ninf, ninf, ninf, ninf, 2, ninf, 2, 0.5, ninf], [3, 5]);
    for (const how of ['contiguous', 'transpose', 'permuted'] as Layout[]) {
      const { t } = layout(ref, how);
      for (const dim of [0, 1]) {
        expectClose(tf.F.softmax(t, dim), R.softmax(ref, dim), RTOL, ATOL, `softmax ${how} dim ${dim}`);
        expectClose(tf.F.logSoftmax(t, dim), R.logSoftmax(ref, dim), RTOL, ATOL, `logSoftmax ${how} dim ${dim}`);
      }
    }
  });

  seeded('NaN propagates to its whole row and nowhere else (rows and lanes)', (rng) => {
    const ref = R.randn([5, 40], rng);
    ref.data[2 * 40 + 17] = NaN;
    const t = fromRef(ref);
    for (const [dim, nanRows] of [[1, [2]], [0, [17]]] as [number, number[]][]) {
      for (const fn of [tf.F.softmax, tf.F.logSoftmax]) {
        const y = toRef(fn(t, dim));
        for (let i = 0; i < y.data.length; i++) {
          const lane = dim === 1 ? Math.floor(i / 40) : i % 40;
          expect(Number.isNaN(y.data[i])).toBe(nanRows.includes(lane));
        }
      }
    }
  });

  test('empty tensors and size-1 dims', () => {
    expect(tf.F.softmax(tf.zeros([0, 3]), 1).shape).toEqual([0, 3]);
    expect(tf.F.softmax(tf.zeros([3, 0]), 1).shape).toEqual([3, 0]);
    expect(Array.from(tf.F.softmax(tf.randn([4, 1]), 1).dataSync())).toEqual([1, 1, 1, 1]);
    expect(Array.from(tf.F.logSoftmax(tf.randn([4, 1]), 1).dataSync())).toEqual([0, 0, 0, 0]);
    expect(tf.F.softmax(tf.scalar(3), 0).item()).toBe(1);
  });
});

// ---- softmax / logSoftmax gradients ---------------------------------------------------------
describe('softmax and logSoftmax gradients match the reference VJPs', () => {
  for (const shape of [[7], [4, 9], [3, 70], [2, 3, 5, 4]])
    for (const how of LAYOUTS)
      seeded(`[${shape}] ${how}`, (rng) => {
        for (let dim = 0; dim < shape.length; dim++)
          for (const op of ['softmax', 'logSoftmax'] as const) {
            const { t, ref } = layout(R.randn(shape, rng), how, true);
            const G = toRef(fromRef(R.randn(shape, rng)));
            const y = tf.F[op](t, dim);
            y.mul(fromRef(G)).sum().backward();
            expectClose(t.grad!, vjp[op](ref, dim, G)[0], GRTOL, GATOL, `${op} dim ${dim}`);
          }
      });

  seeded('broadcast (stride-0) and strided output gradients take the gather path', (rng) => {
    const ref = toRef(fromRef(R.randn([5, 6], rng)));
    for (const op of ['softmax', 'logSoftmax'] as const)
      for (const dim of [0, 1]) {
        const x = fromRef(ref, { requiresGrad: true });
        tf.F[op](x, dim).sum().backward();  // g is a stride-0 expansion of 1
        expectClose(x.grad!, vjp[op](ref, dim, R.ones([5, 6]))[0], GRTOL, GATOL, `${op} dim ${dim}`);
        // native backward with non-contiguous y and g views directly
        const y = tf.F[op](fromRef(ref), dim);
        const G = toRef(fromRef(R.randn([5, 6], rng)));
        const g = nonContiguous(fromRef(G), 'step');
        const yt = nonContiguous(y, 'transpose');
        const gx = tf.empty([5, 6]);
        native.run('softmaxBackward', [yt.nativeView(), g.nativeView(), gx.nativeView()], { dim, log: op === 'logSoftmax' ? 1 : 0 });
        expectClose(gx, vjp[op](ref, dim, G)[0], GRTOL, GATOL, `${op} dim ${dim} direct`);
      }
  });

  test('the graph keeps softmax\'s output alive for backward even when the caller disposed it', () => {
    const x = tf.randn([3, 4], { requiresGrad: true });
    const y = x.softmax(1);
    const loss = y.sum();  // sum's backward does not read y; softmax's reads its saved output
    y.dispose();
    expect(() => loss.backward()).not.toThrow();
    expect(x.grad!.shape).toEqual([3, 4]);
  });
});

// ---- crossEntropy and nllLoss -----------------------------------------------------------------
interface ClassCase { shape: number[]; C: number; tShape: number[] }
const classCases: ClassCase[] = [
  { shape: [7], C: 7, tShape: [] },
  { shape: [9, 5], C: 5, tShape: [9] },
  { shape: [4, 3, 2, 3], C: 3, tShape: [4, 2, 3] },
  { shape: [3, 67], C: 67, tShape: [3] },
];

describe('crossEntropy matches the reference for every option combination', () => {
  for (const cc of classCases)
    for (const weighted of [false, true])
      for (const ignore of [undefined, -100, 1])
        seeded(`[${cc.shape}] weight=${weighted} ignoreIndex=${ignore ?? 'default (absent)'}`, (rng) => {
          const x = R.randn(cc.shape, rng);
          const t = targetsRef(cc.tShape, cc.C, rng, cc.shape.length === 1 ? undefined : ignore ?? undefined);
          const weight = weighted ? toRef(fromRef(R.rand([cc.C], rng, 0.2, 2))) : null;
          for (const eps of [0, 0.25])
            for (const reduction of ['none', 'sum', 'mean'] as const)
              for (const how of ['contiguous', 'transpose', 'permuted'] as Layout[]) {
                const opts = { weight, ignoreIndex: ignore ?? -100, labelSmoothing: eps, reduction };
                const { t: xt, ref } = layout(x, how, true);
                const tt = intTensor(t);
                const what = `eps=${eps} ${reduction} ${how}`;
                const tfOpts = { weight: weight ? fromRef(weight) : null, ignoreIndex: ignore, labelSmoothing: eps, reduction };
                const y = tf.F.crossEntropy(xt, tt, tfOpts);
                expect(y.shape).toEqual(reduction === 'none' ? cc.tShape : []);
                expectClose(y, R.crossEntropy(ref, t, opts), GRTOL, GATOL, `${what} forward`);
                const G = toRef(fromRef(R.randn(y.shape, rng)));
                y.mul(fromRef(G)).sum().backward();
                expectClose(xt.grad!, lossVjp.crossEntropy(ref, t, opts, G)[0], GRTOL, GATOL, `${what} grad`);
                // nllLoss on log-probabilities, same options
                if (eps === 0 && how === 'contiguous') {
                  const lp = R.logSoftmax(ref, cc.shape.length === 1 ? 0 : 1);
                  const { t: lt, ref: lref } = layout(lp, how, true);
                  const z = tf.F.nllLoss(lt, tt, { weight: tfOpts.weight, ignoreIndex: ignore, reduction });
                  expectClose(z, R.nllLoss(lref, t, opts), GRTOL, GATOL, `nll ${what} forward`);
                  z.mul(fromRef(G)).sum().backward();
                  expectClose(lt.grad!, lossVjp.nllLoss(lref, t, opts, G)[0], GRTOL, GATOL, `nll ${what} grad`);
                }
              }
        });

  test('all targets ignored: mean is NaN (torch), sum is 0, gradients are 0', () => {
    const x = tf.randn([3, 4], { requiresGrad: true });
    const t = tf.full([3], -100, { dtype: 'int32' });
    expect(tf.F.crossEntropy(x, t).item()).toBeNaN();
    expect(tf.F.crossEntropy(x, t, { labelSmoothing: 0.1, weight: tf.ones([4]) }).item()).toBeNaN();
    expect(tf.F.nllLoss(x, t).item()).toBeNaN();
    const s = tf.F.crossEntropy(x, t, { reduction: 'sum', labelSmoothing: 0.1 });
    expect(s.item()).toBe(0);
    s.backward();
    expect(Array.from(x.grad!.dataSync()).every((v) => v === 0)).toBe(true);
  });

  seeded('huge logits (±1e4) give finite losses and gradients', (rng) => {
    const ref = R.make([8, 10], () => 1e4 * (2 * rng.uniform() - 1));
    const t = targetsRef([8], 10, rng);
    const { t: x, ref: xr } = layout(ref, 'contiguous', true);
    const opts = { labelSmoothing: 0.1, reduction: 'sum' as const };
    const y = tf.F.crossEntropy(x, intTensor(t), opts);
    // the loss is a difference of ~1e4-sized logits: relative to that scale
    expectClose(y, R.crossEntropy(xr, t, opts), 1e-6, 1e-2, 'forward');
    y.backward();
    expectClose(x.grad!, lossVjp.crossEntropy(xr, t, opts, R.scalar(1))[0], GRTOL, GATOL, 'grad');
  });

  seeded('NaN in a sample makes that sample NaN (others unaffected)', (rng) => {
    const ref = R.randn([4, 6], rng);
    ref.data[6 + 2] = NaN;
    const y = tf.F.crossEntropy(fromRef(ref), intTensor(R.tensor([0, 1, 2, 3], [4])), { reduction: 'none' });
    expect(Array.from(y.dataSync()).map(Number.isNaN)).toEqual([false, true, false, false]);
  });

  seeded('probability targets: forward and gradients for input and target', (rng) => {
    for (const [shape, eps, weighted, reduction] of [[[5, 4], 0, false, 'mean'], [[3, 4, 2], 0.2, true, 'sum'], [[6], 0.1, true, 'none']] as
      [number[], number, boolean, 'mean' | 'sum' | 'none'][]) {
      const C = shape.length === 1 ? shape[0] : shape[1];
      const { t: x, ref: xr } = layout(R.randn(shape, rng), 'contiguous', true);
      const { t: p, ref: pr } = layout(R.rand(shape, rng), 'transpose', true);
      const weight = weighted ? toRef(fromRef(R.rand([C], rng, 0.2, 2))) : null;
      const opts = { weight, labelSmoothing: eps, reduction };
      const y = tf.F.crossEntropy(x, p, { ...opts, weight: weight ? fromRef(weight) : null });
      expectClose(y, R.crossEntropySoft(xr, pr, opts), GRTOL, GATOL, `[${shape}] forward`);
      const G = toRef(fromRef(R.randn(y.shape, rng)));
      y.mul(fromRef(G)).sum().backward();
      const [gx, gp] = lossVjp.crossEntropySoft(xr, pr, opts, G);
      expectClose(x.grad!, gx, GRTOL, GATOL, `[${shape}] grad input`);
      expectClose(p.grad!, gp, GRTOL, GATOL, `[${shape}] grad target`);
    }
  });
});

// ---- elementwise losses ------------------------------------------------------------------------
describe('mseLoss, binaryCrossEntropyWithLogits, binaryCrossEntropy', () => {
  seeded('mseLoss forward and gradients, broadcast and strided', (rng) => {
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      const { t: a, ref: ar } = layout(R.randn([6, 5], rng), 'transpose', true);
      const { t: b, ref: br } = layout(R.randn([5], rng), 'contiguous', true);
      const y = tf.F.mseLoss(a, b, { reduction });
      expectClose(y, R.mseLoss(ar, br, reduction), GRTOL, GATOL, `${reduction} forward`);
      const G = toRef(fromRef(R.randn(y.shape, rng)));
      y.mul(fromRef(G)).sum().backward();
      const [ga, gb] = lossVjp.mseLoss(ar, br, reduction, G);
      expectClose(a.grad!, ga, GRTOL, GATOL, `${reduction} grad a`);
      expectClose(b.grad!, gb, GRTOL, GATOL, `${reduction} grad b`);
    }
  });

  for (const [usePw, useW] of [[false, false], [true, false], [false, true], [true, true]])
    for (const how of ['contiguous', 'step'] as Layout[])
      seeded(`bceWithLogits posWeight=${usePw} weight=${useW} ${how}`, (rng) => {
        for (const reduction of ['none', 'sum', 'mean'] as const) {
          const xs = R.make([4, 7], () => 6 * rng.normal());
          xs.data[0] = 0;
          xs.data[1] = 50;
          xs.data[2] = -50;
          xs.data[3] = -200;
          const { t: x, ref: xr } = layout(xs, how, true);
          const { t: y, ref: yr } = layout(R.rand([4, 7], rng), how, true);
          const pw = usePw ? layout(R.rand([7], rng, 0.2, 3), 'contiguous', true) : null;
          const w = useW ? layout(R.rand([4, 1], rng, 0.5, 2), 'contiguous', true) : null;
          const ropts = { posWeight: pw?.ref ?? null, weight: w?.ref ?? null, reduction };
          const out = tf.F.binaryCrossEntropyWithLogits(x, y, { posWeight: pw?.t, weight: w?.t, reduction });
          expectClose(out, R.bceWithLogits(xr, yr, ropts), GRTOL, GATOL, `${reduction} forward`);
          const G = toRef(fromRef(R.randn(out.shape, rng)));
          out.mul(fromRef(G)).sum().backward();
          const [gx, gy, gw, gpw] = lossVjp.bceWithLogits(xr, yr, ropts, G);
          expectClose(x.grad!, gx!, GRTOL, GATOL, `${reduction} grad input`);
          expectClose(y.grad!, gy!, GRTOL, GATOL, `${reduction} grad target`);
          if (w) expectClose(w.t.grad!, gw!, GRTOL, GATOL, `${reduction} grad weight`);
          if (pw) expectClose(pw.t.grad!, gpw!, GRTOL, GATOL, `${reduction} grad posWeight`);
        }
      });

  test('bceWithLogits gradient at x = 0 is sigmoid(0) − y exactly', () => {
    const x = tf.zeros([3], { requiresGrad: true });
    tf.F.binaryCrossEntropyWithLogits(x, tf.tensor([0, 1, 0.3]), { reduction: 'sum' }).backward();
    expectClose(x.grad!, R.tensor([0.5, -0.5, 0.2], [3]), 1e-6, 0, 'grad');
    expect(Array.from(x.grad!.dataSync().slice(0, 2))).toEqual([0.5, -0.5]);
  });

  seeded('binaryCrossEntropy forward and gradient, logs clamped at −100', (rng) => {
    const { t: p, ref: pr } = layout(R.rand([3, 5], rng, 0.05, 0.95), 'contiguous', true);
    const { t: y, ref: yr } = layout(R.rand([3, 5], rng), 'contiguous');
    const w = toRef(fromRef(R.rand([5], rng, 0.5, 2)));
    const out = tf.F.binaryCrossEntropy(p, y, { weight: fromRef(w), reduction: 'mean' });
    expectClose(out, R.bce(pr, yr, { weight: w, reduction: 'mean' }), GRTOL, GATOL, 'forward');
    out.backward();
    // ∂/∂p = w·(p − y) / (p·(1 − p)) / numel
    const expected = R.make([3, 5], ([i, j]) => {
      const pi = pr.data[i * 5 + j], yi = yr.data[i * 5 + j];
      return (w.data[j] * (pi - yi)) / (pi * (1 - pi)) / 15;
    });
    expectClose(p.grad!, expected, GRTOL, GATOL, 'grad');
    expect(tf.F.binaryCrossEntropy(tf.tensor([0, 1]), tf.tensor([1, 0]), { reduction: 'none' }).toArray()).toEqual([100, 100]);
  });
});

// ---- torch fixtures ----------------------------------------------------------------------------
describe('torch 1.13 fixtures', () => {
  interface Enc { shape: number[]; data: (number | null)[] }
  interface Fixture {
    op: string; name: string; input: Enc; target: Enc; weight?: Enc | null; posWeight?: Enc | null;
    ignoreIndex?: number; reduction: 'none' | 'sum' | 'mean'; labelSmoothing?: number;
    output: Enc; gradOutput: Enc; gradInput: Enc; gradTarget?: Enc;
  }
  const file = path.join(__dirname, 'fixtures', 'loss.json');
  const { cases } = JSON.parse(fs.readFileSync(file, 'utf8')) as { cases: Fixture[] };
  const dec = (e: Enc): RefTensor => R.tensor(e.data.map((v) => (v === null ? NaN : v)), e.shape);
  const isIndex = (f: Fixture) => f.op === 'nllLoss' || (f.op === 'crossEntropy' && f.target.shape.length !== f.input.shape.length);

  test.each(cases.map((c) => [`${c.op}: ${c.name}`, c] as [string, Fixture]))('%s', (_n, f) => {
    tf.scope(() => {
      const x = fromRef(dec(f.input), { requiresGrad: true });
      const floatTarget = !isIndex(f);
      const t = fromRef(dec(f.target), { dtype: floatTarget ? 'float32' : 'int32', requiresGrad: floatTarget && f.gradTarget !== undefined });
      const weight = f.weight ? fromRef(dec(f.weight)) : null;
      let y: tf.Tensor;
      if (f.op === 'crossEntropy') y = tf.F.crossEntropy(x, t, { weight, ignoreIndex: f.ignoreIndex, reduction: f.reduction, labelSmoothing: f.labelSmoothing });
      else if (f.op === 'nllLoss') y = tf.F.nllLoss(x, t, { weight, ignoreIndex: f.ignoreIndex, reduction: f.reduction });
      else if (f.op === 'mseLoss') y = tf.F.mseLoss(x, t, { reduction: f.reduction });
      else y = tf.F.binaryCrossEntropyWithLogits(x, t, { weight, posWeight: f.posWeight ? fromRef(dec(f.posWeight)) : null, reduction: f.reduction });
      expectClose(y, dec(f.output), GRTOL, GATOL, 'output');
      y.mul(fromRef(dec(f.gradOutput))).sum().backward();
      expectClose(x.grad!, dec(f.gradInput), GRTOL, GATOL, 'grad input');
      if (f.gradTarget) expectClose(t.grad!, dec(f.gradTarget), GRTOL, GATOL, 'grad target');
    });
  });
});

// ---- errors --------------------------------------------------------------------------------------
describe('bad input raises typed errors', () => {
  const x = tf.randn([4, 3]);
  const t = tf.tensor([0, 1, 2, 0], undefined, { dtype: 'int32' });
  const expectError = (fn: () => unknown, Cls: new (m: string) => Error, message: RegExp) => {
    expectThrows(fn, Cls, message);
  };
  test.each<[string, () => unknown, new (m: string) => Error, RegExp]>([
    ['softmax dim out of range', () => tf.F.softmax(x, 2), tf.IndexError, /dim 2 is out of range/],
    ['softmax without dim', () => tf.F.softmax(x, undefined as never), tf.ArgumentError, /dim is required/],
    ['softmax of int32', () => tf.F.softmax(t, 0), tf.DTypeError, /float32/],
    ['class dim mismatch', () => tf.F.crossEntropy(x, tf.tensor([0, 1], undefined, { dtype: 'int32' })), tf.ShapeError, /needs a target of shape \[4\], got \[2\]/],
    ['K-dim target mismatch', () => tf.F.crossEntropy(tf.randn([2, 3, 4]), tf.zeros([2, 5], { dtype: 'int32' })), tf.ShapeError, /\[2, 4\]/],
    ['0-d input', () => tf.F.crossEntropy(tf.scalar(1), t), tf.ShapeError, /class dim/],
    ['bool target', () => tf.F.crossEntropy(x, t.bool()), tf.DTypeError, /int32 class indices or float32 probabilities/],
    ['float target of the wrong shape', () => tf.F.crossEntropy(x, tf.zeros([4])), tf.ShapeError, /class indices must be int32/],
    ['out-of-range target', () => tf.F.crossEntropy(x, tf.tensor([0, 1, 3, 0], undefined, { dtype: 'int32' })), tf.IndexError, /target 3 \(sample 2\) is out of bounds for 3 classes/],
    ['negative target', () => tf.F.crossEntropy(x, tf.tensor([0, -1, 2, 0], undefined, { dtype: 'int32' })), tf.IndexError, /target -1 \(sample 1\)/],
    ['out-of-range K-dim target', () => tf.F.crossEntropy(tf.randn([1, 3, 2]), tf.tensor([[0, 7]], undefined, { dtype: 'int32' })), tf.IndexError, /target 7 \(sample 0, position 1\)/],
    ['nll out-of-range target', () => tf.F.nllLoss(x, tf.tensor([0, 1, 9, 0], undefined, { dtype: 'int32' })), tf.IndexError, /target 9/],
    ['weight shape', () => tf.F.crossEntropy(x, t, { weight: tf.ones([4]) }), tf.ShapeError, /weight must have shape \[3\]/],
    ['weight dtype', () => tf.F.crossEntropy(x, t, { weight: tf.ones([3], { dtype: 'int32' }) }), tf.DTypeError, /weight must be float32/],
    ['labelSmoothing range', () => tf.F.crossEntropy(x, t, { labelSmoothing: 1.5 }), tf.ValueError, /labelSmoothing must be a number in \[0, 1\]/],
    ['bad reduction', () => tf.F.crossEntropy(x, t, { reduction: 'avg' as never }), tf.ArgumentError, /'none', 'sum' or 'mean'/],
    ['unknown option', () => tf.F.crossEntropy(x, t, { ignore_index: 1 } as never), tf.ArgumentError, /unknown option 'ignore_index'/],
    ['int input', () => tf.F.crossEntropy(t, t), tf.DTypeError, /float32 logits/],
    ['nll float target', () => tf.F.nllLoss(x, tf.zeros([4])), tf.DTypeError, /int32 class indices/],
    ['bce shapes', () => tf.F.binaryCrossEntropyWithLogits(x, tf.zeros([4])), tf.ShapeError, /must be the same as input size/],
    ['bce posWeight shape', () => tf.F.binaryCrossEntropyWithLogits(x, tf.zeros([4, 3]), { posWeight: tf.ones([5]) }), tf.ShapeError, /cannot be broadcast/],
    ['mse dtype', () => tf.F.mseLoss(x, t), tf.DTypeError, /float32/],
    ['mse shapes', () => tf.F.mseLoss(x, tf.zeros([5])), tf.ShapeError, /cannot be broadcast/],
  ])('%s', (_n, fn, Cls, message) => expectError(fn, Cls, message));

  test('an out-of-range target writes nothing (checked before any output)', () => {
    const out = tf.full([4], 7);
    const stats = tf.full([4, 1, 2], 7);
    const bad = tf.tensor([[0], [1], [5], [0]], undefined, { dtype: 'int32' });
    expect(() => native.run('crossEntropy', [x.reshape([4, 3, 1]).nativeView(), bad.nativeView(), tf.empty([0]).nativeView(), out.reshape([4, 1]).nativeView(), stats.nativeView()],
      { ignoreIndex: -100, labelSmoothing: 0, reduction: 'none' })).toThrow(tf.IndexError);
    expect(Array.from(out.dataSync())).toEqual([7, 7, 7, 7]);
    expect(Array.from(stats.dataSync()).every((v) => v === 7)).toBe(true);
  });

  test('direct native calls with inconsistent views or attributes throw typed errors', () => {
    const v = (t: tf.Tensor) => t.nativeView();
    const x3 = tf.randn([4, 3, 1]), t2 = tf.zeros([4, 1], { dtype: 'int32' }), w0 = tf.empty([0]);
    const ceAttrs = { ignoreIndex: -100, labelSmoothing: 0, reduction: 'mean' };
    const calls: [string, native.NativeView[], native.Attrs][] = [
      ['softmax', [v(x), v(tf.empty([3, 4]))], { dim: 1, log: 0 }],
      ['softmax', [v(x), v(tf.empty([4, 3], { dtype: 'int32' }))], { dim: 1, log: 0 }],
      ['softmax', [v(x), v(tf.empty([4, 3]))], { dim: 2, log: 0 }],
      ['softmax', [v(x), v(tf.empty([4, 3]))], { dim: -1, log: 0 }],
      ['softmax', [v(x), v(tf.empty([4, 3]))], { dim: 1, log: 2 }],
      ['softmax', [v(x), v(tf.empty([4, 3]))], { log: 0 }],
      ['softmaxBackward', [v(x), v(tf.empty([4, 2])), v(tf.empty([4, 3]))], { dim: 1, log: 0 }],
      ['crossEntropy', [v(x), v(t2), v(w0), v(tf.empty([])), v(tf.empty([4, 1, 2]))], ceAttrs],  // input not 3-D
      ['crossEntropy', [v(x3), v(tf.zeros([3, 1], { dtype: 'int32' })), v(w0), v(tf.empty([])), v(tf.empty([4, 1, 2]))], ceAttrs],
      ['crossEntropy', [v(x3), v(t2), v(tf.empty([2])), v(tf.empty([])), v(tf.empty([4, 1, 2]))], ceAttrs],
      ['crossEntropy', [v(x3), v(t2), v(w0), v(tf.empty([4, 1])), v(tf.empty([4, 1, 2]))], ceAttrs],  // 'mean' needs 0-d
      ['crossEntropy', [v(x3), v(t2), v(w0), v(tf.empty([])), v(tf.empty([4, 2]))], ceAttrs],
      ['crossEntropy', [v(x3), v(t2.float()), v(w0), v(tf.empty([])), v(tf.empty([4, 1, 2]))], ceAttrs],
      ['crossEntropy', [v(x3), v(t2), v(w0), v(tf.empty([])), v(tf.empty([4, 1, 2]))], { ...ceAttrs, reduction: 'avg' }],
      ['crossEntropy', [v(x3), v(t2), v(w0), v(tf.empty([])), v(tf.empty([4, 1, 2]))], { ...ceAttrs, labelSmoothing: -1 }],
      ['crossEntropy', [v(x3), v(t2), v(w0), v(tf.empty([])), v(tf.empty([4, 1, 2]))], { ignoreIndex: -100, reduction: 'mean' }],
      ['crossEntropyBackward', [v(x3), v(t2), v(w0), v(tf.empty([4, 1, 2])), v(tf.empty([4, 1])), v(tf.empty([4, 3, 1]))], ceAttrs],
      ['crossEntropyBackward', [v(x3), v(t2), v(w0), v(tf.empty([4, 1, 2])), v(tf.empty([])), v(tf.empty([4, 3]))], ceAttrs],
      ['crossEntropyBackward', [v(x3), v(t2), v(w0), v(tf.empty([4, 2])), v(tf.empty([])), v(tf.empty([4, 3, 1]))], ceAttrs],
      ['nllLoss', [v(x3), v(t2), v(w0), v(tf.empty([4]))], ceAttrs],
      ['nllLossBackward', [v(x3), v(t2), v(w0), v(tf.empty([])), v(tf.empty([4, 4, 1]))], ceAttrs],
      ['bceWithLogits', [v(x), v(tf.empty([4, 2])), v(tf.empty([4, 3]))], {}],
      ['bceWithLogitsPosWeight', [v(x), v(x), v(tf.empty([3])), v(tf.empty([4, 3]))], {}],
      ['bceWithLogitsBackward', [v(x), v(x), v(x), v(tf.empty([4, 3]))], { wrt: 2 }],
      ['bceWithLogitsBackward', [v(x), v(x), v(x), v(tf.empty([4, 3]))], {}],
    ];
    for (const [op, views, attrs] of calls) {
      let err: unknown;
      try { native.run(op, views, attrs); } catch (e) { err = e; }
      if (!(err instanceof tf.TensorforgeError)) throw new Error(`${op} ${JSON.stringify(attrs)} did not throw a typed error: ${String(err)}`);
    }
  });

  test('random views and attributes never crash the softmax and loss kernels', () => {
    // Every view lies inside one 4 KiB buffer (the binding checks that); shapes, strides, dtypes
    // and attributes are random. Each call either succeeds or throws a typed error.
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
    const buf = tf.zeros([1024]);
    const ints = tf.zeros([1024], { dtype: 'int32' });
    let common: number[] = [];
    const view = (): native.NativeView => {
      const shape = rnd() < 0.7 ? common : Array.from({ length: Math.floor(rnd() * 4) }, () => pick([0, 1, 2, 3, 5, 8]));
      const strides = shape.map(() => pick([0, 1, 1, 2, 3, 8, 40]));
      const base = rnd() < 0.8 ? buf : ints;
      return [base.nativeView()[0], rnd() < 0.9 ? (base === buf ? 0 : 1) : 2, Math.floor(rnd() * 64), shape, strides];
    };
    const ops: [string, number][] = [['softmax', 2], ['softmaxBackward', 3], ['crossEntropy', 5], ['crossEntropyBackward', 6],
      ['nllLoss', 4], ['nllLossBackward', 5], ['bceWithLogits', 3], ['bceWithLogitsPosWeight', 4], ['bceWithLogitsBackward', 4],
      ['bceWithLogitsPosWeightBackward', 5]];
    let ok = 0;
    for (let i = 0; i < 3000; i++) {
      const [op, n] = pick(ops);
      common = Array.from({ length: Math.floor(rnd() * 4) }, () => pick([1, 2, 3, 5]));
      const attrs = { dim: pick([0, 1, 2, -1, 7]), log: pick([0, 1, 3]), ignoreIndex: pick([-100, 0, 1]), labelSmoothing: pick([0, 0.1, 2]),
        reduction: pick(['none', 'sum', 'mean', 'x']), wrt: pick([0, 1, 2, 3]) };
      try {
        native.run(op, Array.from({ length: n }, view), attrs);
        ok++;
      } catch (e) {
        if (!(e instanceof tf.TensorforgeError)) throw e;
      }
    }
    expect(ok).toBeGreaterThan(0);
  });
});

// ---- leaks ---------------------------------------------------------------------------------------
describe('no leaks', () => {
  seeded('forward + backward of every op, with and without grad', (rng) => {
    const run = (withGrad: boolean) => {
      const x = fromRef(R.rand([5, 4, 3], rng, 0.1, 0.9), { requiresGrad: withGrad });
      const t = intTensor(targetsRef([5, 3], 4, rng, -100));
      const w = fromRef(R.rand([4], rng, 0.5, 2));
      const p = fromRef(R.rand([5, 4, 3], rng));
      const wCol = w.reshape([4, 1]), pw = tf.ones([3]), halfP = p.mul(0.5);
      const losses: (() => tf.Tensor | tf.Tensor[])[] = [
        () => { const y = x.softmax(1); return [y.sum(), y]; },
        () => { const y = tf.F.logSoftmax(x, -1), z = y.mul(2); return [z.sum(), y, z]; },
        () => tf.F.crossEntropy(x, t, { weight: w, labelSmoothing: 0.1 }),
        () => { const y = tf.F.crossEntropy(x, t, { reduction: 'none' }); return [y.sum(), y]; },
        () => tf.F.crossEntropy(x, p, { weight: w, labelSmoothing: 0.1 }),
        () => tf.F.nllLoss(x, t, { weight: w }),
        () => tf.F.mseLoss(x, p),
        () => tf.F.binaryCrossEntropyWithLogits(x, p, { weight: wCol, posWeight: pw }),
        () => tf.F.binaryCrossEntropy(x, halfP),
      ];
      for (const f of losses)
        expectNoLeaks(() => {
          const out = f();
          const [loss, ...intermediates] = Array.isArray(out) ? out : [out];
          if (withGrad) {
            loss.backward();
            x.grad!.dispose();
            x.grad = null;
          }
          loss.dispose();
          intermediates.forEach((t) => t.dispose());
        });
    };
    run(true);
    run(false);
    tf.noGrad(() => run(false));
  });
});

// ---- every ISA path ------------------------------------------------------------------------------
describe('the vectorised exp on each ISA path', () => {
  const entry = path.join(__dirname, '..', 'dist', 'ts', 'index.js');
  const code = `
    const tf = require(${JSON.stringify(entry)});
    tf.manualSeed(3);
    let worst = 0;
    for (const [shape, dim, scale] of [[[13, 1029], 1, 30], [[300, 77], 0, 30], [[5, 3, 7], 1, 1], [[1, 64], 1, 100]]) {
      const x = tf.randn(shape).mul(scale);
      for (const log of [false, true]) {
        const y = (log ? tf.F.logSoftmax(x, dim) : tf.F.softmax(x, dim)).dataSync(), X = x.dataSync();
        const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1), n = shape[dim];
        for (let o = 0; o < X.length / n; o++) {
          const base = Math.floor(o / inner) * n * inner + (o % inner);
          let m = -Infinity; for (let c = 0; c < n; c++) m = Math.max(m, X[base + c * inner]);
          let s = 0; for (let c = 0; c < n; c++) s += Math.exp(X[base + c * inner] - m);
          for (let c = 0; c < n; c++) {
            const d = X[base + c * inner] - m, want = log ? d - Math.log(s) : Math.exp(d) / s;
            // float32 rounds x − max (relative 6e-8 of |x − max|, which exp turns into a relative
            // error of the result); log_softmax near 0 is a difference: an absolute bound there
            const tol = 2e-6 * Math.abs(want) * (1 + Math.abs(d) / 8) + (log ? 1e-6 : 1e-37);
            worst = Math.max(worst, Math.abs(y[base + c * inner] - want) / tol);
          }
        }
      }
    }
    console.log(JSON.stringify({ isa: tf.info().isa, worst }));`;
  test.each(['scalar', 'avx2', 'avx512'])('%s', (isa) => {
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, TENSORFORGE_ISA: isa } });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.worst).toBeLessThan(1);
  });
});

// Optimizers, schedulers and gradient clipping (tf.optim): every optimizer and option combination
// against the reference over several steps on odd-sized, contiguous and strided parameters
// (bit-exact against the float32 replay of torch's operation order, and within 1e-4 of the float64
// reference); null grads, param groups, state dict round trips; schedulers against their closed
// forms; clipping; typed errors from the TS API and from direct native calls; leaks; and PyTorch
// fixtures (torch 1.13, float32, foreach=False).
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/optim.test.ts
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '../ts';
import * as optim from '../ts/optim';
import * as native from '../ts/native';
import * as R from './reference';
import { RefState, Rng } from './reference';
import { expectClose, expectEqual, expectNoLeaks, expectThrows, fuzzKernelCalls, nonContiguous, seeded } from './helpers';

// float32 kernels vs the float64 reference after 5 steps: a few ulps per operation, and Adam's
// and RMSprop's divisions by small denominators amplify relative error, hence 1e-4 / 1e-6.
const REF_TOL: [number, number] = [1e-4, 1e-6];
// vs PyTorch: torch's vectorised add-with-alpha uses FMA where we round twice; 1-2 ulp per step
const TORCH_TOL: [number, number] = [2e-6, 1e-7];

type Kind = 'SGD' | 'Adam' | 'AdamW' | 'RMSprop';
type Opts = Record<string, number | boolean | number[]>;

const CONFIGS: [Kind, Opts][] = [
  ['SGD', { lr: 0.1 }],
  ['SGD', { lr: 0.05, momentum: 0.9 }],
  ['SGD', { lr: 0.05, momentum: 0.9, dampening: 0.3 }],
  ['SGD', { lr: 0.05, momentum: 0.9, weightDecay: 0.01 }],
  ['SGD', { lr: 0.05, momentum: 0.8, nesterov: true }],
  ['SGD', { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.1, maximize: true }],
  ['SGD', { lr: 0.2, weightDecay: 0.5, maximize: true }],
  ['Adam', {}],
  ['Adam', { lr: 0.01, betas: [0.8, 0.95], eps: 1e-6 }],
  ['Adam', { lr: 0.01, weightDecay: 0.05 }],
  ['Adam', { lr: 0.02, amsgrad: true }],
  ['Adam', { lr: 0.02, amsgrad: true, maximize: true, weightDecay: 0.1 }],
  ['Adam', { lr: 0.01, betas: [0, 0] }],
  ['AdamW', {}],
  ['AdamW', { lr: 0.01, weightDecay: 0.1, amsgrad: true }],
  ['AdamW', { lr: 0.01, weightDecay: 0, maximize: true }],
  ['RMSprop', {}],
  ['RMSprop', { lr: 0.005, alpha: 0.9, weightDecay: 0.02 }],
  ['RMSprop', { lr: 0.005, momentum: 0.7 }],
  ['RMSprop', { lr: 0.01, centered: true }],
  ['RMSprop', { lr: 0.01, centered: true, momentum: 0.5, maximize: true, eps: 1e-4 }],
];

function makeOptimizer(kind: Kind, params: optim.Params<any>, opts: Opts): optim.Optimizer<any> {  // eslint-disable-line @typescript-eslint/no-explicit-any
  switch (kind) {
    case 'SGD': return new optim.SGD(params, opts as never);
    case 'Adam': return new optim.Adam(params, opts as never);
    case 'AdamW': return new optim.AdamW(params, opts as never);
    case 'RMSprop': return new optim.RMSprop(params, opts as never);
  }
}

/** The reference step for a config, with torch's defaults filled in. */
function refStepper(kind: Kind, opts: Opts): (p: Float64Array, g: ArrayLike<number>, st: RefState, r: R.Round) => void {
  const o = opts as Record<string, never>;
  if (kind === 'SGD') {
    const h: R.SgdHyper = { lr: o.lr, momentum: o.momentum ?? 0, dampening: o.dampening ?? 0, weightDecay: o.weightDecay ?? 0, nesterov: o.nesterov ?? false, maximize: o.maximize ?? false };
    return (p, g, st, r) => R.sgdStep(p, g, st, h, r);
  }
  if (kind === 'RMSprop') {
    const h: R.RmspropHyper = { lr: o.lr ?? 1e-2, alpha: o.alpha ?? 0.99, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0, momentum: o.momentum ?? 0, centered: o.centered ?? false, maximize: o.maximize ?? false };
    return (p, g, st, r) => R.rmspropStep(p, g, st, h, r);
  }
  const h: R.AdamHyper = {
    lr: o.lr ?? 1e-3, betas: o.betas ?? [0.9, 0.999], eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? (kind === 'AdamW' ? 1e-2 : 0),
    amsgrad: o.amsgrad ?? false, maximize: o.maximize ?? false, decoupled: kind === 'AdamW',
  };
  return (p, g, st, r) => R.adamStep(p, g, st, h, r);
}

const f32 = (n: number, rng: Rng, scale = 1) => Float64Array.from({ length: n }, () => Math.fround(scale * rng.normal()));
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const values = (t: tf.Tensor) => Float64Array.from(t.dataSync());
const ref = (data: Float64Array, shape: number[]): R.RefTensor => ({ shape, data });
type Layout = 'contiguous' | 'transpose' | 'step';

/** A float32 leaf parameter holding `data`, in the given layout. */
function param(data: Float64Array, shape: number[], layout: Layout = 'contiguous'): tf.Tensor {
  const base = tf.tensor(Float32Array.from(data), shape);
  if (layout === 'contiguous') return base.requiresGrad_(true);
  const t = nonContiguous(base, layout, { requiresGrad: true });
  base.dispose();
  return t;
}
/** A kept gradient tensor (as backward() leaves it). */
function grad(data: Float64Array, shape: number[], layout: Layout = 'contiguous'): tf.Tensor {
  const base = tf.tensor(Float32Array.from(data), shape);
  if (layout === 'contiguous') return tf.keep(base);
  const t = nonContiguous(base, layout);
  base.dispose();
  return tf.keep(t);
}
function setGrad(p: tf.Tensor, g: tf.Tensor | null): void {
  p.grad?.dispose();
  p.grad = g;
}

// ---- 1. every config against the reference --------------------------------------------------------
describe('optimizers match the reference', () => {
  const SHAPES = [[7], [3, 5], [1], [2, 3, 4], [19, 1, 3]];
  const BIG = [[70001]];  // split across threads (at least 32768 elements per thread)
  const bigConfigs = new Set([1, 5, 11, 14, 20].map((i) => CONFIGS[i]));
  for (const config of CONFIGS) {
    const [kind, opts] = config;
    for (const layout of ['contiguous', 'transpose', 'step', ...(bigConfigs.has(config) ? ['big'] : [])] as (Layout | 'big')[]) {
      seeded(`${kind} ${JSON.stringify(opts)} ${layout}`, (rng) => {
        const shapes = layout === 'big' ? BIG : SHAPES;
        const init = shapes.map((s) => f32(numel(s), rng));
        const params = shapes.map((s, i) => param(init[i], s, layout === 'big' ? 'contiguous' : layout));
        const opt = makeOptimizer(kind, params, opts);
        const stepRef = refStepper(kind, opts);
        const exactP = init.map((d) => Float64Array.from(d)), exactS = shapes.map(() => ({} as RefState));
        const refP = init.map((d) => Float64Array.from(d)), refS = shapes.map(() => ({} as RefState));
        for (let step = 0; step < 5; step++) {
          shapes.forEach((s, i) => {
            const g = f32(numel(s), rng, step === 2 ? 1e-3 : 1);  // one step of tiny grads
            setGrad(params[i], grad(g, s, layout === 'big' ? 'contiguous' : layout));
            stepRef(exactP[i], g, exactS[i], R.float32);
            stepRef(refP[i], g, refS[i], R.exact);
          });
          opt.step();
          shapes.forEach((s, i) => {
            expectEqual(params[i], ref(exactP[i], s), `step ${step} param ${i} vs float32 replay`);
            expectClose(params[i], ref(refP[i], s), ...REF_TOL, `step ${step} param ${i} vs float64 reference`);
            for (const [k, v] of Object.entries(exactS[i])) {
              const mine = opt.state.get(params[i])![k];
              if (typeof v === 'number') expect(mine).toBe(v);
              else expectEqual(mine as tf.Tensor, ref(v, s), `step ${step} param ${i} state ${k}`);
            }
            expect(Object.keys(opt.state.get(params[i])!).sort()).toEqual(Object.keys(exactS[i]).sort());
          });
        }
        params.forEach((p) => setGrad(p, null));
        opt.dispose();
      });
    }
  }
});

// ---- 2. behaviour ---------------------------------------------------------------------------------
describe('optimizer behaviour', () => {
  seeded('params whose grad is null are skipped and get no state', (rng) => {
    const a = param(f32(5, rng), [5]), b = param(f32(4, rng), [4]);
    const before = values(b);
    const opt = new optim.Adam([a, b], { lr: 0.1 });
    setGrad(a, grad(f32(5, rng), [5]));
    opt.step();
    expectEqual(ref(values(b), [4]), ref(before, [4]));
    expect(opt.state.has(b)).toBe(false);
    expect(opt.state.get(a)!.step).toBe(1);
    setGrad(a, null);
    opt.dispose();
  });

  seeded('param groups: each group uses its own lr and options', (rng) => {
    const da = f32(6, rng), db = f32(3, rng);
    const a = param(da, [6]), b = param(db, [3]);
    const opt = new optim.SGD([{ params: [a] }, { params: [b], lr: 0.5, momentum: 0.9 }], { lr: 0.01 });
    expect(opt.paramGroups.map((g) => [g.lr, g.momentum])).toEqual([[0.01, 0], [0.5, 0.9]]);
    const sa: RefState = {}, sb: RefState = {};
    for (let s = 0; s < 3; s++) {
      const ga = f32(6, rng), gb = f32(3, rng);
      setGrad(a, grad(ga, [6]));
      setGrad(b, grad(gb, [3]));
      opt.step();
      R.sgdStep(da, ga, sa, { lr: 0.01, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false }, R.float32);
      R.sgdStep(db, gb, sb, { lr: 0.5, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false }, R.float32);
      expectEqual(a, ref(da, [6]), 'group 0');
      expectEqual(b, ref(db, [3]), 'group 1');
    }
    // lr is writable (schedulers rely on it)
    opt.paramGroups[1].lr = 0;
    const frozen = values(b);
    setGrad(b, grad(f32(3, rng), [3]));
    opt.step();
    expectEqual(ref(values(b), [3]), ref(frozen, [3]));
    [a, b].forEach((p) => setGrad(p, null));
    opt.dispose();
  });

  seeded('addParamGroup adds a group with the defaults', (rng) => {
    const a = param(f32(2, rng), [2]), b = param(f32(2, rng), [2]);
    const opt = new optim.RMSprop([a], { lr: 0.03, centered: true });
    opt.addParamGroup({ params: [b], alpha: 0.5 });
    expect(opt.paramGroups[1]).toMatchObject({ lr: 0.03, alpha: 0.5, centered: true });
    expectThrows(() => opt.addParamGroup({ params: [a] }), tf.ValueError, /more than once/);
    opt.dispose();
  });

  seeded('zeroGrad drops the grads, or zeroes them in place', (rng) => {
    const a = param(f32(3, rng), [3]);
    const opt = new optim.SGD([a], { lr: 0.1 });
    setGrad(a, grad(f32(3, rng), [3]));
    const g = a.grad!;
    opt.zeroGrad(false);
    expect(a.grad).toBe(g);
    expect(Array.from(g.dataSync())).toEqual([0, 0, 0]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
    expect(g.isDisposed).toBe(true);
  });

  seeded('step(closure) returns what the closure returns, after it ran', (rng) => {
    const a = param(f32(3, rng), [3]);
    const opt = new optim.SGD([a], { lr: 0.1 });
    const loss = opt.step(() => {
      const l = a.mul(a).sum();
      l.backward();
      return l.item();
    });
    expect(typeof loss).toBe('number');
    expect(opt.state.size).toBe(1);
    setGrad(a, null);
  });

  for (const [kind, opts] of CONFIGS.filter(([, o]) => o.momentum || o.amsgrad || o.centered || Object.keys(o).length === 0)) {
    seeded(`state dict round trip: a restored ${kind} ${JSON.stringify(opts)} continues identically`, (rng) => {
      const shapes = [[5], [2, 3]];
      const init = shapes.map((s) => f32(numel(s), rng));
      const pa = shapes.map((s, i) => param(init[i], s));
      const a = makeOptimizer(kind, pa, opts);
      const grads = Array.from({ length: 5 }, () => shapes.map((s) => f32(numel(s), rng)));
      const feed = (ps: tf.Tensor[], step: number) => ps.forEach((p, i) => setGrad(p, grad(grads[step][i], shapes[i])));
      for (let s = 0; s < 3; s++) {
        feed(pa, s);
        a.step();
      }
      // a fresh optimizer (other lr) over copies of the params, restored from a's state dict
      const pb = pa.map((p, i) => param(values(p), shapes[i]));
      const b = makeOptimizer(kind, pb, { ...opts, lr: 123 });
      const sd = a.stateDict();
      // torch's layout: state by index, hyperparameters under torch's names
      expect(Object.keys(sd.state)).toEqual(['0', '1']);
      expect(sd.paramGroups[0].params).toEqual([0, 1]);
      if ('weightDecay' in a.paramGroups[0]) expect(sd.paramGroups[0]).toHaveProperty('weight_decay');
      b.loadStateDict(sd);
      expect(b.paramGroups[0].lr).toBe(a.paramGroups[0].lr);
      for (const [k, v] of Object.entries(sd.state[0])) {
        const mine = b.state.get(pb[0])![k];
        if (v instanceof tf.Tensor) {
          expect(mine).not.toBe(v);  // a copy
          expectEqual(mine as tf.Tensor, { shape: [5], data: values(v) });
        } else expect(mine).toBe(v);
      }
      for (let s = 3; s < 5; s++) {
        feed(pa, s);
        a.step();
        feed(pb, s);
        b.step();
        pa.forEach((p, i) => expectEqual(pb[i], { shape: shapes[i], data: values(p) }, `step ${s} param ${i}`));
      }
      [...pa, ...pb].forEach((p) => setGrad(p, null));
      a.dispose();
      b.dispose();
    });
  }

  seeded('loadStateDict rejects mismatched dicts with typed errors and changes nothing', (rng) => {
    const a = param(f32(4, rng), [4]), b = param(f32(6, rng), [2, 3]);
    const opt = new optim.Adam([a, b], { lr: 0.1 });
    [a, b].forEach((p) => setGrad(p, grad(f32(p.size, rng), [...p.shape])));
    opt.step();
    const good = opt.stateDict();
    const other = new optim.Adam([param(f32(4, rng), [4])]);
    expectThrows(() => other.loadStateDict(good), tf.ValueError, /holds 2 params/);
    const twoGroups = new optim.Adam([{ params: [param(f32(4, rng), [4])] }, { params: [param(f32(6, rng), [2, 3])] }]);
    expectThrows(() => twoGroups.loadStateDict(good), tf.ValueError, /1 param groups, the optimizer has 2/);
    const swapped = new optim.Adam([param(f32(6, rng), [2, 3]), param(f32(4, rng), [4])]);
    expectThrows(() => swapped.loadStateDict(good), tf.ShapeError, /exp_avg has shape \[4\], expected the param's shape \[2, 3\]/);
    const fresh = new optim.Adam([param(f32(4, rng), [4]), param(f32(6, rng), [2, 3])]);
    const bad = (mutate: (sd: optim.OptimizerStateDict) => void) => {
      const sd = { state: { 0: { ...good.state[0] }, 1: { ...good.state[1] } }, paramGroups: good.paramGroups.map((g) => ({ ...g })) };
      mutate(sd);
      return () => fresh.loadStateDict(sd);
    };
    expectThrows(bad((sd) => { sd.state[0].bogus = 1; }), tf.ArgumentError, /unknown entry 'bogus'/);
    expectThrows(bad((sd) => { delete sd.state[0].exp_avg; }), tf.ArgumentError, /lacks exp_avg/);
    expectThrows(bad((sd) => { sd.state[0].step = -1; }), tf.ValueError, /step must be a non-negative integer/);
    expectThrows(bad((sd) => { sd.state[0].exp_avg = tf.zeros([4], { dtype: 'int32' }); }), tf.DTypeError, /float32/);
    expectThrows(bad((sd) => { sd.state[7] = {}; }), tf.IndexError, /parameter index 7/);
    expectThrows(bad((sd) => { sd.paramGroups[0].lr = -1; }), tf.ValueError, /invalid lr -1/);
    expectThrows(bad((sd) => { sd.paramGroups[0].betas = [0.9, 1]; }), tf.ValueError, /betas\[1\]/);
    expectThrows(bad((sd) => { sd.paramGroups[0].lrr = 1; }), tf.ArgumentError, /unknown hyperparameter 'lrr'/);
    expect(fresh.state.size).toBe(0);
    expect(fresh.paramGroups[0].lr).toBe(1e-3);
    // a PyTorch checkpoint's extra flags and None entries are accepted
    const torchLike = bad((sd) => { Object.assign(sd.paramGroups[0], { foreach: null, capturable: false }); });
    torchLike();
    expect(fresh.state.size).toBe(2);
    [a, b].forEach((p) => setGrad(p, null));
  });

  seeded('no leaks: memory is stable after the first step, and dispose frees the state', (rng) => {
    for (const [kind, opts] of CONFIGS) {
      expectNoLeaks(() => {
        const params = [param(f32(9, rng), [9]), param(f32(6, rng), [3, 2], 'transpose')];
        const grads = params.map((p) => grad(f32(p.size, rng), [...p.shape]));
        params.forEach((p, i) => { p.grad = grads[i]; });
        const opt = makeOptimizer(kind, params, opts);
        opt.step();
        const after1 = tf.memory();
        for (let s = 0; s < 3; s++) opt.step();
        const after4 = tf.memory();
        expect([after4.numTensors, after4.numBuffers, after4.numBytes]).toEqual([after1.numTensors, after1.numBuffers, after1.numBytes]);
        expect(after4.native.scratchBytes).toBe(0);
        opt.dispose();
        expectThrows(() => opt.step(), tf.DisposedError, /disposed/);
        params.forEach((p) => { p.grad?.dispose(); p.dispose(); });
      });
    }
  });
});


// ---- 3. typed errors ------------------------------------------------------------------------------
describe('typed errors', () => {
  seeded('bad hyperparameters and params from the TS API', (rng) => {
    const p = () => param(f32(3, rng), [3]);
    expectThrows(() => new optim.SGD([p()], { lr: -0.1 }), tf.ValueError, /invalid lr -0.1/);
    expectThrows(() => new optim.SGD([p()], { lr: NaN }), tf.ValueError, /invalid lr NaN/);
    expectThrows(() => new optim.SGD([p()], {} as never), tf.ArgumentError, /lr is required/);
    expectThrows(() => new optim.SGD([p()], { lr: 0.1, nesterov: true }), tf.ValueError, /Nesterov momentum requires/);
    expectThrows(() => new optim.SGD([p()], { lr: 0.1, momentum: -1 }), tf.ValueError, /invalid momentum/);
    expectThrows(() => new optim.SGD([p()], { lr: 0.1, weight_decay: 1 } as never), tf.ArgumentError, /unknown option 'weight_decay'/);
    expectThrows(() => new optim.Adam([p()], { betas: [1, 0.999] }), tf.ValueError, /betas\[0\] 1/);
    expectThrows(() => new optim.Adam([p()], { betas: [0.9, -0.1] }), tf.ValueError, /betas\[1\] -0.1/);
    expectThrows(() => new optim.AdamW([p()], { eps: -1e-8 }), tf.ValueError, /AdamW: .*invalid eps/);
    expectThrows(() => new optim.Adam([p()], { weightDecay: Infinity }), tf.ValueError, /invalid weightDecay/);
    expectThrows(() => new optim.RMSprop([p()], { alpha: -0.5 }), tf.ValueError, /invalid alpha/);
    expectThrows(() => new optim.RMSprop([p()], { centered: 1 as never }), tf.ArgumentError, /centered must be a boolean/);
    expectThrows(() => new optim.Adam([tf.zeros([3], { dtype: 'int32' })]), tf.DTypeError, /must be float32/);
    expectThrows(() => new optim.Adam([]), tf.ValueError, /empty parameter list/);
    expectThrows(() => new optim.Adam(p() as never), tf.ArgumentError, /single Tensor/);
    const q = p();
    expectThrows(() => new optim.Adam([q, q]), tf.ValueError, /more than once/);
    expectThrows(() => new optim.Adam([q.mul(2)]), tf.ValueError, /not a leaf/);
    expectThrows(() => new optim.Adam([{ params: [q], lr: 'x' as never }]), tf.ArgumentError, /option 'lr' must be a number/);
  });

  seeded('bad grads and groups at step time leave every param untouched', (rng) => {
    const a = param(f32(3, rng), [3]), b = param(f32(4, rng), [4]);
    const before = [values(a), values(b)];
    const opt = new optim.Adam([a, b], { lr: 0.1 });
    setGrad(a, grad(f32(3, rng), [3]));
    setGrad(b, grad(f32(3, rng), [3]));
    expectThrows(() => opt.step(), tf.ShapeError, /grad has shape \[3\], expected the param's shape \[4\]/);
    setGrad(b, tf.keep(tf.zeros([4], { dtype: 'int32' })));
    expectThrows(() => opt.step(), tf.DTypeError, /grad must be float32/);
    setGrad(b, tf.keep(b.detach()));
    expectThrows(() => opt.step(), tf.ArgumentError, /shares the param's memory/);
    setGrad(b, grad(f32(4, rng), [4]));
    opt.paramGroups[0].lr = -1;
    expectThrows(() => opt.step(), tf.ValueError, /invalid lr -1/);
    opt.paramGroups[0].betas = [0.9, 1.5];
    opt.paramGroups[0].lr = 0.1;
    expectThrows(() => opt.step(), tf.ValueError, /betas\[1\]/);
    expectEqual(ref(values(a), [3]), ref(before[0], [3]));
    expectEqual(ref(values(b), [4]), ref(before[1], [4]));
    expect(opt.state.size).toBe(0);
    [a, b].forEach((p) => setGrad(p, null));
  });

  test('direct native calls are validated in C++', () => {
    tf.scope(() => {
      const v = (t: tf.Tensor) => t.nativeView();
      const p = tf.zeros([4]), g = tf.ones([4]), m = tf.zeros([4]), s = tf.zeros([4]), none = tf.zeros([0]);
      const sgd = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, hasBuffer: false };
      const adam = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1, decoupled: false, amsgrad: false, maximize: false };
      const rms = { lr: 0.1, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false };
      const run = (op: string, views: tf.Tensor[], attrs: native.Attrs) => () => native.run(op, views.map(v), attrs);
      native.run('sgdStep', [v(g), v(p), v(none)], sgd);  // a valid call
      expect(Array.from(p.dataSync())).toEqual([-0.1, -0.1, -0.1, -0.1].map(Math.fround));
      expectThrows(run('sgdStep', [tf.ones([5]), p, none], sgd), tf.ShapeError, /grad has shape \[5\], expected the param's shape \[4\]/);
      expectThrows(run('sgdStep', [g, tf.zeros([4], { dtype: 'int32' }), none], sgd), tf.DTypeError, /param must be float32/);
      expectThrows(run('sgdStep', [g, p, none], { ...sgd, lr: NaN }), tf.ValueError, /lr must be a finite number/);
      expectThrows(run('sgdStep', [g, p, none], { ...sgd, lr: -1 }), tf.ValueError, /lr must be a finite number in \[0, inf\), got -1/);
      expectThrows(run('sgdStep', [g, p, none], { ...sgd, momentum: 0.9 }), tf.ShapeError, /momentum buffer has shape \[0\]/);
      expectThrows(run('sgdStep', [g, p, m], sgd), tf.ShapeError, /absent .* has 4 elements/);
      expectThrows(run('sgdStep', [g, p, none], { ...sgd, nesterov: true }), tf.ValueError, /Nesterov/);
      expectThrows(run('sgdStep', [g, p, none], { ...sgd, maximize: 2 }), tf.ArgumentError, /0 or 1/);
      expectThrows(run('sgdStep', [g, p], sgd), tf.ArgumentError, /expected 1 inputs and 2 outputs/);
      const { lr: _lr, ...noLr } = sgd;  // eslint-disable-line @typescript-eslint/no-unused-vars
      expectThrows(run('sgdStep', [g, p, none], noLr), tf.ArgumentError, /missing numeric attribute 'lr'/);
      expectThrows(run('adamStep', [g, p, m, s, none], { ...adam, step: 0 }), tf.ValueError, /step must be an integer >= 1/);
      expectThrows(run('adamStep', [g, p, m, s, none], { ...adam, step: 1.5 }), tf.ValueError, /step must be an integer/);
      expectThrows(run('adamStep', [g, p, m, s, none], { ...adam, beta1: 1 }), tf.ValueError, /beta1 must be a finite number in \[0, 1\)/);
      expectThrows(run('adamStep', [g, p, m, s, none], { ...adam, eps: Infinity }), tf.ValueError, /eps/);
      expectThrows(run('adamStep', [g, p, m, s, none], { ...adam, amsgrad: true }), tf.ShapeError, /maxExpAvgSq has shape \[0\]/);
      expectThrows(run('adamStep', [g, p, tf.zeros([2, 2]), s, none], adam), tf.ShapeError, /expAvg has shape \[2, 2\]/);
      expectThrows(run('rmspropStep', [g, p, s, none, none], { ...rms, alpha: NaN }), tf.ValueError, /alpha/);
      expectThrows(run('rmspropStep', [g, p, s, none, none], { ...rms, centered: true }), tf.ShapeError, /gradAvg/);
      // overlapping state, or a param whose elements share memory
      const big = tf.zeros([8]);
      const lo = big.view_([4], [1], 0), hi = big.view_([4], [1], 2);
      expectThrows(run('adamStep', [g, p, lo, hi, none], adam), tf.ArgumentError, /overlaps/);
      const expanded = tf.zeros([1]).view_([4], [0], 0);
      expectThrows(run('sgdStep', [g, expanded, none], sgd), tf.ArgumentError, /share memory/);
      expectThrows(run('gradNorm', [g, tf.zeros([2])], { normType: 2 }), tf.ShapeError, /exactly one element/);
      expectThrows(run('gradNorm', [g, tf.zeros([1])], { normType: -1 }), tf.ValueError, /normType/);
      expectThrows(run('gradClamp', [g], { clipValue: NaN }), tf.ValueError, /clipValue/);
      expectThrows(run('gradScale', [g], { scale: Infinity }), tf.ValueError, /infinite/);
    });
  });
  seeded('random malformed native calls throw typed errors, never crash', (rng) => {
    fuzzKernelCalls(rng, {
      calls: 3000, ranks: [0, 1, 2, 3], values: [0, 1, 2, -1, 0.5, 0.999, NaN, Infinity, 1e-8, 1e9, 1.5],
      make: (x, pick) => {
        const op = pick(['sgdStep', 'adamStep', 'rmspropStep', 'gradNorm', 'gradScale', 'gradClamp']);
        const mom = pick([0, 0.9]), ams = pick([0, 1]), cen = pick([0, 1]);
        const opt = (on: boolean) => (on ? x : [0]);
        const shapes: Record<string, number[][]> = {
          sgdStep: [x, x, opt(mom !== 0)], adamStep: [x, x, x, x, opt(ams === 1)], rmspropStep: [x, x, x, opt(mom !== 0), opt(cen === 1)],
          gradNorm: [x, [1]], gradScale: [x], gradClamp: [x],
        };
        return {
          op, shapes: shapes[op], attrs: {
            lr: 0.1, momentum: mom, dampening: 0, weightDecay: pick([0, 0.1]), nesterov: 0, maximize: pick([0, 1]), hasBuffer: pick([0, 1]),
            beta1: 0.9, beta2: 0.999, eps: 1e-8, step: pick([1, 2, 7]), decoupled: pick([0, 1]), amsgrad: ams, alpha: 0.99, centered: cen,
            normType: pick([1, 2, 3, Infinity]), scale: 0.5, clipValue: 1,
          },
        };
      },
    });
  });
});

// ---- 4. schedulers ----------------------------------------------------------------------------------
describe('lr schedulers', () => {
  const LRS = [0.1, 0.05];
  const setup = () => new optim.SGD([{ params: [tf.keep(tf.zeros([1]))] }, { params: [tf.keep(tf.zeros([1]))], lr: LRS[1] }], { lr: LRS[0] });
  const run = (sched: optim.LRScheduler, steps: number) => {
    const lrs = [sched.getLastLr()];
    for (let i = 0; i < steps; i++) {
      sched.step();
      lrs.push(sched.getLastLr());
      expect(sched.optimizer.paramGroups.map((g) => g.lr)).toEqual(lrs[lrs.length - 1]);
    }
    return lrs;
  };
  const expectSeq = (lrs: number[][], formula: (base: number, epoch: number) => number, tol = 1e-12) =>
    lrs.forEach((row, epoch) => row.forEach((lr, i) => {
      const want = formula(LRS[i], epoch);
      expect(Math.abs(lr - want)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want)));
    }));

  test('StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, LambdaLR follow their formulas', () => {
    expectSeq(run(new optim.StepLR(setup(), { stepSize: 3, gamma: 0.5 }), 12), (b, e) => R.schedules.step(b, e, 3, 0.5));
    expectSeq(run(new optim.MultiStepLR(setup(), { milestones: [6, 2, 6, 9] }), 12), (b, e) => R.schedules.multiStep(b, e, [2, 6, 6, 9], 0.1));
    expectSeq(run(new optim.ExponentialLR(setup(), { gamma: 0.9 }), 12), (b, e) => R.schedules.exponential(b, e, 0.9));
    expectSeq(run(new optim.CosineAnnealingLR(setup(), { tMax: 10, etaMin: 0.001 }), 10), (b, e) => R.schedules.cosine(b, e, 10, 0.001));
    expectSeq(run(new optim.LinearLR(setup(), { startFactor: 0.2, totalIters: 4 }), 8), (b, e) => R.schedules.linear(b, e, 0.2, 1, 4));
    expectSeq(run(new optim.LinearLR(setup(), { startFactor: 1, endFactor: 0.1, totalIters: 3 }), 6), (b, e) => R.schedules.linear(b, e, 1, 0.1, 3));
    expectSeq(run(new optim.LambdaLR(setup(), { lrLambda: (e) => 1 / (1 + e) }), 5), (b, e) => b / (1 + e));
    const perGroup = new optim.LambdaLR(setup(), { lrLambda: [(e) => e, (e) => 2 ** -e] });
    expect(run(perGroup, 2)).toEqual([[0, 0.05], [0.1, 0.025], [0.2, 0.0125]]);
  });

  test('CosineAnnealingLR past tMax rises again (torch recursion) and the closed form agrees', () => {
    const s = new optim.CosineAnnealingLR(setup(), { tMax: 4, etaMin: 0.01 });
    expectSeq(run(s, 16), (b, e) => R.schedules.cosine(b, e, 4, 0.01), 1e-10);
    s.step(3);
    expectSeq([s.getLastLr()], (b) => R.schedules.cosine(b, 3, 4, 0.01));
  });

  test('SequentialLR: linear warm-up then cosine', () => {
    const opt = setup();
    const warm = new optim.LinearLR(opt, { startFactor: 0.1, totalIters: 3 });
    const cos = new optim.CosineAnnealingLR(opt, { tMax: 6 });
    const seq = new optim.SequentialLR(opt, { schedulers: [warm, cos], milestones: [3] });
    expectSeq(run(seq, 9), (b, e) => (e < 3 ? R.schedules.linear(b, e, 0.1, 1, 3) : R.schedules.cosine(b, e - 3, 6, 0)));
    expectThrows(() => new optim.SequentialLR(opt, { schedulers: [warm, cos], milestones: [] }), tf.ValueError, /milestones/);
    expectThrows(() => new optim.SequentialLR(opt, { schedulers: [warm, new optim.StepLR(setup(), { stepSize: 1 })], milestones: [2] }), tf.ValueError, /same|belong/);
  });

  test('scheduler state dicts round-trip; a restored scheduler continues identically', () => {
    const makeAll = (opt: optim.Optimizer<any>) => [  // eslint-disable-line @typescript-eslint/no-explicit-any
      () => new optim.StepLR(opt, { stepSize: 2 }),
      () => new optim.CosineAnnealingLR(opt, { tMax: 5 }),
      () => new optim.LinearLR(opt, { totalIters: 4 }),
      () => new optim.SequentialLR(opt, { schedulers: [new optim.LinearLR(opt, { totalIters: 2 }), new optim.ExponentialLR(opt, { gamma: 0.7 })], milestones: [2] }),
    ];
    for (let k = 0; k < 4; k++) {
      const oa = setup(), ob = setup();
      const a = makeAll(oa)[k](), b = makeAll(ob)[k]();
      for (let i = 0; i < 3; i++) a.step();
      const sd = JSON.parse(JSON.stringify(a.stateDict()));
      expect(sd.last_epoch).toBe(3);
      b.loadStateDict(sd);
      ob.loadStateDict(oa.stateDict());
      expect(ob.paramGroups.map((g) => g.initialLr)).toEqual(oa.paramGroups.map((g) => g.initialLr));
      for (let i = 0; i < 5; i++) {
        a.step();
        b.step();
        expect(b.getLastLr()).toEqual(a.getLastLr());
      }
    }
  });

  test('bad scheduler arguments are typed errors', () => {
    expectThrows(() => new optim.StepLR(setup(), { stepSize: 0 }), tf.ValueError, /stepSize/);
    expectThrows(() => new optim.CosineAnnealingLR(setup(), { tMax: 0 }), tf.ValueError, /tMax/);
    expectThrows(() => new optim.LinearLR(setup(), { startFactor: 0 }), tf.ValueError, /startFactor/);
    expectThrows(() => new optim.LinearLR(setup(), { endFactor: 1.5 }), tf.ValueError, /endFactor/);
    expectThrows(() => new optim.LambdaLR(setup(), { lrLambda: [(e) => e] }), tf.ValueError, /2 lrLambdas/);
    expectThrows(() => new optim.StepLR({} as never, { stepSize: 1 }), tf.ArgumentError, /Optimizer/);
    expectThrows(() => new optim.ExponentialLR(setup(), { gamma: 0.5, lastEpoch: 3 }), tf.ArgumentError, /initialLr/);
    expectThrows(() => new optim.StepLR(setup(), { stepSize: 1 }).loadStateDict({ nope: 1 }), tf.ArgumentError, /unknown entry 'nope'/);
  });
});

// ---- 5. clipping ------------------------------------------------------------------------------------
describe('gradient clipping', () => {
  for (const normType of [2, 1, 3, Infinity])
    for (const maxNorm of [0.5, 1e6]) {
      seeded(`clipGradNorm p=${normType} maxNorm=${maxNorm}`, (rng) => {
        const shapes = [[7], [3, 5], [1]];
        const gs = shapes.map((s) => f32(numel(s), rng, 2));
        const params = shapes.map((s) => param(f32(numel(s), rng), s));
        params.forEach((p, i) => setGrad(p, grad(gs[i], shapes[i], i === 1 ? 'transpose' : 'contiguous')));
        const noGrad = param(f32(2, rng), [2]);
        const total = optim.clipGradNorm([...params, noGrad], maxNorm, normType);
        const want = R.totalNorm(gs, normType);
        expect(Math.abs(total - want)).toBeLessThanOrEqual(1e-6 * want);
        const coef = Math.min(1, maxNorm / (want + 1e-6));
        params.forEach((p, i) => expectClose(p.grad!, ref(gs[i].map((x) => x * coef), shapes[i]), 1e-6, 1e-7, `grad ${i}`));
        expect(noGrad.grad).toBeNull();
        params.forEach((p) => setGrad(p, null));
      });
    }

  seeded('clipGradNorm: no grads gives 0; non-finite norms scale to NaN or throw', (rng) => {
    const p = param(f32(3, rng), [3]);
    expect(optim.clipGradNorm([p], 1)).toBe(0);
    setGrad(p, grad(Float64Array.from([1, Infinity, 2]), [3]));
    expectThrows(() => optim.clipGradNorm(p, 1, 2, { errorIfNonfinite: true }), tf.ValueError, /non-finite|Infinity/);
    expect(Array.from(p.grad!.dataSync())).toEqual([1, Infinity, 2]);
    expect(optim.clipGradNorm(p, 1)).toBe(Infinity);
    expect(Array.from(p.grad!.dataSync())).toEqual([0, NaN, 0]);  // torch: coef 0, and inf·0 = NaN
    expectThrows(() => optim.clipGradNorm(p, -1), tf.ValueError, /maxNorm/);
    expectThrows(() => optim.clipGradNorm(p, 1, 0), tf.ValueError, /normType/);
    setGrad(p, null);
  });

  seeded('clipGradValue clamps in place', (rng) => {
    const p = param(f32(5, rng), [5]);
    setGrad(p, grad(Float64Array.from([-3, -0.5, 0, 0.7, NaN]), [5]));
    const g = p.grad!;
    optim.clipGradValue([p], 0.6);
    expect(p.grad).toBe(g);
    expect(Array.from(g.dataSync())).toEqual([-0.6, -0.5, 0, 0.6, NaN].map(Math.fround));
    expectThrows(() => optim.clipGradValue(p, -1), tf.ValueError, /clipValue/);
    setGrad(p, null);
  });
});

// ---- 6. PyTorch fixtures ----------------------------------------------------------------------------
describe('PyTorch fixtures', () => {
  const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'optim.json'), 'utf8'));

  for (const c of fixture.optimizers) {
    test(`${c.optimizer} ${JSON.stringify(c.options)}${c.groupLrs ? ' (two groups)' : ''}`, () => {
      tf.scope(() => {
        const shapes: number[][] = c.shapes;
        const params = shapes.map((s, i) => param(Float64Array.from(c.params0[i]), s));
        const spec = c.groupLrs ? [{ params: params.slice(0, 2) }, { params: params.slice(2), lr: c.groupLrs[1] }] : params;
        const opt = makeOptimizer(c.optimizer, spec, c.options);
        c.grads.forEach((gs: number[][], step: number) => {
          params.forEach((p, i) => setGrad(p, grad(Float64Array.from(gs[i]), shapes[i])));
          opt.step();
          params.forEach((p, i) => expectClose(p, ref(Float64Array.from(c.params[step][i]), shapes[i]), ...TORCH_TOL, `step ${step} param ${i}`));
        });
        params.forEach((p) => setGrad(p, null));
        opt.dispose();
      });
    });
  }

  for (const c of fixture.schedulers) {
    test(`${c.name} ${JSON.stringify(c.options)} lr sequence`, () => {
      const opt = new optim.SGD([{ params: [tf.keep(tf.zeros([1]))] }, { params: [tf.keep(tf.zeros([1]))], lr: 0.05 }], { lr: 0.1 });
      let s: optim.LRScheduler;
      if (c.name === 'SequentialLR') {
        const warm = new optim.LinearLR(opt, { startFactor: 0.1, totalIters: 3 });
        const cos = new optim.CosineAnnealingLR(opt, { tMax: 6, etaMin: 0 });
        s = new optim.SequentialLR(opt, { schedulers: [warm, cos], milestones: [3] });
      } else {
        s = new (optim as unknown as Record<string, new (o: unknown, opts: unknown) => optim.LRScheduler>)[c.name](opt, c.options);
      }
      c.lrs.forEach((want: number[], i: number) => {
        if (i > 0) s.step();
        s.getLastLr().forEach((lr, g) => expect(Math.abs(lr - want[g])).toBeLessThanOrEqual(1e-14 + 1e-12 * Math.abs(want[g])));
      });
    });
  }

  for (const c of fixture.clip) {
    test(`clipGradNorm p=${c.normType} maxNorm=${c.maxNorm}`, () => {
      tf.scope(() => {
        const shapes = fixture.optimizers[0].shapes as number[][];
        const params = shapes.map((s) => param(new Float64Array(numel(s)), s));
        params.forEach((p, i) => setGrad(p, grad(Float64Array.from(c.grads[i]), shapes[i])));
        const total = optim.clipGradNorm(params, c.maxNorm, c.normType === 'inf' ? Infinity : c.normType);
        expect(Math.abs(total - c.total)).toBeLessThanOrEqual(2e-7 * c.total);
        params.forEach((p, i) => expectClose(p.grad!, ref(Float64Array.from(c.clipped[i]), shapes[i]), 1e-6, 1e-7, `grad ${i}`));
        params.forEach((p) => setGrad(p, null));
      });
    });
  }
});

// nn.RNN / nn.LSTM / nn.GRU against the float64 plain-loop reference (test/reference/rnn.ts),
// which is checked against PyTorch first: forward outputs and final states for every option
// combination, gradients of the input, initial states and every parameter against central finite
// differences of the reference; PyTorch fixtures loaded by state-dict name; dropout between layers
// with reproduced masks; parameter names, shapes and initialisation; typed errors; and memory:
// nothing leaks, and intermediates are freed as early as backward allows.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/rnn.test.ts
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '../ts';
import * as R from './reference';
import { RefTensor, Rng, RnnConfig, RnnMode, finiteDiffVjp } from './reference';
import { expectClose, expectNoLeaks, expectThrows, fromRef, nonContiguous, seeded, toRef } from './helpers';

// Tolerances (float32 engine vs float64): a handful of steps of dot products of length <= 9 with
// saturating nonlinearities keep forward errors at a few float32 ulps of values of size ~1;
// gradients sum over every step, layer and direction, so they get 1e-4 relative.
const FWD: [number, number] = [2e-5, 2e-6];
const BWD: [number, number] = [1e-4, 1e-5];

type AnyRnn = tf.nn.RNN | tf.nn.LSTM | tf.nn.GRU;
const MODES: RnnMode[] = ['RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU'];

function build(cfg: RnnConfig, dropout = 0): AnyRnn {
  const opts = { numLayers: cfg.numLayers, bias: cfg.bias, batchFirst: cfg.batchFirst, bidirectional: cfg.bidirectional, dropout };
  switch (cfg.mode) {
    case 'RNN_TANH': return new tf.nn.RNN(cfg.inputSize, cfg.hiddenSize, opts);
    case 'RNN_RELU': return new tf.nn.RNN(cfg.inputSize, cfg.hiddenSize, { ...opts, nonlinearity: 'relu' });
    case 'LSTM': return new tf.nn.LSTM(cfg.inputSize, cfg.hiddenSize, opts);
    case 'GRU': return new tf.nn.GRU(cfg.inputSize, cfg.hiddenSize, opts);
  }
}

interface Out { output: tf.Tensor; h: tf.Tensor; c: tf.Tensor | null }
function run(m: AnyRnn, x: tf.Tensor, h0: tf.Tensor | null = null, c0: tf.Tensor | null = null): Out {
  if (m instanceof tf.nn.LSTM) {
    const [output, [h, c]] = m.forward(x, h0 ? [h0, c0!] : null);
    return { output, h, c };
  }
  const [output, h] = m.forward(x, h0);
  return { output, h, c: null };
}

/** float32-exact values of a reference tensor. */
const f32ref = (r: RefTensor) => ({ shape: [...r.shape], data: r.data.map(Math.fround) });

/** Random float32-exact weights loaded into m; returns them by state-dict name. */
function randomWeights(m: AnyRnn, cfg: RnnConfig, rng: Rng, scale = 0.8): Record<string, RefTensor> {
  const w = Object.fromEntries(R.rnnParamShapes(cfg).map(([n, s]) => [n, f32ref(R.rand(s, rng, -scale, scale))]));
  m.loadStateDict(Object.fromEntries(Object.entries(w).map(([n, r]) => [n, fromRef(r)])));
  return w;
}

function shapes(cfg: RnnConfig, T: number, B: number, unbatched: boolean) {
  const LD = cfg.numLayers * (cfg.bidirectional ? 2 : 1);
  return {
    x: unbatched ? [T, cfg.inputSize] : cfg.batchFirst ? [B, T, cfg.inputSize] : [T, B, cfg.inputSize],
    state: unbatched ? [LD, cfg.hiddenSize] : [LD, B, cfg.hiddenSize],
  };
}

/** Flattened [output, h, c] of the reference, for finite differences over every input at once. */
function flatRef(r: R.RnnResult): RefTensor {
  const parts = [r.output, r.h, ...(r.c ? [r.c] : [])];
  const data = new Float64Array(parts.reduce((n, p) => n + p.data.length, 0));
  let off = 0;
  for (const p of parts) {
    data.set(p.data, off);
    off += p.data.length;
  }
  return { shape: [data.length], data };
}

/**
 * One configuration end to end: the native forward against the reference, then autograd
 * gradients of L = Σ output·gO + Σ hN·gH (+ Σ cN·gC) for x, h0, c0 and every parameter against
 * central differences of the reference.
 */
function checkConfig(cfg: RnnConfig, rng: Rng, o: { T: number; B: number; unbatched: boolean; withState: boolean; strided: boolean }): void {
  const what = `${JSON.stringify(cfg)} ${JSON.stringify(o)}`;
  const m = build(cfg);
  try {
    const w = randomWeights(m, cfg, rng);
    const sh = shapes(cfg, o.T, o.B, o.unbatched);
    const xr = f32ref(R.randn(sh.x, rng));
    const h0r = o.withState ? f32ref(R.randn(sh.state, rng)) : null;
    const c0r = o.withState && cfg.mode === 'LSTM' ? f32ref(R.randn(sh.state, rng)) : null;
    const leaf = (r: RefTensor) => (o.strided ? nonContiguous(fromRef(r), 'transpose', { requiresGrad: true }) : fromRef(r, { requiresGrad: true }));
    const x = leaf(xr), h0 = h0r && leaf(h0r), c0 = c0r && leaf(c0r);

    const ref = R.rnn(cfg, xr, w, h0r, c0r);
    const out = run(m, x, h0, c0);
    expectClose(out.output, ref.output, ...FWD, `${what} output`);
    expectClose(out.h, ref.h, ...FWD, `${what} hN`);
    if (ref.c) expectClose(out.c!, ref.c, ...FWD, `${what} cN`);
    else expect(out.c).toBeNull();

    const flat = flatRef(ref);
    const g = R.randn(flat.shape, rng);
    const split = (k: number, n: number) => g.data.subarray(k, k + n);
    const gO = { shape: ref.output.shape, data: split(0, ref.output.data.length) };
    const gH = { shape: ref.h.shape, data: split(ref.output.data.length, ref.h.data.length) };
    let loss = out.output.mul(fromRef(gO)).sum().add(out.h.mul(fromRef(gH)).sum());
    if (ref.c) loss = loss.add(out.c!.mul(fromRef({ shape: ref.c.shape, data: split(ref.output.data.length + ref.h.data.length, ref.c.data.length) })).sum());
    loss.backward();

    const names = R.rnnParamShapes(cfg).map(([n]) => n);
    const inputs = [xr, ...(h0r ? [h0r] : []), ...(c0r ? [c0r] : []), ...names.map((n) => w[n])];
    const fd = finiteDiffVjp((xs) => {
      let k = 0;
      const xx = xs[k++], hh = h0r ? xs[k++] : null, cc = c0r ? xs[k++] : null;
      const ww = Object.fromEntries(names.map((n, i) => [n, xs[k + i]]));
      return flatRef(R.rnn(cfg, xx, ww, hh, cc));
    }, inputs, g);
    let k = 0;
    expectClose(x.grad!, fd[k++], ...BWD, `${what} grad x`);
    if (h0) expectClose(h0.grad!, fd[k++], ...BWD, `${what} grad h0`);
    if (c0) expectClose(c0.grad!, fd[k++], ...BWD, `${what} grad c0`);
    const params = Object.fromEntries(m.namedParameters());
    names.forEach((n, i) => expectClose(params[n].grad!, fd[k + i], ...BWD, `${what} grad ${n}`));
    for (const t of [x, h0, c0]) t?.zeroGrad();
  } finally {
    m.dispose();
  }
}

// ---- 1. the reference against PyTorch ---------------------------------------------------------
interface J { shape: number[]; data: number[] }
const fixtures = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'rnn.json'), 'utf8'));
const ref = (j: J): RefTensor => R.tensor(j.data, j.shape);
const fixtureCases: [string, any][] = fixtures.cases.map((c: any) => [c.name, c]);
function fixtureConfig(c: any): RnnConfig {
  const o = c.options;
  const mode: RnnMode = c.module === 'RNN' ? (o.nonlinearity === 'relu' ? 'RNN_RELU' : 'RNN_TANH') : c.module;
  return { mode, inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: o.numLayers ?? 1, bias: o.bias ?? true,
    batchFirst: o.batchFirst ?? false, bidirectional: o.bidirectional ?? false };
}

describe('the reference matches PyTorch (scripts/fixtures/rnn.py)', () => {
  test.each(fixtureCases)('%s: forward, and finite differences match torch gradients', (_n, c: any) => {
    const cfg = fixtureConfig(c);
    const names = R.rnnParamShapes(cfg).map(([n, s]) => {
      expect(c.stateDict[n].shape).toEqual(s);
      return n;
    });
    expect(Object.keys(c.stateDict)).toEqual(names);
    const w = Object.fromEntries(names.map((n) => [n, ref(c.stateDict[n])]));
    const h0 = c.h0 ? ref(c.h0) : null, c0 = c.c0 ? ref(c.c0) : null;
    const r = R.rnn(cfg, ref(c.x), w, h0, c0);
    expectClose(r.output, ref(c.output), 1e-10, 1e-12, 'output');
    expectClose(r.h, ref(c.hN), 1e-10, 1e-12, 'hN');
    if (c.cN) expectClose(r.c!, ref(c.cN), 1e-10, 1e-12, 'cN');
    const g = flatRef({ output: ref(c.gOutput), h: ref(c.gH), c: c.gC ? ref(c.gC) : null });
    const inputs = [ref(c.x), ...(h0 ? [h0] : []), ...(c0 ? [c0] : []), ...names.map((n) => w[n])];
    const fd = finiteDiffVjp((xs) => {
      let k = 0;
      const xx = xs[k++], hh = h0 ? xs[k++] : null, cc = c0 ? xs[k++] : null;
      return flatRef(R.rnn(cfg, xx, Object.fromEntries(names.map((n, i) => [n, xs[k + i]])), hh, cc));
    }, inputs, g);
    let k = 0;
    expectClose(fd[k++], ref(c.gx), 1e-6, 1e-7, 'gx');
    if (h0) expectClose(fd[k++], ref(c.gh0), 1e-6, 1e-7, 'gh0');
    if (c0) expectClose(fd[k++], ref(c.gc0), 1e-6, 1e-7, 'gc0');
    names.forEach((n, i) => expectClose(fd[k + i], ref(c.grads[n]), 1e-6, 1e-7, `grad ${n}`));
  });
});

// ---- 2. native against PyTorch fixtures -------------------------------------------------------
describe('PyTorch fixtures loaded by state-dict name', () => {
  test.each(fixtureCases)('%s', (_n, c: any) => expectNoLeaks(() => tf.scope(() => {
    const cfg = fixtureConfig(c);
    const m = build(cfg);
    const sd = Object.fromEntries(Object.entries(c.stateDict).map(([n, j]) => [n, fromRef(ref(j as J))]));
    expect(m.loadStateDict(sd)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const x = fromRef(ref(c.x), { requiresGrad: true });
    const h0 = c.h0 ? fromRef(ref(c.h0), { requiresGrad: true }) : null;
    const c0 = c.c0 ? fromRef(ref(c.c0), { requiresGrad: true }) : null;
    const out = run(m, x, h0, c0);
    expectClose(out.output, ref(c.output), ...FWD, 'output');
    expectClose(out.h, ref(c.hN), ...FWD, 'hN');
    if (c.cN) expectClose(out.c!, ref(c.cN), ...FWD, 'cN');
    let loss = out.output.mul(fromRef(ref(c.gOutput))).sum().add(out.h.mul(fromRef(ref(c.gH))).sum());
    if (c.cN) loss = loss.add(out.c!.mul(fromRef(ref(c.gC))).sum());
    loss.backward();
    expectClose(x.grad!, ref(c.gx), ...BWD, 'gx');
    if (h0) expectClose(h0.grad!, ref(c.gh0), ...BWD, 'gh0');
    if (c0) expectClose(c0.grad!, ref(c.gc0), ...BWD, 'gc0');
    for (const [n, p] of m.namedParameters()) expectClose(p.grad!, ref(c.grads[n]), ...BWD, `grad ${n}`);
    for (const t of [x, h0, c0]) t?.zeroGrad();
    m.dispose();
  })));
});

// ---- 3. every option combination against the reference ----------------------------------------
describe('forward and gradients against the reference, every option combination', () => {
  for (const mode of MODES) {
    seeded(`${mode}: layers x bidirectional x batchFirst x bias x initial state x unbatched`, (rng) => {
      let i = 0;
      for (const numLayers of [1, 2])
        for (const bidirectional of [false, true])
          for (const batchFirst of [false, true])
            for (const bias of [false, true])
              for (const withState of [false, true])
                for (const unbatched of [false, true]) {
                  const cfg: RnnConfig = { mode, inputSize: 3, hiddenSize: 3, numLayers, bias, batchFirst, bidirectional };
                  checkConfig(cfg, rng, { T: 3, B: 3, unbatched, withState, strided: i++ % 3 === 1 });
                }
    }, 120_000);
  }

  seeded('edge sizes: one step, one batch entry, wide layers, three layers', (rng) => {
    for (const mode of MODES) {
      const base: RnnConfig = { mode, inputSize: 5, hiddenSize: 2, numLayers: 1, bias: true, batchFirst: false, bidirectional: false };
      checkConfig(base, rng, { T: 1, B: 2, unbatched: false, withState: true, strided: false });
      checkConfig({ ...base, bidirectional: true }, rng, { T: 4, B: 1, unbatched: false, withState: false, strided: false });
      checkConfig({ ...base, inputSize: 1, hiddenSize: 7, numLayers: 3, bidirectional: true, batchFirst: true }, rng,
        { T: 2, B: 2, unbatched: false, withState: true, strided: true });
    }
  }, 120_000);

  test('an empty batch gives empty outputs and states', () => expectNoLeaks(() => tf.scope(() => {
    const m = new tf.nn.LSTM(3, 4, { numLayers: 2, bidirectional: true });
    const [y, [h, c]] = m.forward(tf.zeros([5, 0, 3]));
    expect([y.shape, h.shape, c.shape]).toEqual([[5, 0, 8], [4, 0, 4], [4, 0, 4]]);
    m.dispose();
  })));
});

// ---- 4. dropout between layers ----------------------------------------------------------------
describe('dropout between layers', () => {
  /** The masks dropout draws after tf.manualSeed(seed): one rand() per layer output but the last,
   *  kept where u >= p and scaled by 1/(1 − p) in float32. */
  function masks(seed: number, cfg: RnnConfig, layerOut: number[], p: number): RefTensor[] {
    tf.manualSeed(seed);
    const scale = Math.fround(1 / (1 - p));
    return Array.from({ length: cfg.numLayers - 1 }, () => {
      const u = toRef(tf.rand(layerOut));
      return { shape: u.shape, data: u.data.map((v) => (v >= Math.fround(p) ? scale : 0)) };
    });
  }

  seeded('training: each layer output but the last is masked (forward and gradients); eval: none', (rng) => {
    for (const mode of MODES)
      for (const [batchFirst, unbatched] of [[false, false], [true, false], [true, true]]) {
        const cfg: RnnConfig = { mode, inputSize: 3, hiddenSize: 3, numLayers: 3, bias: true, batchFirst, bidirectional: true };
        const p = 0.4, T = 4, B = 2;
        const m = build(cfg, p);
        const w = randomWeights(m, cfg, rng);
        const xr = f32ref(R.randn(shapes(cfg, T, B, unbatched).x, rng));
        const layerOut = batchFirst ? [unbatched ? 1 : B, T, 6] : [T, unbatched ? 1 : B, 6];
        const seed = rng.int(0, 1 << 30);
        const mk = masks(seed, cfg, layerOut, p);
        expect(mk[0].data.some((v) => v === 0) && mk[0].data.some((v) => v !== 0)).toBe(true);
        const refOut = R.rnn(cfg, xr, w, null, null, mk);
        const x = fromRef(xr, { requiresGrad: true });
        tf.manualSeed(seed);
        const out = run(m, x);
        expectClose(out.output, refOut.output, ...FWD, `${mode} output`);
        expectClose(out.h, refOut.h, ...FWD, `${mode} hN`);
        const gO = R.randn(refOut.output.shape, rng);
        out.output.mul(fromRef(gO)).sum().backward();
        const names = R.rnnParamShapes(cfg).map(([n]) => n);
        const fd = finiteDiffVjp((xs) => R.rnn(cfg, xs[0], Object.fromEntries(names.map((n, i) => [n, xs[i + 1]])), null, null, mk).output,
          [xr, ...names.map((n) => w[n])], gO);
        expectClose(x.grad!, fd[0], ...BWD, `${mode} grad x`);
        const params = Object.fromEntries(m.namedParameters());
        names.forEach((n, i) => expectClose(params[n].grad!, fd[i + 1], ...BWD, `${mode} grad ${n}`));

        m.eval();
        const plain = R.rnn(cfg, xr, w);
        expectClose(run(m, x).output, plain.output, ...FWD, `${mode} eval output`);
        x.zeroGrad();
        m.dispose();
      }
  }, 60_000);

  test('p = 1 zeroes the input of every layer after the first', () => tf.scope(() => {
    const m = new tf.nn.GRU(3, 2, { numLayers: 2, dropout: 1 });
    const zeroIn = new tf.nn.GRU(2, 2);
    zeroIn.loadStateDict({ weight_ih_l0: m.stateDict().weight_ih_l1, weight_hh_l0: m.stateDict().weight_hh_l1,
      bias_ih_l0: m.stateDict().bias_ih_l1, bias_hh_l0: m.stateDict().bias_hh_l1 });
    const [y] = m.forward(tf.randn([4, 2, 3]));
    expectClose(y, toRef(zeroIn.forward(tf.zeros([4, 2, 2]))[0]), 0, 0, 'output');
    m.dispose();
    zeroIn.dispose();
  }));
});

// ---- 5. parameters --------------------------------------------------------------------------
describe('parameters', () => {
  test('state-dict names, order and shapes are PyTorch\'s; init is U(-1/sqrt(H), 1/sqrt(H))', () => {
    // seeded: the spread check below fails for about 1 draw in 300 of a 16-value bias
    tf.manualSeed(20261202);
    for (const mode of MODES)
      for (const [numLayers, bidirectional, bias] of [[1, false, true], [2, true, true], [3, true, false]] as const) {
        const cfg: RnnConfig = { mode, inputSize: 5, hiddenSize: 16, numLayers, bias, batchFirst: false, bidirectional };
        const m = build(cfg);
        const named = m.namedParameters();
        expect(named.map(([n, p]) => [n, p.shape])).toEqual(R.rnnParamShapes(cfg));
        expect(Object.keys(m.stateDict())).toEqual(named.map(([n]) => n));
        expect(m.allWeights.flat()).toEqual(named.map(([, p]) => p));
        for (const [, p] of named) {
          expect(p.requiresGrad).toBe(true);
          const v = p.dataSync();
          expect(Math.max(...v)).toBeLessThanOrEqual(0.25);
          expect(Math.min(...v)).toBeGreaterThanOrEqual(-0.25);
          expect(Math.max(...v) - Math.min(...v)).toBeGreaterThan(0.3);  // spread over the range, not constant
        }
        m.dispose();
      }
  });

  test('the torch fixtures\' state dicts load into modules built with the same options', () => {
    for (const c of fixtures.cases) {
      const m = build(fixtureConfig(c));
      expect(Object.keys(m.stateDict())).toEqual(Object.keys(c.stateDict));
      m.dispose();
    }
  });

  test('toString shows the options', () => {
    const m = new tf.nn.RNN(3, 4, { numLayers: 2, nonlinearity: 'relu', batchFirst: true, bidirectional: true, dropout: 0.5, bias: false });
    expect(m.toString()).toBe("RNN(3, 4, numLayers=2, nonlinearity='relu', bias=false, batchFirst=true, dropout=0.5, bidirectional=true)");
    expect(m.nonlinearity).toBe('relu');
    expect(new tf.nn.LSTM(2, 3).toString()).toBe('LSTM(2, 3)');
    m.dispose();
  });
});

// ---- 6. bad input -----------------------------------------------------------------------------
describe('bad input raises typed errors', () => {
  const lstm = new tf.nn.LSTM(3, 4, { numLayers: 2 });
  const gru = new tf.nn.GRU(3, 4, { bidirectional: true, batchFirst: true });
  const x = tf.randn([5, 2, 3]);
  afterAll(() => { lstm.dispose(); gru.dispose(); x.dispose(); });
  test.each<[string, () => unknown, new (m: string) => Error, RegExp]>([
    ['rank 4', () => lstm.forward(tf.randn([1, 5, 2, 3])), tf.ShapeError, /expected a 3-D input .* got \[1, 5, 2, 3\]/],
    ['rank 1', () => gru.forward(tf.randn([3])), tf.ShapeError, /2-D unbatched/],
    ['feature size', () => lstm.forward(tf.randn([5, 2, 4])), tf.ShapeError, /inputSize 3, got \[5, 2, 4\]/],
    ['empty sequence', () => gru.forward(tf.randn([2, 0, 3])), tf.ValueError, /sequence length must be at least 1/],
    ['input dtype', () => lstm.forward(x.int()), tf.DTypeError, /float32/],
    ['input not a tensor', () => lstm.forward([[1, 2, 3]] as never), tf.ArgumentError, /must be a Tensor/],
    ['h0 batch', () => lstm.forward(x, [tf.zeros([2, 3, 4]), tf.zeros([2, 2, 4])]), tf.ShapeError, /h0 of shape \[2, 2, 4\].*got \[2, 3, 4\]/],
    ['c0 layers', () => lstm.forward(x, [tf.zeros([2, 2, 4]), tf.zeros([1, 2, 4])]), tf.ShapeError, /c0 of shape \[2, 2, 4\].*got \[1, 2, 4\]/],
    ['h0 hidden', () => gru.forward(tf.randn([2, 5, 3]), tf.zeros([2, 2, 3])), tf.ShapeError, /h0 of shape \[2, 2, 4\]/],
    ['h0 2-D for batched input', () => gru.forward(tf.randn([2, 5, 3]), tf.zeros([2, 4])), tf.ShapeError, /batched 3-D input, h0 must be 3-D/],
    ['h0 3-D for unbatched input', () => gru.forward(tf.randn([5, 3]), tf.zeros([2, 1, 4])), tf.ShapeError, /unbatched 2-D input, h0 must be 2-D \[2, 4\]/],
    ['h0 dtype', () => gru.forward(tf.randn([2, 5, 3]), tf.zeros([2, 2, 4], { dtype: 'int32' })), tf.DTypeError, /h0 must be float32/],
    ['LSTM hx not a pair', () => lstm.forward(x, tf.zeros([2, 2, 4]) as never), tf.ArgumentError, /pair \[h0, c0\]/],
    ['LSTM hx with one state', () => lstm.forward(x, [tf.zeros([2, 2, 4])] as never), tf.ArgumentError, /pair/],
    ['GRU hx not a tensor', () => gru.forward(tf.randn([2, 5, 3]), [1] as never), tf.ArgumentError, /h0 must be a Tensor/],
    ['disposed input', () => { const d = tf.randn([5, 2, 3]); d.dispose(); return lstm.forward(d); }, tf.DisposedError, /disposed/],
    ['hiddenSize 0', () => new tf.nn.GRU(3, 0), tf.ArgumentError, /hiddenSize must be an integer >= 1/],
    ['inputSize fractional', () => new tf.nn.RNN(2.5, 3), tf.ArgumentError, /inputSize/],
    ['numLayers 0', () => new tf.nn.LSTM(3, 4, { numLayers: 0 }), tf.ArgumentError, /numLayers must be an integer >= 1/],
    ['dropout > 1', () => new tf.nn.LSTM(3, 4, { dropout: 1.5 }), tf.ValueError, /dropout must be a number in \[0, 1\]/],
    ['dropout NaN', () => new tf.nn.GRU(3, 4, { dropout: NaN }), tf.ValueError, /dropout/],
    ['nonlinearity', () => new tf.nn.RNN(3, 4, { nonlinearity: 'gelu' as never }), tf.ValueError, /'tanh' or 'relu'/],
    ['bias not boolean', () => new tf.nn.RNN(3, 4, { bias: 1 as never }), tf.ArgumentError, /bias must be a boolean/],
  ])('%s', (_name, fn, Cls, message) => expectNoLeaks(() => tf.scope(() => expectThrows(fn, Cls, message))));
});

// ---- 7. memory --------------------------------------------------------------------------------
describe('memory', () => {
  const configs = MODES.flatMap((mode) => [
    { mode, numLayers: 2, bidirectional: true, dropout: 0.3, state: true },
    { mode, numLayers: 1, bidirectional: false, dropout: 0, state: false },
  ]);

  test.each(configs.map((c) => [`${c.mode} ${JSON.stringify(c)}`, c]))('%s: forward + backward in tf.scope leaks nothing', (_n, c) => {
    const cfg: RnnConfig = { mode: c.mode, inputSize: 3, hiddenSize: 4, numLayers: c.numLayers, bias: true, batchFirst: false, bidirectional: c.bidirectional };
    const m = build(cfg, c.dropout);
    expectNoLeaks(() => {
      tf.scope(() => {
        const x = tf.randn([6, 2, 3], { requiresGrad: true });
        const s = c.state ? tf.randn([c.numLayers * (c.bidirectional ? 2 : 1), 2, 4], { requiresGrad: true }) : null;
        const out = run(m, x, s, s);
        out.output.sum().add(out.h.sum()).backward();
        expect(x.grad!.shape).toEqual([6, 2, 3]);
        x.zeroGrad();
        s?.zeroGrad();
      });
      m.zeroGrad();
      tf.noGrad(() => tf.scope(() => { run(m, tf.randn([6, 3])); }));  // unbatched inference
    });
    m.dispose();
  });

  test.each(configs.map((c) => [`${c.mode} ${JSON.stringify(c)}`, c]))(
    '%s: without a scope, backward frees every intermediate (only outputs and gradients remain)', (_n, c) => {
      const cfg: RnnConfig = { mode: c.mode, inputSize: 3, hiddenSize: 4, numLayers: c.numLayers, bias: true, batchFirst: true, bidirectional: c.bidirectional };
      const m = build(cfg, c.dropout);
      const x = tf.randn([2, 6, 3], { requiresGrad: true });
      const s = c.state ? tf.randn([c.numLayers * (c.bidirectional ? 2 : 1), 2, 4], { requiresGrad: true }) : null;
      const before = tf.memory();
      const out = run(m, x, s, s);
      const outputs = [out.output, out.h, out.c].filter((t): t is tf.Tensor => t !== null);
      // the loss's own intermediates (sums) are freed by its scope: their backward reads no values
      const loss = tf.scope(() => {
        const l = out.output.sum().add(out.h.sum());
        return out.c ? l.add(out.c.sum()) : l;
      });
      loss.backward();
      const grads = [x, s, ...m.parameters()].filter((t): t is tf.Tensor => t !== null).map((t) => t.grad!);
      const after = tf.memory();
      // what remains: the three results (and loss, a scalar), plus one gradient per leaf
      const expectedBytes = [...outputs, ...grads].reduce((n, t) => n + t.size * 4, 0) + 4;
      expect(after.numTensors - before.numTensors).toBe(outputs.length + grads.length + 1);
      expect(after.numBytes - before.numBytes).toBe(expectedBytes);
      [x, s].forEach((t) => t?.zeroGrad());
      [...outputs, loss, x, s].forEach((t) => t?.dispose());
      m.dispose();
    });

  test('inference holds no per-step intermediates: after the forward only the results are alive', () => tf.noGrad(() => {
    for (const mode of MODES) {
      const m = build({ mode, inputSize: 8, hiddenSize: 16, numLayers: 2, bias: true, batchFirst: false, bidirectional: true });
      const x = tf.randn([40, 3, 8]);
      const before = tf.memory();
      const out = run(m, x);
      const results = [out.output, out.h, out.c].filter((t): t is tf.Tensor => t !== null);
      const after = tf.memory();
      expect(after.numTensors - before.numTensors).toBe(results.length);
      expect(after.numBytes - before.numBytes).toBe(results.reduce((n, t) => n + t.size * 4, 0));
      results.forEach((t) => t.dispose());
      x.dispose();
      m.dispose();
    }
  }));

  test('under autograd the forward keeps only what backward reads', () => {
    // Per LSTM step backward reads i, f, g, o, c, tanh(c) and h (7 × [B, H]); the gate
    // pre-activations ([B, 4H] sum, h·W_hhᵀ), f·c and i·g are freed in the forward pass, and so is
    // the input projection once the loop has read it.
    const T = 50, B = 3, H = 8;
    const m = new tf.nn.LSTM(4, H);
    const x = tf.randn([T, B, 4], { requiresGrad: true });
    const before = tf.memory();
    const [y, [h, c]] = m.forward(x);
    const grown = tf.memory().numBytes - before.numBytes;
    const perStep = B * H * 4;
    // 7 per step, the stacked output (1 per step), zero h0 and c0, hN and cN; the [T, B, 4H]
    // input projection is gone too
    expect(grown).toBe((T * 8 + 4) * perStep);
    y.sum().add(h.sum()).add(c.sum()).backward();
    [y, h, c, x].forEach((t) => { t.zeroGrad(); t.dispose(); });
    m.dispose();
  });
});

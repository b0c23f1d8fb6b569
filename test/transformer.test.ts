// nn.MultiheadAttention, nn.TransformerEncoderLayer and nn.TransformerEncoder against the float64
// reference (test/reference/transformer.ts) for every option (layouts, self/cross attention,
// kdim/vdim, bias, key padding / attention / causal masks, bool and float masks, needWeights and
// averaging, pre/post-norm, relu/gelu); gradients of inputs and parameters against finite
// differences of the reference; PyTorch 1.13 fixtures loaded through loadStateDict; state-dict
// names, shapes and initialisation; attention dropout; fully masked rows; typed errors; leaks.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/transformer.test.ts
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '../ts';
import * as R from './reference';
import * as T from './reference/transformer';
import { RefTensor, Rng, finiteDiffVjp } from './reference';
import { expectClose, expectNoLeaks, expectThrows, fromRef, nonContiguous, seeded, toRef } from './helpers';

// Tolerances (float32 vs float64): a forward is a few short dot products, a softmax and layer
// norms (O(1) values, a few ulps each); gradients chain a dozen such steps and sum over batch and
// positions in float32, so they get 1e-3 relative.
const FWD: [number, number] = [1e-4, 1e-5];
const BWD: [number, number] = [1e-3, 1e-4];

type AnyModule = tf.nn.Module<any, any>;
const f32 = (r: RefTensor) => toRef(fromRef(r));
const randn32 = (shape: number[], rng: Rng, scale = 1) => f32(R.make(shape, () => scale * rng.normal()));

/** Random float32-exact values for every parameter of m (loaded into it), as a reference state dict.
 *  Weights ~ N(0, 1/fanIn) keep the softmax away from saturation; biases and norm affines are
 *  non-trivial so a missing term shows. */
function randomize(m: AnyModule, rng: Rng): T.RefStateDict {
  const sd: T.RefStateDict = {};
  for (const [name, t] of Object.entries(m.stateDict())) {
    const norm = /norm\d?\.weight$/.test(name);
    sd[name] = norm ? f32(R.make([...t.shape], () => 1 + 0.2 * rng.normal()))
      : t.ndim === 2 ? randn32([...t.shape], rng, 1 / Math.sqrt(t.shape[1])) : randn32([...t.shape], rng, 0.3);
  }
  loadRef(m, sd);
  return sd;
}
function loadRef(m: AnyModule, sd: T.RefStateDict): void {
  tf.scope(() => { m.loadStateDict(Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, fromRef(v)]))); });
}

/** A random mask of the given kind; bool masks hold 0/1 (1 = may NOT attend / ignore the key). */
function randomMask(shape: number[], kind: 'bool' | 'float', rng: Rng): { ref: RefTensor; t: tf.Tensor } {
  const ref = kind === 'bool' ? R.make(shape, () => (rng.uniform() < 0.3 ? 1 : 0)) : randn32(shape, rng);
  return { ref, t: fromRef(ref, { dtype: kind === 'bool' ? 'bool' : 'float32' }) };
}

const concat = (...rs: RefTensor[]): RefTensor => {
  const data = new Float64Array(rs.reduce((n, r) => n + r.data.length, 0));
  let off = 0;
  for (const r of rs) { data.set(r.data, off); off += r.data.length; }
  return { shape: [data.length], data };
};
const slicesOf = (flat: RefTensor, like: RefTensor[]): RefTensor[] => {
  let off = 0;
  return like.map((r) => {
    const part = { shape: [...r.shape], data: flat.data.slice(off, off + r.data.length) };
    off += r.data.length;
    return part;
  });
};

// ---- MultiheadAttention --------------------------------------------------------------------------
interface MhaConfig {
  name: string; E: number; H: number; N: number | null; L: number; S: number;
  self?: boolean; batchFirst?: boolean; kdim?: number; vdim?: number; bias?: boolean; strided?: boolean;
}
const MHA_CONFIGS: MhaConfig[] = [
  { name: 'self-attention, sequence first', E: 6, H: 3, N: 3, L: 5, S: 5, self: true },
  { name: 'cross-attention, batchFirst, strided query', E: 6, H: 2, N: 2, L: 4, S: 7, batchFirst: true, strided: true },
  { name: 'unbatched cross-attention', E: 5, H: 1, N: null, L: 3, S: 6 },
  { name: 'kdim and vdim', E: 6, H: 2, N: 2, L: 5, S: 3, kdim: 4, vdim: 7, batchFirst: true },
  { name: 'no bias, self-attention, batchFirst', E: 9, H: 3, N: 2, L: 4, S: 4, self: true, bias: false, batchFirst: true },
];
type MaskSet = { kpm?: 'bool' | 'float'; attn?: 'bool' | 'float'; attn3d?: boolean; causal?: boolean };
const MASK_SETS: MaskSet[] = [
  {}, { kpm: 'bool' }, { kpm: 'float' }, { attn: 'bool' }, { attn: 'float', attn3d: true }, { causal: true },
  { causal: true, kpm: 'bool' }, { kpm: 'bool', attn: 'float' }, { kpm: 'float', attn: 'bool', attn3d: true, causal: true },
];

interface MhaCase {
  m: tf.nn.MultiheadAttention; sd: T.RefStateDict;
  q: RefTensor; k: RefTensor; v: RefTensor;
  qt: tf.Tensor; kt: tf.Tensor; vt: tf.Tensor;
}
function mhaCase(c: MhaConfig, rng: Rng, requiresGrad = false): MhaCase {
  const m = new tf.nn.MultiheadAttention(c.E, c.H, { batchFirst: c.batchFirst, kdim: c.kdim, vdim: c.vdim, bias: c.bias });
  m.eval();
  const sd = randomize(m, rng);
  const shape = (T_: number, F: number) => (c.N === null ? [T_, F] : c.batchFirst ? [c.N, T_, F] : [T_, c.N, F]);
  const q = randn32(shape(c.L, c.E), rng);
  const k = c.self ? q : randn32(shape(c.S, c.kdim ?? c.E), rng);
  const v = c.self ? q : randn32(shape(c.S, c.vdim ?? c.E), rng);
  const qt = c.strided ? nonContiguous(fromRef(q), 'step') : fromRef(q);
  if (requiresGrad) qt.requiresGrad_(true);
  const kt = c.self ? qt : fromRef(k, { requiresGrad }), vt = c.self ? qt : fromRef(v, { requiresGrad });
  return { m, sd, q, k, v, qt, kt, vt };
}
function masksFor(c: MhaConfig, s: MaskSet, rng: Rng) {
  const N = c.N ?? 1;
  const kpm = s.kpm ? randomMask(c.N === null ? [c.S] : [N, c.S], s.kpm, rng) : null;
  const attn = s.attn ? randomMask(s.attn3d ? [N * c.H, c.L, c.S] : [c.L, c.S], s.attn, rng) : null;
  return {
    tf: { keyPaddingMask: kpm?.t ?? null, attnMask: attn?.t ?? null, isCausal: s.causal ?? false },
    ref: {
      numHeads: c.H, batchFirst: c.batchFirst, isCausal: s.causal ?? false,
      keyPaddingMask: kpm?.ref ?? null, keyPaddingMaskIsBool: s.kpm === 'bool',
      attnMask: attn?.ref ?? null, attnMaskIsBool: s.attn === 'bool',
    },
  };
}
const describeMasks = (s: MaskSet) => JSON.stringify(s);

describe('MultiheadAttention forward matches the reference', () => {
  for (const c of MHA_CONFIGS) {
    seeded(c.name, (rng) => {
      const { m, sd, q, k, v, qt, kt, vt } = mhaCase(c, rng);
      for (const s of MASK_SETS) {
        const masks = masksFor(c, s, rng);
        for (const average of [true, false]) {
          const ref = T.multiheadAttention(q, k, v, sd, '', { ...masks.ref, averageAttnWeights: average });
          const what = `${describeMasks(s)} average=${average}`;
          const [out, w] = m.forward(qt, kt, vt, { ...masks.tf, averageAttnWeights: average });
          expectClose(out, ref.out, ...FWD, `output ${what}`);
          expectClose(w!, ref.weights, ...FWD, `weights ${what}`);
          // the fused path (no weights) gives the same output
          const [fused, none] = m.forward(qt, kt, vt, { ...masks.tf, needWeights: false });
          expect(none).toBeNull();
          expectClose(fused, ref.out, ...FWD, `fused output ${what}`);
        }
      }
    });
  }

  seeded('float masks with -inf entries, and rows that may attend no key (output 0, weights 0)', (rng) => {
    const c: MhaConfig = { name: '', E: 4, H: 2, N: 3, L: 4, S: 5, batchFirst: true };
    const { m, sd, q, k, v, qt, kt, vt } = mhaCase(c, rng);
    // batch entry 1 is fully padded; query row 2 may attend nothing; row 0 only key 3
    const kpmRef = R.make([3, 5], ([n, j]) => (n === 1 || (n === 2 && j === 4) ? 1 : 0));
    const attnRef = R.make([4, 5], ([i, j]) => (i === 2 || (i === 0 && j !== 3) ? -Infinity : (i + j) % 3 === 0 ? -Infinity : 0.5 * (i - j)));
    const ref = T.multiheadAttention(q, k, v, sd, '', { numHeads: 2, batchFirst: true, keyPaddingMask: kpmRef, keyPaddingMaskIsBool: true, attnMask: attnRef, averageAttnWeights: false });
    const opts = { keyPaddingMask: fromRef(kpmRef, { dtype: 'bool' }), attnMask: fromRef(attnRef), averageAttnWeights: false };
    const [out, w] = m.forward(qt, kt, vt, opts);
    expectClose(out, ref.out, ...FWD, 'output');
    expectClose(w!, ref.weights, ...FWD, 'weights');
    expectClose(m.forward(qt, kt, vt, { ...opts, needWeights: false })[0], ref.out, ...FWD, 'fused output');
    // the fully masked positions hold exactly the output projection's bias
    const bias = sd['out_proj.bias'].data;
    const o = toRef(out);
    for (let e = 0; e < 4; e++) {
      expect(o.data[(1 * 4 + 0) * 4 + e]).toBeCloseTo(bias[e], 6);
      expect(o.data[(0 * 4 + 2) * 4 + e]).toBeCloseTo(bias[e], 6);
    }
    // and gradients stay finite on both paths
    for (const needWeights of [true, false]) {
      const x = fromRef(q, { requiresGrad: true });
      const [y, ww] = m.forward(x, kt, vt, { ...opts, needWeights });
      (ww ? y.sum().add(ww.sum()) : y.sum()).backward();
      expect(Array.from(x.grad!.dataSync()).every(Number.isFinite)).toBe(true);
      expect(m.parameters().every((p) => Array.from(p.grad!.dataSync()).every(Number.isFinite))).toBe(true);
      m.zeroGrad();
    }
  });
});

describe('MultiheadAttention gradients match finite differences of the reference', () => {
  const cases: [MhaConfig, MaskSet, boolean][] = [
    [MHA_CONFIGS[1], { kpm: 'bool', attn: 'float' }, true],
    [MHA_CONFIGS[0], { causal: true }, false],
    [MHA_CONFIGS[3], { kpm: 'float', attn: 'bool', attn3d: true }, true],
    [MHA_CONFIGS[4], { kpm: 'bool' }, false],
    [MHA_CONFIGS[2], {}, true],
  ];
  for (const [c, s, needWeights] of cases) {
    seeded(`${c.name}, ${describeMasks(s)}, needWeights=${needWeights}`, (rng) => {
      const { m, sd, q, k, v, qt, kt, vt } = mhaCase(c, rng, true);
      const masks = masksFor(c, s, rng);
      const names = Object.keys(sd);
      const inputs = c.self ? [q] : [q, k, v];
      const run = (xs: RefTensor[]) => {
        const [qq, kk, vv] = c.self ? [xs[0], xs[0], xs[0]] : xs;
        const params = Object.fromEntries(names.map((n, i) => [n, xs[inputs.length + i]]));
        const r = T.multiheadAttention(qq, kk, vv, params, '', { ...masks.ref, averageAttnWeights: false });
        return needWeights ? concat(r.out, r.weights) : r.out;
      };
      const all = [...inputs, ...names.map((n) => sd[n])];
      const g = randn32(run(all).shape, rng);
      const fd = finiteDiffVjp(run, all, g);

      m.train();  // dropout is 0: training mode must not change anything
      const [out, w] = m.forward(qt, kt, vt, { ...masks.tf, needWeights, averageAttnWeights: false });
      const [gOut, gW] = needWeights ? slicesOf(g, [toRef(out), toRef(w!)]) : [g, null];
      let loss = out.mul(fromRef({ shape: [...out.shape], data: gOut.data })).sum();
      if (w) loss = loss.add(w.mul(fromRef({ shape: [...w.shape], data: gW!.data })).sum());
      loss.backward();
      const tfInputs = c.self ? [qt] : [qt, kt, vt];
      tfInputs.forEach((t, i) => expectClose(t.grad!, fd[i], ...BWD, `input ${i} grad`));
      const params = Object.fromEntries(m.namedParameters());
      names.forEach((n, i) => expectClose(params[n].grad!, fd[inputs.length + i], ...BWD, `${n} grad`));
      m.zeroGrad();
    });
  }
});

// ---- encoder ----------------------------------------------------------------------------------
interface EncConfig {
  name: string; E: number; H: number; ff: number; N: number | null; S: number;
  batchFirst?: boolean; normFirst?: boolean; activation?: 'relu' | 'gelu';
  masks: MaskSet; layers?: number; finalNorm?: boolean; eps?: number;
}
const ENC_CONFIGS: EncConfig[] = [
  { name: 'post-norm relu, sequence first, bool padding', E: 6, H: 2, ff: 7, N: 3, S: 5, masks: { kpm: 'bool' } },
  { name: 'pre-norm gelu, batchFirst, float srcMask', E: 6, H: 3, ff: 5, N: 2, S: 4, batchFirst: true, normFirst: true, activation: 'gelu', masks: { attn: 'float' } },
  { name: 'post-norm gelu, causal + padding, eps 1e-3', E: 4, H: 2, ff: 9, N: 2, S: 5, activation: 'gelu', masks: { causal: true, kpm: 'bool' }, eps: 1e-3 },
  { name: 'pre-norm relu, unbatched, bool srcMask', E: 5, H: 1, ff: 6, N: null, S: 4, normFirst: true, masks: { attn: 'bool' } },
  { name: '2-layer encoder with final norm, batchFirst, 3-D mask and padding', E: 6, H: 2, ff: 5, N: 2, S: 4, batchFirst: true, masks: { kpm: 'bool', attn: 'bool', attn3d: true }, layers: 2, finalNorm: true },
];

function encoderCase(c: EncConfig, rng: Rng) {
  const layer = new tf.nn.TransformerEncoderLayer(c.E, c.H, {
    dimFeedforward: c.ff, activation: c.activation, batchFirst: c.batchFirst, normFirst: c.normFirst, layerNormEps: c.eps,
  });
  const model: tf.nn.TransformerEncoderLayer | tf.nn.TransformerEncoder = c.layers
    ? new tf.nn.TransformerEncoder(layer, c.layers, { norm: c.finalNorm ? new tf.nn.LayerNorm(c.E) : null }) : layer;
  if (c.layers) layer.dispose();
  model.eval();
  const sd = randomize(model, rng);
  const src = randn32(c.N === null ? [c.S, c.E] : c.batchFirst ? [c.N, c.S, c.E] : [c.S, c.N, c.E], rng);
  const masks = masksFor({ name: '', E: c.E, H: c.H, N: c.N, L: c.S, S: c.S, batchFirst: c.batchFirst }, c.masks, rng);
  const cfg: T.RefEncoderLayerConfig = { nhead: c.H, activation: c.activation ?? 'relu', batchFirst: c.batchFirst, normFirst: c.normFirst, layerNormEps: c.eps };
  const refMasks: T.RefEncoderMasks = {
    srcMask: masks.ref.attnMask, srcMaskIsBool: masks.ref.attnMaskIsBool, isCausal: masks.ref.isCausal,
    srcKeyPaddingMask: masks.ref.keyPaddingMask, srcKeyPaddingMaskIsBool: masks.ref.keyPaddingMaskIsBool,
  };
  const reference = (x: RefTensor, params: T.RefStateDict) => (c.layers
    ? T.transformerEncoder(x, params, c.layers, cfg, refMasks) : T.encoderLayer(x, params, '', cfg, refMasks));
  const forward = (x: tf.Tensor) => (model instanceof tf.nn.TransformerEncoder
    ? model.forward(x, { mask: masks.tf.attnMask, srcKeyPaddingMask: masks.tf.keyPaddingMask, isCausal: masks.tf.isCausal })
    : model.forward(x, { srcMask: masks.tf.attnMask, srcKeyPaddingMask: masks.tf.keyPaddingMask, isCausal: masks.tf.isCausal }));
  return { model, sd, src, reference, forward };
}

describe('TransformerEncoderLayer / TransformerEncoder match the reference', () => {
  for (const c of ENC_CONFIGS) {
    seeded(`${c.name}: forward (with and without a graph) and gradients vs finite differences`, (rng) => {
      const { model, sd, src, reference, forward } = encoderCase(c, rng);
      const ref = reference(src, sd);
      expectClose(tf.noGrad(() => forward(fromRef(src))), ref, ...FWD, 'forward, no grad');

      const names = Object.keys(sd);
      const run = (xs: RefTensor[]) => reference(xs[0], Object.fromEntries(names.map((n, i) => [n, xs[i + 1]])));
      const all = [src, ...names.map((n) => sd[n])];
      const g = randn32(ref.shape, rng);
      const fd = finiteDiffVjp(run, all, g);
      const x = fromRef(src, { requiresGrad: true });
      const out = forward(x);
      expectClose(out, ref, ...FWD, 'forward');
      out.mul(fromRef(g)).sum().backward();
      expectClose(x.grad!, fd[0], ...BWD, 'src grad');
      const params = Object.fromEntries(model.namedParameters());
      names.forEach((n, i) => expectClose(params[n].grad!, fd[i + 1], ...BWD, `${n} grad`));
      model.zeroGrad();
    });
  }

  seeded('a custom activation function', (rng) => {
    const layer = new tf.nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 6, activation: (x) => tf.F.gelu(x) }).eval();
    const gelu = new tf.nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 6, activation: 'gelu' }).eval();
    const sd = randomize(layer, rng);
    loadRef(gelu, sd);
    const x = randn32([3, 2, 4], rng);
    expectClose(layer.forward(fromRef(x)), toRef(gelu.forward(fromRef(x))), 0, 0, 'custom gelu vs gelu');
    [layer, gelu].forEach((l) => l.dispose());
  });
});

// ---- PyTorch fixtures ---------------------------------------------------------------------------
interface Enc { shape: number[]; data: number[] }
interface MaskEnc extends Enc { dtype: 'bool' | 'float32' }
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'transformer.json'), 'utf8')) as { torch: string; cases: any[] };
const ref = (e: Enc): RefTensor => ({ shape: e.shape, data: Float64Array.from(e.data) });
/** Weights and inputs are stored with the 9 digits that identify a float32: round back to it. */
const ref32 = (e: Enc): RefTensor => ({ shape: e.shape, data: Float64Array.from(e.data, Math.fround) });
const maskTensor = (e: MaskEnc | null) => (e ? fromRef(ref(e), { dtype: e.dtype }) : null);
const stateOf = (state: Record<string, Enc>): T.RefStateDict => Object.fromEntries(Object.entries(state).map(([k, v]) => [k, ref32(v)]));

describe(`PyTorch ${fixture.torch} fixtures, loaded through loadStateDict`, () => {
  for (const c of fixture.cases) {
    seeded(`${c.kind}: ${c.name}`, () => {
      const sd = stateOf(c.state);
      let model: AnyModule;
      if (c.kind === 'encoder') {
        const k = c.config;
        const layer = new tf.nn.TransformerEncoderLayer(k.dModel, k.nhead, {
          dimFeedforward: k.dimFeedforward, activation: k.activation, batchFirst: k.batchFirst, normFirst: k.normFirst,
        });
        model = new tf.nn.TransformerEncoder(layer, k.numLayers, { norm: k.finalNorm ? new tf.nn.LayerNorm(k.dModel) : null });
        layer.dispose();
      } else {
        model = new tf.nn.MultiheadAttention(c.config.embedDim, c.config.numHeads, { dropout: 0.2, batchFirst: c.config.batchFirst });
      }
      model.eval();
      // the same parameter names and shapes as torch's state dict
      const own = model.stateDict();
      expect(Object.keys(own).sort()).toEqual(Object.keys(sd).sort());
      for (const [name, t] of Object.entries(own)) expect([...t.shape]).toEqual(sd[name].shape);
      loadRef(model, sd);

      if (c.kind === 'encoder') {
        const k = c.config;
        const opts = { mask: maskTensor(c.mask), srcKeyPaddingMask: maskTensor(c.srcKeyPaddingMask) };
        const cfg: T.RefEncoderLayerConfig = { nhead: k.nhead, activation: k.activation, batchFirst: k.batchFirst, normFirst: k.normFirst };
        // the reference agrees with torch (the spec checks itself), and so does the module
        const refOut = T.transformerEncoder(ref32(c.src), sd, k.numLayers, cfg, {
          srcMask: c.mask ? ref(c.mask) : null, srcMaskIsBool: true, srcKeyPaddingMask: ref(c.srcKeyPaddingMask), srcKeyPaddingMaskIsBool: true,
        });
        expectClose(refOut, ref(c.out), 1e-9, 1e-10, 'reference vs torch');
        const enc = model as tf.nn.TransformerEncoder;
        expectClose(tf.noGrad(() => enc.forward(fromRef(ref32(c.src)), opts)), ref(c.out), ...FWD, 'output, no grad');
        const src = fromRef(ref32(c.src), { requiresGrad: true });
        const out = enc.forward(src, opts);
        expectClose(out, ref(c.out), ...FWD, 'output');
        out.mul(fromRef(ref32(c.g))).sum().backward();
        expectClose(src.grad!, ref(c.srcGrad), ...BWD, 'src grad');
        // torch's nested-tensor fast path agreed with its math path at the real positions
        expect(c.fastPath.maxDiffAtRealPositions).toBeLessThan(1e-5);
      } else {
        const self = c.config.selfAttention;
        const q = fromRef(ref32(c.query), { requiresGrad: true });
        const k = self ? q : fromRef(ref32(c.key), { requiresGrad: true }), v = self ? q : fromRef(ref32(c.value), { requiresGrad: true });
        const [out, w] = (model as tf.nn.MultiheadAttention).forward(q, k, v, {
          keyPaddingMask: maskTensor(c.keyPaddingMask), attnMask: maskTensor(c.attnMask), averageAttnWeights: c.config.averageAttnWeights,
        });
        const r = T.multiheadAttention(ref32(c.query), ref32(self ? c.query : c.key), ref32(self ? c.query : c.value), sd, '', {
          numHeads: c.config.numHeads, batchFirst: c.config.batchFirst, averageAttnWeights: c.config.averageAttnWeights,
          keyPaddingMask: c.keyPaddingMask ? ref(c.keyPaddingMask) : null, keyPaddingMaskIsBool: true,
          attnMask: c.attnMask ? ref(c.attnMask) : null, attnMaskIsBool: c.attnMask?.dtype === 'bool',
        });
        expectClose(r.out, ref(c.out), 1e-9, 1e-10, 'reference vs torch: output');
        expectClose(r.weights, ref(c.weights), 1e-9, 1e-10, 'reference vs torch: weights');
        expectClose(out, ref(c.out), ...FWD, 'output');
        expectClose(w!, ref(c.weights), ...FWD, 'weights');
        out.mul(fromRef(ref32(c.g))).sum().add(w!.mul(fromRef(ref32(c.gWeights))).sum()).backward();
        expectClose(q.grad!, ref(c.queryGrad), ...BWD, 'query grad');
        if (!self) {
          expectClose(k.grad!, ref(c.keyGrad), ...BWD, 'key grad');
          expectClose(v.grad!, ref(c.valueGrad), ...BWD, 'value grad');
        }
      }
      for (const [name, p] of model.namedParameters()) expectClose(p.grad!, ref(c.grads[name]), ...BWD, `${name} grad`);
      model.dispose();
    });
  }
});

// ---- construction, initialisation, state -------------------------------------------------------
describe('construction and initialisation as torch', () => {
  const values = (t: tf.Tensor) => Array.from(t.dataSync());
  const maxAbs = (t: tf.Tensor) => Math.max(...values(t).map(Math.abs));

  seeded('MultiheadAttention: xavier in_proj_weight, zero biases, Linear-default out_proj.weight', () => {
    const E = 16, m = new tf.nn.MultiheadAttention(E, 4);
    const sd = m.stateDict();
    expect(Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, [...t.shape]]))).toEqual({
      in_proj_weight: [3 * E, E], in_proj_bias: [3 * E], 'out_proj.weight': [E, E], 'out_proj.bias': [E],
    });
    const xavier = Math.sqrt(6 / (E + 3 * E)), linear = 1 / Math.sqrt(E);
    expect(maxAbs(sd.in_proj_weight)).toBeLessThanOrEqual(xavier);
    expect(maxAbs(sd.in_proj_weight)).toBeGreaterThan(0.9 * xavier);
    expect(maxAbs(sd['out_proj.weight'])).toBeLessThanOrEqual(linear);
    expect(maxAbs(sd['out_proj.weight'])).toBeGreaterThan(0.8 * linear);
    expect(maxAbs(sd.in_proj_bias)).toBe(0);
    expect(maxAbs(sd['out_proj.bias'])).toBe(0);
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(m.headDim).toBe(4);
    m.dispose();
  });

  seeded('bias: false and kdim/vdim give torch\'s parameter sets', () => {
    const nb = new tf.nn.MultiheadAttention(6, 2, { bias: false });
    expect(Object.keys(nb.stateDict())).toEqual(['in_proj_weight', 'out_proj.weight']);
    const kv = new tf.nn.MultiheadAttention(6, 2, { kdim: 4, vdim: 5 });
    expect(Object.fromEntries(Object.entries(kv.stateDict()).map(([k, t]) => [k, [...t.shape]]))).toEqual({
      q_proj_weight: [6, 6], k_proj_weight: [6, 4], v_proj_weight: [6, 5], in_proj_bias: [18], 'out_proj.weight': [6, 6], 'out_proj.bias': [6],
    });
    expect(maxAbs(kv.stateDict().k_proj_weight)).toBeLessThanOrEqual(Math.sqrt(6 / 10));
    [nb, kv].forEach((m) => m.dispose());
  });

  seeded('TransformerEncoder: numLayers independent copies of the layer, torch names', () => {
    const layer = new tf.nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 8 });
    const enc = new tf.nn.TransformerEncoder(layer, 3, { norm: new tf.nn.LayerNorm(4) });
    const sd = enc.stateDict();
    const layerKeys = ['self_attn.in_proj_weight', 'self_attn.in_proj_bias', 'self_attn.out_proj.weight', 'self_attn.out_proj.bias',
      'linear1.weight', 'linear1.bias', 'linear2.weight', 'linear2.bias', 'norm1.weight', 'norm1.bias', 'norm2.weight', 'norm2.bias'];
    expect(Object.keys(layer.stateDict())).toEqual(layerKeys);
    expect(Object.keys(sd)).toEqual([...[0, 1, 2].flatMap((i) => layerKeys.map((k) => `layers.${i}.${k}`)), 'norm.weight', 'norm.bias']);
    expect([...sd['layers.0.linear1.weight'].shape]).toEqual([8, 4]);
    for (const k of layerKeys) {
      expect(values(sd[`layers.2.${k}`])).toEqual(values(layer.stateDict()[k]));
      expect(sd[`layers.2.${k}`]).not.toBe(sd[`layers.0.${k}`]);
    }
    sd['layers.0.linear1.weight'].fill_(3);
    expect(values(sd['layers.1.linear1.weight'])).toEqual(values(layer.stateDict()['linear1.weight']));
    expect(enc.parameters()).not.toContain(layer.stateDict()['linear1.weight']);
    expect(enc.layers[1].training).toBe(true);
    expect(String(enc)).toMatch(/TransformerEncoderLayer\(dModel=4, nhead=2, dimFeedforward=8/);
    [enc, layer].forEach((m) => m.dispose());
  });
});

// ---- dropout -------------------------------------------------------------------------------------
describe('dropout', () => {
  seeded('attention dropout in training: weights are 0 or w/(1-p), and the output is what they give', (rng) => {
    const m = new tf.nn.MultiheadAttention(6, 2, { dropout: 0.5, batchFirst: true });
    const sd = randomize(m, rng);
    const x = randn32([2, 5, 6], rng), xt = fromRef(x);
    m.eval();
    const [, wEval] = m.forward(xt, xt, xt, { averageAttnWeights: false });
    m.train();
    tf.manualSeed(7);
    const [out, w] = m.forward(xt, xt, xt, { averageAttnWeights: false });
    const we = toRef(wEval!).data, wt = toRef(w!).data;
    let dropped = 0;
    for (let i = 0; i < we.length; i++) {
      if (wt[i] === 0) dropped++;
      else expect(wt[i]).toBeCloseTo(2 * we[i], 6);
    }
    expect(dropped).toBeGreaterThan(we.length * 0.3);
    expect(dropped).toBeLessThan(we.length * 0.7);
    // the same draws without weights: the same output
    tf.manualSeed(7);
    expectClose(m.forward(xt, xt, xt, { needWeights: false })[0], toRef(out), 0, 0, 'needWeights false, same seed');
    // p = 1 drops everything: the output is the output projection's bias
    const all = new tf.nn.MultiheadAttention(6, 2, { dropout: 1, batchFirst: true });
    loadRef(all, sd);
    const [y1, w1] = all.forward(xt, xt, xt);
    expect(toRef(w1!).data.every((v) => v === 0)).toBe(true);
    expectClose(y1, R.make([2, 5, 6], ([, , e]) => sd['out_proj.bias'].data[e]), 1e-6, 1e-7, 'p = 1');
    // gradients flow through the dropped weights
    const xg = fromRef(x, { requiresGrad: true });
    m.forward(xg, xg, xg)[0].sum().backward();
    expect(Array.from(xg.grad!.dataSync()).every(Number.isFinite)).toBe(true);
    [m, all].forEach((a) => a.dispose());
  });

  seeded('TransformerEncoderLayer: dropout only in training; dropout 0 in training equals eval', (rng) => {
    const layer = new tf.nn.TransformerEncoderLayer(6, 2, { dimFeedforward: 10 });  // dropout 0.1
    const sd = randomize(layer, rng);
    const x = fromRef(randn32([5, 2, 6], rng));
    const evalOut = toRef(layer.eval().forward(x));
    expect(Math.max(...toRef(layer.train().forward(x)).data.map((v, i) => Math.abs(v - evalOut.data[i])))).toBeGreaterThan(1e-3);
    const noDrop = new tf.nn.TransformerEncoderLayer(6, 2, { dimFeedforward: 10, dropout: 0 });
    loadRef(noDrop, sd);
    expectClose(noDrop.train().forward(x), evalOut, 1e-6, 1e-7, 'dropout 0 in training');
    [layer, noDrop].forEach((a) => a.dispose());
  });
});

// ---- errors -------------------------------------------------------------------------------------
describe('typed errors', () => {
  seeded('constructors', () => {
    expectThrows(() => new tf.nn.MultiheadAttention(6, 4), tf.ValueError, /embedDim \(6\) must be divisible by numHeads \(4\)/);
    expectThrows(() => new tf.nn.MultiheadAttention(0, 1), tf.ArgumentError, /embedDim must be an integer >= 1/);
    expectThrows(() => new tf.nn.MultiheadAttention(4, 2, { dropout: 1.5 }), tf.ValueError, /dropout must be a probability/);
    expectThrows(() => new tf.nn.MultiheadAttention(4, 2, { kdim: 2.5 }), tf.ArgumentError, /kdim/);
    expectThrows(() => new tf.nn.TransformerEncoderLayer(6, 4), tf.ValueError, /divisible/);
    expectThrows(() => new tf.nn.TransformerEncoderLayer(4, 2, { activation: 'tanh' as 'relu' }), tf.ArgumentError, /activation must be 'relu', 'gelu' or a function/);
    expectThrows(() => new tf.nn.TransformerEncoderLayer(4, 2, { layerNormEps: -1 }), tf.ValueError, /layerNormEps/);
    const layer = new tf.nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 4 });
    expectThrows(() => new tf.nn.TransformerEncoder(layer, 0), tf.ArgumentError, /numLayers/);
    expectThrows(() => new tf.nn.TransformerEncoder({} as tf.nn.TransformerEncoderLayer, 2), tf.ArgumentError, /encoderLayer must be/);
    layer.dispose();
  });

  seeded('inputs and masks', (rng) => {
    const m = new tf.nn.MultiheadAttention(4, 2);  // sequence first: [L, N, E]
    const x = fromRef(randn32([5, 3, 4], rng));
    const call = (q: tf.Tensor, opts: tf.nn.MultiheadAttentionForwardOptions = {}, k = q, v = q) => () => m.forward(q, k, v, opts);
    expectThrows(call(tf.zeros([2, 3, 4, 4])), tf.ShapeError, /query must be 3-D \(batched\) or 2-D/);
    expectThrows(call(tf.zeros([5, 3, 6])), tf.ShapeError, /query must have 4 features/);
    expectThrows(call(x, {}, tf.zeros([5, 2, 4])), tf.ShapeError, /share the batch size/);
    expectThrows(call(x, {}, tf.zeros([6, 3, 4]), tf.zeros([5, 3, 4])), tf.ShapeError, /same sequence length/);
    expectThrows(call(x, {}, tf.zeros([5, 4])), tf.ShapeError, /key and value must be 3-D like query/);
    expectThrows(call(tf.zeros([5, 3, 4], { dtype: 'int32' })), tf.DTypeError, /query must be float32/);
    expectThrows(() => m.forward(x, null as unknown as tf.Tensor, x), tf.ArgumentError, /key must be a Tensor/);
    expectThrows(call(x, { keyPaddingMask: tf.zeros([5, 3], { dtype: 'bool' }) }), tf.ShapeError, /keyPaddingMask must have shape \[3, 5\]/);
    expectThrows(call(x, { keyPaddingMask: tf.zeros([3, 5], { dtype: 'int32' }) }), tf.DTypeError, /keyPaddingMask must be bool or float32/);
    expectThrows(call(x, { attnMask: tf.zeros([5, 4]) }), tf.ShapeError, /attnMask must have shape \[5, 5\] or \[6, 5, 5\]/);
    expectThrows(call(x, { attnMask: tf.zeros([3, 5, 5]) }), tf.ShapeError, /attnMask must have shape/);
    expectThrows(call(x, { attnMask: tf.zeros([5, 5], { requiresGrad: true }) }), tf.ArgumentError, /attnMask receives no gradient/);
    expectThrows(call(x, { needWeights: 1 as unknown as boolean }), tf.ArgumentError, /needWeights must be a boolean/);
    expectThrows(call(x, null as unknown as {}), tf.ArgumentError, /options must be an object/);
    const layer = new tf.nn.TransformerEncoderLayer(4, 2, { dimFeedforward: 4, batchFirst: true });
    expectThrows(() => layer.forward(x, { srcKeyPaddingMask: tf.zeros([3, 4], { dtype: 'bool' }) }), tf.ShapeError, /keyPaddingMask must have shape \[5, 3\]/);
    expectThrows(() => layer.forward(x, { srcMask: tf.zeros([3, 3], { dtype: 'int32' }) }), tf.DTypeError, /attnMask must be bool or float32/);
    [m, layer].forEach((a) => a.dispose());
  });
});

// ---- memory --------------------------------------------------------------------------------------
describe('memory', () => {
  test('training step (forward, backward, attention dropout) leaves nothing behind in a scope', () => {
    const layer = new tf.nn.TransformerEncoderLayer(6, 2, { dimFeedforward: 8, batchFirst: true });
    const enc = new tf.nn.TransformerEncoder(layer, 2, { norm: new tf.nn.LayerNorm(6) });
    const mha = new tf.nn.MultiheadAttention(6, 3, { dropout: 0.3, batchFirst: true });
    const x = tf.randn([2, 5, 6]), kpm = tf.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], [2, 5], { dtype: 'bool' });
    expectNoLeaks(() => {
      tf.scope(() => {
        const xg = x.detach().requiresGrad_(true);
        enc.forward(xg, { srcKeyPaddingMask: kpm, isCausal: true }).sum().backward();
        const [o, w] = mha.forward(xg, xg, xg, { keyPaddingMask: kpm });
        o.sum().add(w!.sum()).backward();
        xg.zeroGrad();
      });
      enc.zeroGrad();
      mha.zeroGrad();
    });
    [layer, enc, mha, x, kpm].forEach((a) => a.dispose());
  });

  test('without a graph, forward frees its intermediates before returning', () => {
    const layer = new tf.nn.TransformerEncoderLayer(6, 2, { dimFeedforward: 8 });
    const enc = new tf.nn.TransformerEncoder(layer, 2).eval();
    const mha = new tf.nn.MultiheadAttention(6, 2);
    const x = tf.randn([5, 2, 6]), mask = tf.zeros([5, 5]), kpm = tf.zeros([2, 5]);
    expectNoLeaks(() => {
      tf.noGrad(() => enc.forward(x, { mask, srcKeyPaddingMask: kpm })).dispose();
      const [o, w] = tf.noGrad(() => mha.forward(x, x, x, { isCausal: true, averageAttnWeights: false }));
      o.dispose();
      w!.dispose();
      // frozen parameters: no graph either
      enc.parameters().forEach((p) => p.requiresGrad_(false));
      enc.forward(x).dispose();
    });
    [layer, enc, mha, x, mask, kpm].forEach((a) => a.dispose());
  });
});

// nn.MultiheadAttention and nn.TransformerEncoder(Layer) in float64, written for clarity: plain
// loops over batch, position, head and feature, PyTorch 1.13's math path throughout.
// Parameters come as a state dict (PyTorch names) with an optional prefix ('layers.0.').
// A query row that may attend no key outputs 0 and has weights 0 (torch's math path gives NaN).
import { RefTensor, zeros } from './tensor';
import { erf } from './norm';

export type RefStateDict = Record<string, RefTensor>;

export interface RefMhaOptions {
  numHeads: number;
  batchFirst?: boolean;
  /** [N, S] ([S] unbatched); bool (0/1, 1 = ignore the key) or float (added) */
  keyPaddingMask?: RefTensor | null;
  keyPaddingMaskIsBool?: boolean;
  /** [L, S] or [N·H, L, S]; bool (1 = may NOT attend) or float (added) */
  attnMask?: RefTensor | null;
  attnMaskIsBool?: boolean;
  isCausal?: boolean;
  averageAttnWeights?: boolean;
}

/** A sequence batch as vectors: seq[n][t] is the feature vector of position t in batch entry n. */
type Seqs = Float64Array[][];

/** [T, N, F] / [N, T, F] / unbatched [T, F] -> seq[n][t]. */
function toSeqs(x: RefTensor, batchFirst: boolean): Seqs {
  const batched = x.shape.length === 3;
  const F = x.shape[x.shape.length - 1];
  const N = batched ? x.shape[batchFirst ? 0 : 1] : 1;
  const T = batched ? x.shape[batchFirst ? 1 : 0] : x.shape[0];
  const seqs: Seqs = [];
  for (let n = 0; n < N; n++) {
    seqs.push([]);
    for (let t = 0; t < T; t++) {
      const row = !batched ? t : batchFirst ? n * T + t : t * N + n;
      seqs[n].push(x.data.slice(row * F, (row + 1) * F));
    }
  }
  return seqs;
}

/** The inverse of toSeqs. */
function fromSeqs(seqs: Seqs, batchFirst: boolean, batched: boolean): RefTensor {
  const N = seqs.length, T = seqs[0].length, F = seqs[0][0].length;
  const out = zeros(!batched ? [T, F] : batchFirst ? [N, T, F] : [T, N, F]);
  for (let n = 0; n < N; n++)
    for (let t = 0; t < T; t++) {
      const row = !batched ? t : batchFirst ? n * T + t : t * N + n;
      out.data.set(seqs[n][t], row * F);
    }
  return out;
}

/** Rows wRow0 ... wRow0 + rows - 1 of w [out, in] times x, plus b[bRow0 ...]: a vector of size rows. */
function affine(x: Float64Array, w: RefTensor, wRow0: number, b: RefTensor | null, bRow0: number, rows: number): Float64Array {
  const inF = w.shape[1];
  const y = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let acc = b ? b.data[bRow0 + o] : 0;
    for (let i = 0; i < inF; i++) acc += w.data[(wRow0 + o) * inF + i] * x[i];
    y[o] = acc;
  }
  return y;
}

function layerNormVec(x: Float64Array, w: RefTensor, b: RefTensor, eps: number): Float64Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  variance /= x.length;
  const rstd = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * rstd * w.data[i] + b.data[i]);
}

const need = (sd: RefStateDict, name: string): RefTensor => {
  const t = sd[name];
  if (!t) throw new Error(`reference: state dict has no '${name}'`);
  return t;
};

/** Returns the output (shaped like query) and the weights: [N, L, S] averaged over heads, or
 *  [N, H, L, S] (unbatched: without N). */
export function multiheadAttention(query: RefTensor, key: RefTensor, value: RefTensor, sd: RefStateDict, prefix: string,
  o: RefMhaOptions): { out: RefTensor; weights: RefTensor } {
  const batchFirst = o.batchFirst ?? false, batched = query.shape.length === 3;
  const H = o.numHeads;
  const q = toSeqs(query, batchFirst), k = toSeqs(key, batchFirst), v = toSeqs(value, batchFirst);
  const N = q.length, L = q[0].length, S = k[0].length, E = q[0][0].length, Dh = E / H;
  const inW = sd[prefix + 'in_proj_weight'];
  const wq = inW ?? need(sd, prefix + 'q_proj_weight'), wk = inW ?? need(sd, prefix + 'k_proj_weight'), wv = inW ?? need(sd, prefix + 'v_proj_weight');
  const inB = sd[prefix + 'in_proj_bias'] ?? null;
  // the packed weight stacks the q, k, v rows; separate weights hold E rows each; the bias is packed
  const Q = q.map((s) => s.map((x) => affine(x, wq, 0, inB, 0, E)));
  const K = k.map((s) => s.map((x) => affine(x, wk, inW ? E : 0, inB, E, E)));
  const V = v.map((s) => s.map((x) => affine(x, wv, inW ? 2 * E : 0, inB, 2 * E, E)));
  const scale = 1 / Math.sqrt(Dh);
  const kpm = o.keyPaddingMask ?? null, am = o.attnMask ?? null;
  const weights = zeros([N, H, L, S]);
  const merged: Seqs = q.map(() => Array.from({ length: L }, () => new Float64Array(E)));
  for (let n = 0; n < N; n++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < L; i++) {
        const s = new Array<number>(S);
        for (let j = 0; j < S; j++) {
          let dot = 0;
          for (let d = 0; d < Dh; d++) dot += Q[n][i][h * Dh + d] * K[n][j][h * Dh + d];
          let blocked = o.isCausal === true && j > i, added = 0;
          if (kpm) {
            const m = kpm.data[n * S + j];
            if (o.keyPaddingMaskIsBool) blocked ||= m !== 0; else added += m;
          }
          if (am) {
            const m = am.shape.length === 2 ? am.data[i * S + j] : am.data[((n * H + h) * L + i) * S + j];
            if (o.attnMaskIsBool) blocked ||= m !== 0; else added += m;
          }
          s[j] = blocked ? -Infinity : dot * scale + added;
        }
        const max = Math.max(...s);
        if (max === -Infinity) continue;  // sees no key: weights and output stay 0
        const e = s.map((x) => Math.exp(x - max));
        const total = e.reduce((a, x) => a + x, 0);
        for (let j = 0; j < S; j++) {
          const p = e[j] / total;
          weights.data[((n * H + h) * L + i) * S + j] = p;
          for (let d = 0; d < Dh; d++) merged[n][i][h * Dh + d] += p * V[n][j][h * Dh + d];
        }
      }
  const ow = need(sd, prefix + 'out_proj.weight'), ob = sd[prefix + 'out_proj.bias'] ?? null;
  const out = fromSeqs(merged.map((s) => s.map((x) => affine(x, ow, 0, ob, 0, E))), batchFirst, batched);
  let w = weights;
  if (o.averageAttnWeights ?? true) {
    w = zeros([N, L, S]);
    for (let n = 0; n < N; n++)
      for (let h = 0; h < H; h++)
        for (let x = 0; x < L * S; x++) w.data[n * L * S + x] += weights.data[(n * H + h) * L * S + x] / H;
  }
  if (!batched) w = { shape: w.shape.slice(1), data: w.data };
  return { out, weights: w };
}

export interface RefEncoderLayerConfig {
  nhead: number;
  activation?: 'relu' | 'gelu';
  layerNormEps?: number;
  batchFirst?: boolean;
  normFirst?: boolean;
}

export interface RefEncoderMasks {
  srcMask?: RefTensor | null;
  srcMaskIsBool?: boolean;
  srcKeyPaddingMask?: RefTensor | null;
  srcKeyPaddingMaskIsBool?: boolean;
  isCausal?: boolean;
}

/** One TransformerEncoderLayer in eval mode (no dropout). */
export function encoderLayer(src: RefTensor, sd: RefStateDict, prefix: string, c: RefEncoderLayerConfig, m: RefEncoderMasks = {}): RefTensor {
  const batchFirst = c.batchFirst ?? false, batched = src.shape.length === 3, eps = c.layerNormEps ?? 1e-5;
  const p = (name: string) => need(sd, prefix + name);
  const norm = (x: Float64Array, which: 1 | 2) => layerNormVec(x, p(`norm${which}.weight`), p(`norm${which}.bias`), eps);
  const act = (v: number) => (c.activation === 'gelu' ? 0.5 * v * (1 + erf(v / Math.SQRT2)) : Math.max(v, 0));
  const feedForward = (x: Float64Array) => {
    const hidden = affine(x, p('linear1.weight'), 0, p('linear1.bias'), 0, p('linear1.weight').shape[0]).map(act);
    return affine(hidden, p('linear2.weight'), 0, p('linear2.bias'), 0, x.length);
  };
  const selfAttention = (seqs: Seqs): Seqs => {
    const x = fromSeqs(seqs, batchFirst, batched);
    const { out } = multiheadAttention(x, x, x, sd, prefix + 'self_attn.', {
      numHeads: c.nhead, batchFirst,
      attnMask: m.srcMask, attnMaskIsBool: m.srcMaskIsBool,
      keyPaddingMask: m.srcKeyPaddingMask, keyPaddingMaskIsBool: m.srcKeyPaddingMaskIsBool, isCausal: m.isCausal,
    });
    return toSeqs(out, batchFirst);
  };
  const add = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]);
  let x = toSeqs(src, batchFirst);
  if (c.normFirst) {
    const sa = selfAttention(x.map((s) => s.map((t) => norm(t, 1))));
    x = x.map((s, n) => s.map((t, i) => add(t, sa[n][i])));
    x = x.map((s) => s.map((t) => add(t, feedForward(norm(t, 2)))));
  } else {
    const sa = selfAttention(x);
    x = x.map((s, n) => s.map((t, i) => norm(add(t, sa[n][i]), 1)));
    x = x.map((s) => s.map((t) => norm(add(t, feedForward(t)), 2)));
  }
  return fromSeqs(x, batchFirst, batched);
}

/** TransformerEncoder: layers.0 ... layers.{numLayers-1}, then norm.weight/norm.bias if present. */
export function transformerEncoder(src: RefTensor, sd: RefStateDict, numLayers: number, c: RefEncoderLayerConfig,
  m: RefEncoderMasks = {}, finalNormEps = 1e-5): RefTensor {
  let x = src;
  for (let i = 0; i < numLayers; i++) x = encoderLayer(x, sd, `layers.${i}.`, c, m);
  if (!sd['norm.weight']) return x;
  const E = x.shape[x.shape.length - 1];
  const y = zeros(x.shape);
  for (let r = 0; r < x.data.length / E; r++)
    y.data.set(layerNormVec(x.data.subarray(r * E, (r + 1) * E), sd['norm.weight'], sd['norm.bias'], finalNormEps), r * E);
  return y;
}

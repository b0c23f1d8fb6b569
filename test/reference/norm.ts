// Normalisation, activation and embedding reference ops in float64, with their VJPs
// (normVjp.<op>(<the op's arguments>, g) → one gradient per differentiable tensor input).
// torch.nn.functional semantics: layer_norm, batch_norm (incl. the running-stat update), gelu
// (exact and tanh), silu, softplus, leaky_relu, elu, embedding (padding_idx gets no gradient).
import { RefTensor, make, numel, zeros } from './tensor';

// ---- scalar functions ------------------------------------------------------------------------

/** erf(v) to ~1e-15: its Taylor series for |v| < 3, erfc's continued fraction beyond. */
export function erf(v: number): number {
  if (Number.isNaN(v)) return NaN;
  if (v < 0) return -erf(-v);
  if (v >= 3) return 1 - erfc(v);
  // erf(v) = 2/√π Σ (−1)^n v^(2n+1) / (n! (2n+1))
  let term = v, sum = v;
  for (let n = 1; n < 200; n++) {
    term *= (-v * v) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** erfc(v) = 1 − erf(v), accurate in the upper tail (continued fraction for v >= 3). */
export function erfc(v: number): number {
  if (Number.isNaN(v)) return NaN;
  if (v < 3) return 1 - erf(v);
  if (v === Infinity) return 0;
  // erfc(v) = exp(−v²)/√π · 1/(v + (1/2)/(v + 1/(v + (3/2)/(v + 2/(v + …))))), evaluated bottom-up
  let f = v;
  for (let k = 120; k >= 1; k--) f = v + k / 2 / f;
  return Math.exp(-v * v) / Math.sqrt(Math.PI) / f;
}

/** Φ(v), the standard normal CDF, accurate in both tails. */
export const normalCdf = (v: number): number => 0.5 * erfc(-v / Math.SQRT2);

const sigmoid = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
const GELU_C = Math.sqrt(2 / Math.PI);

/** Scalar activations and their derivatives, torch's definitions. */
export const activationFns = {
  gelu: { f: (v: number) => v * normalCdf(v), df: (v: number) => normalCdf(v) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI) },
  // 0.5·x·(1 + tanh(u)), u = √(2/π)(x + 0.044715x³), written as x·sigmoid(2u): the same function,
  // without 1 + tanh(u) cancelling in the lower tail
  geluTanh: {
    f: (v: number) => v * sigmoid(2 * GELU_C * (v + 0.044715 * v ** 3)),
    df: (v: number) => {
      const s = sigmoid(2 * GELU_C * (v + 0.044715 * v ** 3));
      return s + v * 2 * s * (1 - s) * GELU_C * (1 + 3 * 0.044715 * v * v);
    },
  },
  silu: { f: (v: number) => v * sigmoid(v), df: (v: number) => sigmoid(v) * (1 + v * (1 - sigmoid(v))) },
};

// ---- activations -----------------------------------------------------------------------------
const map = (x: RefTensor, fn: (v: number) => number): RefTensor => ({ shape: [...x.shape], data: x.data.map(fn) });
const mapGrad = (x: RefTensor, g: RefTensor, df: (v: number) => number): RefTensor => ({
  shape: [...x.shape], data: x.data.map((v, i) => g.data[i] * df(v)),
});

export const gelu = (x: RefTensor, approximate: 'none' | 'tanh' = 'none') =>
  map(x, activationFns[approximate === 'tanh' ? 'geluTanh' : 'gelu'].f);
export const silu = (x: RefTensor) => map(x, activationFns.silu.f);
/** log(1 + e^(βx))/β, linear (x) once βx > threshold. */
export const softplus = (x: RefTensor, beta = 1, threshold = 20) =>
  map(x, (v) => (v * beta > threshold ? v : Math.log1p(Math.exp(v * beta)) / beta));
export const leakyRelu = (x: RefTensor, slope = 0.01) => map(x, (v) => (v > 0 ? v : v * slope));
export const elu = (x: RefTensor, alpha = 1) => map(x, (v) => (v > 0 ? v : alpha * Math.expm1(v)));

// ---- layerNorm -------------------------------------------------------------------------------
/** Rows = the leading dims, each normalised over the trailing normalizedShape dims (biased var). */
function rowsOf(x: RefTensor, k: number): { rows: number; n: number } {
  const n = numel(x.shape.slice(x.shape.length - k));
  return { rows: n === 0 ? 0 : x.data.length / n, n };
}

function rowStats(x: RefTensor, r: number, n: number, eps: number): { mean: number; rstd: number } {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x.data[r * n + i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x.data[r * n + i] - mean) ** 2;
  return { mean, rstd: 1 / Math.sqrt(v / n + eps) };
}

export function layerNorm(x: RefTensor, normalizedShape: number[], weight?: RefTensor | null, bias?: RefTensor | null, eps = 1e-5): RefTensor {
  const { rows, n } = rowsOf(x, normalizedShape.length);
  const y = zeros(x.shape);
  for (let r = 0; r < rows; r++) {
    const { mean, rstd } = rowStats(x, r, n, eps);
    for (let i = 0; i < n; i++) {
      const xhat = (x.data[r * n + i] - mean) * rstd;
      y.data[r * n + i] = xhat * (weight ? weight.data[i] : 1) + (bias ? bias.data[i] : 0);
    }
  }
  return y;
}

// ---- batchNorm -------------------------------------------------------------------------------
export interface BatchNormRefOptions { training?: boolean; momentum?: number; eps?: number }

/** Element indices of channel c in an [N, C, ...] tensor. */
function channelIndices(shape: number[], c: number): number[] {
  const [N, C] = shape;
  const L = numel(shape.slice(2));
  const out: number[] = [];
  for (let s = 0; s < N; s++) for (let i = 0; i < L; i++) out.push((s * C + c) * L + i);
  return out;
}

function channelStats(x: RefTensor, idx: number[]): { mean: number; biased: number } {
  const mean = idx.reduce((s, i) => s + x.data[i], 0) / idx.length;
  const biased = idx.reduce((s, i) => s + (x.data[i] - mean) ** 2, 0) / idx.length;
  return { mean, biased };
}

/** torch.nn.functional.batch_norm; returns the output and the running stats after the update
 *  (training: running = (1 − momentum)·running + momentum·batch, unbiased batch variance). */
export function batchNorm(
  x: RefTensor, runningMean: RefTensor | null, runningVar: RefTensor | null,
  weight?: RefTensor | null, bias?: RefTensor | null, opts: BatchNormRefOptions = {},
): { y: RefTensor; runningMean: RefTensor | null; runningVar: RefTensor | null } {
  const { training = false, momentum = 0.1, eps = 1e-5 } = opts;
  const C = x.shape[1];
  const y = zeros(x.shape);
  const rm = runningMean ? { shape: [C], data: Float64Array.from(runningMean.data) } : null;
  const rv = runningVar ? { shape: [C], data: Float64Array.from(runningVar.data) } : null;
  for (let c = 0; c < C; c++) {
    const idx = channelIndices(x.shape, c);
    let mean: number, variance: number;
    if (training) {
      if (idx.length <= 1) throw new Error('batchNorm: expected more than 1 value per channel when training');
      ({ mean, biased: variance } = channelStats(x, idx));
      if (rm && rv) {
        rm.data[c] = (1 - momentum) * rm.data[c] + momentum * mean;
        rv.data[c] = (1 - momentum) * rv.data[c] + momentum * variance * idx.length / (idx.length - 1);
      }
    } else {
      mean = runningMean!.data[c];
      variance = runningVar!.data[c];
    }
    const rstd = 1 / Math.sqrt(variance + eps);
    for (const i of idx) y.data[i] = (x.data[i] - mean) * rstd * (weight ? weight.data[c] : 1) + (bias ? bias.data[c] : 0);
  }
  return { y, runningMean: rm, runningVar: rv };
}

// ---- embedding -------------------------------------------------------------------------------
/** weight[indices] : [...indices.shape, D]. */
export function embedding(indices: RefTensor, weight: RefTensor): RefTensor {
  const D = weight.shape[1];
  return make([...indices.shape, D], (idx) => {
    const flat = idx.slice(0, -1).reduce((f, v, d) => f * indices.shape[d] + v, 0);
    return weight.data[indices.data[flat] * D + idx[idx.length - 1]];
  });
}

// ---- VJPs ------------------------------------------------------------------------------------
export const normVjp = {
  /** [gx, gWeight?, gBias?] (weight/bias gradients only for the ones given). */
  layerNorm(x: RefTensor, normalizedShape: number[], weight: RefTensor | null | undefined, bias: RefTensor | null | undefined,
    eps: number, g: RefTensor): RefTensor[] {
    const { rows, n } = rowsOf(x, normalizedShape.length);
    const gx = zeros(x.shape), gw = zeros(normalizedShape), gb = zeros(normalizedShape);
    for (let r = 0; r < rows; r++) {
      const { mean, rstd } = rowStats(x, r, n, eps);
      const xhat = Array.from({ length: n }, (_, i) => (x.data[r * n + i] - mean) * rstd);
      const gxhat = Array.from({ length: n }, (_, i) => g.data[r * n + i] * (weight ? weight.data[i] : 1));
      const meanG = gxhat.reduce((s, v) => s + v, 0) / n;
      const meanGX = gxhat.reduce((s, v, i) => s + v * xhat[i], 0) / n;
      for (let i = 0; i < n; i++) {
        gx.data[r * n + i] = rstd * (gxhat[i] - meanG - xhat[i] * meanGX);
        gw.data[i] += g.data[r * n + i] * xhat[i];
        gb.data[i] += g.data[r * n + i];
      }
    }
    return [gx, ...(weight ? [gw] : []), ...(bias ? [gb] : [])];
  },

  /** [gx, gWeight?, gBias?]. Training differentiates through the batch statistics; eval treats
   *  the running statistics as constants. */
  batchNorm(x: RefTensor, runningMean: RefTensor | null, runningVar: RefTensor | null,
    weight: RefTensor | null | undefined, bias: RefTensor | null | undefined, opts: BatchNormRefOptions, g: RefTensor): RefTensor[] {
    const { training = false, eps = 1e-5 } = opts;
    const C = x.shape[1];
    const gx = zeros(x.shape), gw = zeros([C]), gb = zeros([C]);
    for (let c = 0; c < C; c++) {
      const idx = channelIndices(x.shape, c);
      const M = idx.length;
      const { mean, biased } = training ? channelStats(x, idx) : { mean: runningMean!.data[c], biased: runningVar!.data[c] };
      const rstd = 1 / Math.sqrt(biased + eps);
      const w = weight ? weight.data[c] : 1;
      let sumG = 0, sumGX = 0;
      for (const i of idx) {
        sumG += g.data[i];
        sumGX += g.data[i] * (x.data[i] - mean) * rstd;
      }
      for (const i of idx) {
        const xhat = (x.data[i] - mean) * rstd;
        gx.data[i] = training ? w * rstd * (g.data[i] - sumG / M - xhat * sumGX / M) : g.data[i] * w * rstd;
      }
      gw.data[c] = sumGX;
      gb.data[c] = sumG;
    }
    return [gx, ...(weight ? [gw] : []), ...(bias ? [gb] : [])];
  },

  gelu: (x: RefTensor, approximate: 'none' | 'tanh', g: RefTensor) =>
    [mapGrad(x, g, activationFns[approximate === 'tanh' ? 'geluTanh' : 'gelu'].df)],
  silu: (x: RefTensor, g: RefTensor) => [mapGrad(x, g, activationFns.silu.df)],
  softplus: (x: RefTensor, beta: number, threshold: number, g: RefTensor) =>
    [mapGrad(x, g, (v) => (v * beta > threshold ? 1 : sigmoid(v * beta)))],
  leakyRelu: (x: RefTensor, slope: number, g: RefTensor) => [mapGrad(x, g, (v) => (v > 0 ? 1 : slope))],
  elu: (x: RefTensor, alpha: number, g: RefTensor) => [mapGrad(x, g, (v) => (v > 0 ? 1 : alpha * Math.exp(v)))],

  /** [gWeight]: each output row's gradient added to the row it was read from, except paddingIdx's. */
  embedding(indices: RefTensor, weight: RefTensor, paddingIdx: number | null, g: RefTensor): RefTensor[] {
    const D = weight.shape[1];
    const gw = zeros(weight.shape);
    indices.data.forEach((row, j) => {
      if (row === paddingIdx) return;
      for (let d = 0; d < D; d++) gw.data[row * D + d] += g.data[j * D + d];
    });
    return [gw];
  },
};

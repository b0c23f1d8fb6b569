// Losses and their VJPs, in float64, written as plain loops over samples and classes.
// Class losses take input [C] (with a 0-d target), [N, C] or [N, C, d1, ...] (target [N, d1, ...]);
// class-index targets are stored as numbers. torch 1.13 semantics, as documented in
// native/cpu/loss.cpp: per-sample l = (1−ε)·w[t]·(−logp[t]) + (ε/C)·Σ_c w[c]·(−logp[c]), 0 when
// ignored; 'mean' divides by Σ w[t] over non-ignored samples.
import { RefTensor, broadcastShapes, broadcastTo, numel, sameShape, sumToShape, zeros } from './tensor';

export type RefReduction = 'none' | 'sum' | 'mean';

export interface RefClassOptions {
  weight?: RefTensor | null;
  ignoreIndex?: number;
  reduction?: RefReduction;
  labelSmoothing?: number;
}

/** The sample/class layout of a class loss: element (n, c, s) of x at flat (n*C + c)*S + s. */
interface Layout { N: number; C: number; S: number; outShape: number[] }
function layoutOf(x: RefTensor): Layout {
  if (x.shape.length === 1) return { N: 1, C: x.shape[0], S: 1, outShape: [] };
  const [N, C] = x.shape;
  const rest = x.shape.slice(2);
  return { N, C, S: numel(rest), outShape: [N, ...rest] };
}

/** log_softmax of one lane of class values: (x − max) − log Σ exp(x − max). */
function logSoftmaxLane(v: number[]): number[] {
  const m = v.reduce((a, b) => Math.max(a, b), -Infinity);
  const lse = Math.log(v.reduce((a, b) => a + Math.exp(b - m), 0));
  return v.map((b) => b - m - lse);
}
const softmaxLane = (v: number[]) => logSoftmaxLane(v).map(Math.exp);

function classWeights(C: number, weight?: RefTensor | null): number[] {
  return Array.from({ length: C }, (_, c) => (weight ? weight.data[c] : 1));
}

/** The row of class values for sample (n, s). */
function row(x: RefTensor, L: Layout, n: number, s: number): number[] {
  return Array.from({ length: L.C }, (_, c) => x.data[(n * L.C + c) * L.S + s]);
}

function reduceLosses(per: number[], outShape: number[], reduction: RefReduction, denominator: number): RefTensor {
  if (reduction === 'none') return { shape: [...outShape], data: Float64Array.from(per) };
  const total = per.reduce((a, b) => a + b, 0);
  return { shape: [], data: Float64Array.of(reduction === 'sum' ? total : total / denominator) };
}

function checkTarget(t: number, C: number, ignoreIndex: number): void {
  if (t !== ignoreIndex && !(Number.isInteger(t) && t >= 0 && t < C)) throw new Error(`target ${t} is out of bounds`);
}

/** torch.nn.functional.cross_entropy with class-index targets. */
export function crossEntropy(x: RefTensor, target: RefTensor, opts: RefClassOptions = {}): RefTensor {
  const L = layoutOf(x);
  const ignore = opts.ignoreIndex ?? -100, eps = opts.labelSmoothing ?? 0;
  const w = classWeights(L.C, opts.weight);
  const per: number[] = [];
  let denominator = 0;
  for (let n = 0; n < L.N; n++)
    for (let s = 0; s < L.S; s++) {
      const t = target.data[n * L.S + s];
      checkTarget(t, L.C, ignore);
      if (t === ignore) {
        per.push(0);
        continue;
      }
      const logp = logSoftmaxLane(row(x, L, n, s));
      let smooth = 0;
      for (let c = 0; c < L.C; c++) smooth += w[c] * -logp[c];
      per.push((1 - eps) * w[t] * -logp[t] + (eps / L.C) * smooth);
      denominator += w[t];
    }
  return reduceLosses(per, L.outShape, opts.reduction ?? 'mean', denominator);
}

/** cross_entropy with probability targets of the input's shape: −Σ_c w[c]·q[c]·logp[c],
 *  q = (1 − ε)·p + ε/C; 'mean' divides by the number of samples N·S. */
export function crossEntropySoft(x: RefTensor, p: RefTensor, opts: RefClassOptions = {}): RefTensor {
  const L = layoutOf(x);
  const eps = opts.labelSmoothing ?? 0;
  const w = classWeights(L.C, opts.weight);
  const per: number[] = [];
  for (let n = 0; n < L.N; n++)
    for (let s = 0; s < L.S; s++) {
      const logp = logSoftmaxLane(row(x, L, n, s)), q = row(p, L, n, s);
      let l = 0;
      for (let c = 0; c < L.C; c++) l -= w[c] * ((1 - eps) * q[c] + eps / L.C) * logp[c];
      per.push(l);
    }
  return reduceLosses(per, L.outShape, opts.reduction ?? 'mean', L.N * L.S);
}

/** torch.nn.functional.nll_loss on log-probabilities: l = −w[t]·x[t]. */
export function nllLoss(x: RefTensor, target: RefTensor, opts: RefClassOptions = {}): RefTensor {
  const L = layoutOf(x);
  const ignore = opts.ignoreIndex ?? -100;
  const w = classWeights(L.C, opts.weight);
  const per: number[] = [];
  let denominator = 0;
  for (let n = 0; n < L.N; n++)
    for (let s = 0; s < L.S; s++) {
      const t = target.data[n * L.S + s];
      checkTarget(t, L.C, ignore);
      if (t === ignore) {
        per.push(0);
        continue;
      }
      per.push(-w[t] * x.data[(n * L.C + t) * L.S + s]);
      denominator += w[t];
    }
  return reduceLosses(per, L.outShape, opts.reduction ?? 'mean', denominator);
}

function reduceElementwise(l: RefTensor, reduction: RefReduction): RefTensor {
  if (reduction === 'none') return l;
  const total = l.data.reduce((a, b) => a + b, 0);
  return { shape: [], data: Float64Array.of(reduction === 'sum' ? total : total / l.data.length) };
}

/** The gradient of each element of an elementwise loss, from the output gradient g. */
function elementGrad(g: RefTensor, shape: number[], reduction: RefReduction): (i: number) => number {
  const count = numel(shape);
  return (i) => (reduction === 'none' ? g.data[i] : reduction === 'sum' ? g.data[0] : g.data[0] / count);
}

/** torch.nn.functional.mse_loss: (a − b)² broadcast, then reduced. */
export function mseLoss(a: RefTensor, b: RefTensor, reduction: RefReduction = 'mean'): RefTensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const A = broadcastTo(a, shape), B = broadcastTo(b, shape);
  return reduceElementwise({ shape, data: A.data.map((v, i) => (v - B.data[i]) ** 2) }, reduction);
}

export interface RefBceOptions { weight?: RefTensor | null; posWeight?: RefTensor | null; reduction?: RefReduction }

const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

/** torch.nn.functional.binary_cross_entropy_with_logits: w·[(1 − y)·x + (1 + (pw − 1)·y)·softplus(−x)]. */
export function bceWithLogits(x: RefTensor, y: RefTensor, opts: RefBceOptions = {}): RefTensor {
  if (!sameShape(x.shape, y.shape)) throw new Error('bceWithLogits: target size must equal input size');
  const pw = opts.posWeight ? broadcastTo(opts.posWeight, x.shape) : null;
  const w = opts.weight ? broadcastTo(opts.weight, x.shape) : null;
  const data = x.data.map((xi, i) => {
    const yi = y.data[i], lw = 1 + ((pw ? pw.data[i] : 1) - 1) * yi;
    return (w ? w.data[i] : 1) * ((1 - yi) * xi + lw * softplus(-xi));
  });
  return reduceElementwise({ shape: [...x.shape], data }, opts.reduction ?? 'mean');
}

/** torch.nn.functional.binary_cross_entropy: −w·(y·max(log p, −100) + (1 − y)·max(log(1 − p), −100)). */
export function bce(p: RefTensor, y: RefTensor, opts: { weight?: RefTensor | null; reduction?: RefReduction } = {}): RefTensor {
  const w = opts.weight ? broadcastTo(opts.weight, p.shape) : null;
  const data = p.data.map((pi, i) => {
    const yi = y.data[i];
    return -(w ? w.data[i] : 1) * (yi * Math.max(Math.log(pi), -100) + (1 - yi) * Math.max(Math.log(1 - pi), -100));
  });
  return reduceElementwise({ shape: [...p.shape], data }, opts.reduction ?? 'mean');
}

// ---- VJPs ----

/** Sample (n, s)'s gradient scale: g[n, s] ('none'), g ('sum'), g / Σ w[t] ('mean'). */
function sampleScale(g: RefTensor, L: Layout, reduction: RefReduction, denominator: number) {
  return (n: number, s: number) => (reduction === 'none' ? g.data[n * L.S + s] : reduction === 'sum' ? g.data[0] : g.data[0] / denominator);
}

function targetWeightSum(target: RefTensor, w: number[], ignore: number): number {
  let d = 0;
  for (const t of target.data) if (t !== ignore) d += w[t];
  return d;
}

export const lossVjp = {
  /** ∂/∂x: (1−ε)·w[t]·(softmax − onehot(t)) + (ε/C)·(Σw·softmax − w), times the sample's scale. */
  crossEntropy(x: RefTensor, target: RefTensor, opts: RefClassOptions, g: RefTensor): RefTensor[] {
    const L = layoutOf(x);
    const ignore = opts.ignoreIndex ?? -100, eps = opts.labelSmoothing ?? 0, reduction = opts.reduction ?? 'mean';
    const w = classWeights(L.C, opts.weight);
    const W = w.reduce((a, b) => a + b, 0);
    const scale = sampleScale(g, L, reduction, targetWeightSum(target, w, ignore));
    const gx = zeros(x.shape);
    for (let n = 0; n < L.N; n++)
      for (let s = 0; s < L.S; s++) {
        const t = target.data[n * L.S + s];
        if (t === ignore) continue;
        const p = softmaxLane(row(x, L, n, s));
        for (let c = 0; c < L.C; c++) {
          const d = (1 - eps) * w[t] * (p[c] - (c === t ? 1 : 0)) + (eps / L.C) * (W * p[c] - w[c]);
          gx.data[(n * L.C + c) * L.S + s] = scale(n, s) * d;
        }
      }
    return [gx];
  },

  /** ∂/∂x = Σ_c w[c]·q[c] · softmax − w·q; ∂/∂p = −(1 − ε)·w·logp; times the sample's scale. */
  crossEntropySoft(x: RefTensor, p: RefTensor, opts: RefClassOptions, g: RefTensor): RefTensor[] {
    const L = layoutOf(x);
    const eps = opts.labelSmoothing ?? 0, reduction = opts.reduction ?? 'mean';
    const w = classWeights(L.C, opts.weight);
    const scale = sampleScale(g, L, reduction, L.N * L.S);
    const gx = zeros(x.shape), gp = zeros(p.shape);
    for (let n = 0; n < L.N; n++)
      for (let s = 0; s < L.S; s++) {
        const sm = softmaxLane(row(x, L, n, s)), logp = logSoftmaxLane(row(x, L, n, s));
        const q = row(p, L, n, s).map((v) => (1 - eps) * v + eps / L.C);
        const wq = q.reduce((a, v, c) => a + w[c] * v, 0);
        for (let c = 0; c < L.C; c++) {
          const at = (n * L.C + c) * L.S + s;
          gx.data[at] = scale(n, s) * (wq * sm[c] - w[c] * q[c]);
          gp.data[at] = -scale(n, s) * (1 - eps) * w[c] * logp[c];
        }
      }
    return [gx, gp];
  },

  nllLoss(x: RefTensor, target: RefTensor, opts: RefClassOptions, g: RefTensor): RefTensor[] {
    const L = layoutOf(x);
    const ignore = opts.ignoreIndex ?? -100;
    const w = classWeights(L.C, opts.weight);
    const scale = sampleScale(g, L, opts.reduction ?? 'mean', targetWeightSum(target, w, ignore));
    const gx = zeros(x.shape);
    for (let n = 0; n < L.N; n++)
      for (let s = 0; s < L.S; s++) {
        const t = target.data[n * L.S + s];
        if (t !== ignore) gx.data[(n * L.C + t) * L.S + s] = -w[t] * scale(n, s);
      }
    return [gx];
  },

  /** ∂/∂a = 2(a − b)·g, ∂/∂b = −2(a − b)·g, summed back over broadcast dims. */
  mseLoss(a: RefTensor, b: RefTensor, reduction: RefReduction, g: RefTensor): RefTensor[] {
    const shape = broadcastShapes(a.shape, b.shape);
    const A = broadcastTo(a, shape), B = broadcastTo(b, shape);
    const ge = elementGrad(g, shape, reduction);
    const ga = { shape, data: A.data.map((v, i) => 2 * (v - B.data[i]) * ge(i)) };
    const gb = { shape, data: ga.data.map((v) => -v) };
    return [sumToShape(ga, a.shape), sumToShape(gb, b.shape)];
  },

  /** Gradients for x, y, weight, posWeight (the last two null when absent):
   *  ∂/∂x = w·(lw·σ(x) − pw·y), ∂/∂y = w·(−x + (pw − 1)·softplus(−x)),
   *  ∂/∂w = the unweighted loss, ∂/∂pw = w·y·softplus(−x). */
  bceWithLogits(x: RefTensor, y: RefTensor, opts: RefBceOptions, g: RefTensor): (RefTensor | null)[] {
    const shape = [...x.shape];
    const pw = opts.posWeight ? broadcastTo(opts.posWeight, shape) : null;
    const w = opts.weight ? broadcastTo(opts.weight, shape) : null;
    const ge = elementGrad(g, shape, opts.reduction ?? 'mean');
    const gx = zeros(shape), gy = zeros(shape), gw = zeros(shape), gpw = zeros(shape);
    for (let i = 0; i < x.data.length; i++) {
      const xi = x.data[i], yi = y.data[i], pwi = pw ? pw.data[i] : 1, wi = w ? w.data[i] : 1;
      const lw = 1 + (pwi - 1) * yi, sp = softplus(-xi), sig = 1 / (1 + Math.exp(-xi));
      gx.data[i] = ge(i) * wi * (lw * sig - pwi * yi);
      gy.data[i] = ge(i) * wi * (-xi + (pwi - 1) * sp);
      gw.data[i] = ge(i) * ((1 - yi) * xi + lw * sp);
      gpw.data[i] = ge(i) * wi * yi * sp;
    }
    return [gx, gy, opts.weight ? sumToShape(gw, opts.weight.shape) : null, opts.posWeight ? sumToShape(gpw, opts.posWeight.shape) : null];
  },
};

// Normalisation, dropout and embedding (torch.nn.functional semantics and defaults).
// layerNorm and batchNorm are fused native primitives (native/cpu/norm.cpp) with fused backward
// kernels: the forward saves per-row / per-channel mean and 1/std for the backward. Optional
// weight and bias travel to the kernel as empty views with a flag, so one kernel serves all
// combinations. Dropout is composed (rand, ge, where, mul); embedding uses the indexSelect and
// indexAdd kernels.
import { Tensor } from '../tensor';
import type { Device } from '../backend';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { ArgumentError, DTypeError, IndexError, ShapeError, ValueError } from '../errors';
import { fmt, numel } from '../shape';
import { runKernel } from './kernel';
import { rand, zeros } from './creation';
import { where } from './elementwise';
import { reshape } from './movement';

const absent = (device: Device) => Tensor.empty([0], 'float32', device);
const flag = (b: boolean) => (b ? 1 : 0);

function checkTensor(op: string, what: string, t: unknown, dtype = 'float32'): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(`${op}: ${what} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  if (t.dtype !== dtype) throw new DTypeError(`${op}: ${what} must be ${dtype}, got ${t.dtype}`);
}

function checkEps(op: string, eps: unknown): number {
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) throw new ValueError(`${op}: eps must be a finite number >= 0, got ${String(eps)}`);
  return eps;
}

/** Splits apply()'s input list back into x, weight and bias (the latter two only when given). */
function affineInputs(inputs: Tensor[], hasWeight: boolean, hasBias: boolean): [Tensor, Tensor | null, Tensor | null] {
  return [inputs[0], hasWeight ? inputs[1] : null, hasBias ? inputs[hasWeight ? 2 : 1] : null];
}

/** Gradients in apply()'s input order: x, then weight and bias where they were given. */
const affineGrads = (gx: Tensor, gw: Tensor | null, gb: Tensor | null) => [gx, ...(gw ? [gw] : []), ...(gb ? [gb] : [])];

// ---- layerNorm --------------------------------------------------------------------------------
interface LayerNormAttrs { k: number; eps: number; hasWeight: boolean; hasBias: boolean; saved?: [Tensor, Tensor] }

const layerNormDef: OpDef<LayerNormAttrs> = {
  name: 'layerNorm',
  forward: (inputs, attrs) => {
    const [x, w, b] = affineInputs(inputs, attrs.hasWeight, attrs.hasBias);
    const lead = x.shape.slice(0, x.ndim - attrs.k);
    const y = Tensor.empty(x.shape, 'float32', x.device);
    const mean = Tensor.empty(lead, 'float32', x.device), rstd = Tensor.empty(lead, 'float32', x.device);
    const none = absent(x.device);
    try {
      runKernel('layerNorm', [x, w ?? none, b ?? none], [y, mean, rstd],
        { normDims: attrs.k, eps: attrs.eps, hasWeight: flag(attrs.hasWeight), hasBias: flag(attrs.hasBias) });
    } catch (e) {
      [y, mean, rstd].forEach((t) => t.dispose());
      throw e;
    } finally {
      none.dispose();
    }
    attrs.saved = [mean, rstd];
    return y;
  },
  backward: ({ inputs, attrs }, g) => {
    const [x, w] = affineInputs(inputs, attrs.hasWeight, attrs.hasBias);
    const [mean, rstd] = attrs.saved!;
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    const normShape = x.shape.slice(x.ndim - attrs.k);
    const gw = attrs.hasWeight ? Tensor.empty(normShape, 'float32', x.device) : null;
    const gb = attrs.hasBias ? Tensor.empty(normShape, 'float32', x.device) : null;
    const none = absent(x.device);  // freed by the backward pass's scope
    runKernel('layerNormBackward', [x, w ?? none, mean, rstd, g], [gx, gw ?? none, gb ?? absent(x.device)],
      { normDims: attrs.k, hasWeight: flag(attrs.hasWeight), hasBias: flag(attrs.hasBias) });
    return affineGrads(gx, gw, gb);
  },
};

/** Normalises over the trailing dims given by normalizedShape (torch.nn.functional.layer_norm). */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  checkTensor('layerNorm', 'input', x);
  const shape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((s) => Number.isSafeInteger(s) && s >= 0))
    throw new ArgumentError(`layerNorm: normalizedShape must be a non-empty array of sizes, got ${JSON.stringify(normalizedShape)}`);
  const k = shape.length;
  if (k > x.ndim || !shape.every((s, i) => x.shape[x.ndim - k + i] === s))
    throw new ShapeError(`layerNorm: expected input with shape [*, ${shape.join(', ')}], got ${fmt(x.shape)}`);
  for (const [what, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t === undefined || t === null) continue;
    checkTensor('layerNorm', what, t);
    if (t.ndim !== k || !t.shape.every((s, i) => s === shape[i]))
      throw new ShapeError(`layerNorm: ${what} must have shape ${fmt(shape)} (normalizedShape), got ${fmt(t.shape)}`);
  }
  const attrs: LayerNormAttrs = { k, eps: checkEps('layerNorm', eps), hasWeight: !!weight, hasBias: !!bias };
  const y = apply(layerNormDef, [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])], attrs);
  releaseTemporaries(y, attrs.saved!);
  return y;
}

// ---- batchNorm --------------------------------------------------------------------------------
interface BatchNormAttrs {
  training: boolean; momentum: number; eps: number; hasWeight: boolean; hasBias: boolean;
  running: [Tensor, Tensor] | null; saved?: [Tensor, Tensor];
}

const batchNormDef: OpDef<BatchNormAttrs> = {
  name: 'batchNorm',
  forward: (inputs, attrs) => {
    const [x, w, b] = affineInputs(inputs, attrs.hasWeight, attrs.hasBias);
    const C = x.shape[1];
    const y = Tensor.empty(x.shape, 'float32', x.device);
    const mean = Tensor.empty([C], 'float32', x.device), rstd = Tensor.empty([C], 'float32', x.device);
    const none = [absent(x.device), absent(x.device), absent(x.device), absent(x.device)];
    try {
      runKernel('batchNorm', [x, w ?? none[0], b ?? none[1]], [y, mean, rstd, attrs.running?.[0] ?? none[2], attrs.running?.[1] ?? none[3]], {
        training: flag(attrs.training), momentum: attrs.momentum, eps: attrs.eps,
        hasWeight: flag(attrs.hasWeight), hasBias: flag(attrs.hasBias), hasRunning: flag(attrs.running !== null),
      });
    } catch (e) {
      [y, mean, rstd].forEach((t) => t.dispose());
      throw e;
    } finally {
      none.forEach((t) => t.dispose());
    }
    attrs.saved = [mean, rstd];
    return y;
  },
  backward: ({ inputs, attrs }, g) => {
    const [x, w] = affineInputs(inputs, attrs.hasWeight, attrs.hasBias);
    const [mean, rstd] = attrs.saved!;
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    const gw = attrs.hasWeight ? Tensor.empty([x.shape[1]], 'float32', x.device) : null;
    const gb = attrs.hasBias ? Tensor.empty([x.shape[1]], 'float32', x.device) : null;
    runKernel('batchNormBackward', [x, w ?? absent(x.device), mean, rstd, g], [gx, gw ?? absent(x.device), gb ?? absent(x.device)],
      { training: flag(attrs.training), hasWeight: flag(attrs.hasWeight), hasBias: flag(attrs.hasBias) });
    return affineGrads(gx, gw, gb);
  },
};

export interface BatchNormOptions { training?: boolean; momentum?: number; eps?: number }

/**
 * torch.nn.functional.batch_norm for [N, C], [N, C, L] and [N, C, H, W] (any [N, C, ...]).
 * training: normalise with the batch statistics (biased variance) and, when running stats are
 * given, update them in place: running = (1 − momentum)·running + momentum·batch (unbiased
 * variance). Eval (the default, as in torch): normalise with the running statistics.
 * The running stats are plain tensors outside autograd.
 */
export function batchNorm(
  x: Tensor, runningMean: Tensor | null | undefined, runningVar: Tensor | null | undefined,
  weight?: Tensor | null, bias?: Tensor | null, opts: BatchNormOptions = {},
): Tensor {
  checkTensor('batchNorm', 'input', x);
  if (x.ndim < 2) throw new ShapeError(`batchNorm: expected input of shape [N, C, ...] (2 or more dims), got ${fmt(x.shape)}`);
  const C = x.shape[1];
  const training = opts.training ?? false;
  if (typeof training !== 'boolean') throw new ArgumentError(`batchNorm: training must be a boolean, got ${typeof training}`);
  const momentum = opts.momentum ?? 0.1;
  if (typeof momentum !== 'number' || !Number.isFinite(momentum)) throw new ArgumentError(`batchNorm: momentum must be a finite number, got ${String(momentum)}`);
  const eps = checkEps('batchNorm', opts.eps ?? 1e-5);
  const hasRunning = runningMean != null || runningVar != null;
  if (hasRunning && (runningMean == null || runningVar == null))
    throw new ArgumentError('batchNorm: give both runningMean and runningVar, or neither');
  if (!training && !hasRunning) throw new ArgumentError('batchNorm: running_mean and running_var must be given in eval mode (training: false)');
  const vectors: [string, Tensor | null | undefined][] = [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]];
  for (const [what, t] of vectors) {
    if (t == null) continue;
    checkTensor('batchNorm', what, t);
    if (t.ndim !== 1 || t.shape[0] !== C) throw new ShapeError(`batchNorm: ${what} must have shape [${C}] (the input's channels), got ${fmt(t.shape)}`);
  }
  if (training && hasRunning && (runningMean!.requiresGrad || runningVar!.requiresGrad))
    throw new ArgumentError('batchNorm: running statistics are updated in place and must not require grad');
  if (training && x.size / Math.max(C, 1) <= 1)
    throw new ValueError(`batchNorm: expected more than 1 value per channel when training, got input of shape ${fmt(x.shape)}`);
  const attrs: BatchNormAttrs = {
    training, momentum, eps, hasWeight: !!weight, hasBias: !!bias, running: hasRunning ? [runningMean!, runningVar!] : null,
  };
  const y = apply(batchNormDef, [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])], attrs);
  releaseTemporaries(y, attrs.saved!);
  return y;
}

/** batchNorm for [N, C, H, W] input only (what nn.BatchNorm2d accepts). */
export function batchNorm2d(
  x: Tensor, runningMean: Tensor | null | undefined, runningVar: Tensor | null | undefined,
  weight?: Tensor | null, bias?: Tensor | null, opts: BatchNormOptions = {},
): Tensor {
  if (x instanceof Tensor && x.ndim !== 4) throw new ShapeError(`batchNorm2d: expected 4-D input [N, C, H, W], got ${fmt(x.shape)}`);
  return batchNorm(x, runningMean, runningVar, weight, bias, opts);
}

// ---- dropout ----------------------------------------------------------------------------------
const identityDef: OpDef<void> = {
  name: 'identity',
  forward: ([x]) => x.view_(x.shape, x.strides, x.offset),
  backward: (_ctx, g) => [g],
};

/**
 * Zeroes each element with probability p and scales the survivors by 1/(1 − p), drawing from the
 * global generator (tf.manualSeed makes masks repeatable). The gradient uses the same mask.
 * training: false or p = 0 return x unchanged (a new handle); p = 1 gives zeros.
 */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  checkTensor('dropout', 'input', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError(`dropout probability has to be between 0 and 1, but got ${String(p)}`);
  if (!training || p === 0) return apply(identityDef, [x], undefined);
  if (p === 1) return x.mul(0);
  const u = rand([...x.shape], { device: x.device });
  const keep = u.ge(p);  // P(u >= p) = 1 - p
  const scale = where(keep, 1 / (1 - p), 0);
  u.dispose();
  keep.dispose();
  const y = x.mul(scale);
  releaseTemporaries(y, [scale]);
  return y;
}

// ---- embedding --------------------------------------------------------------------------------
interface EmbeddingAttrs { paddingIdx: number | null; outShape: number[] }

const embeddingDef: OpDef<EmbeddingAttrs> = {
  name: 'embedding',
  forward: ([weight, index], { outShape }) => {
    const rows = Tensor.empty([index.size, weight.shape[1]], 'float32', weight.device);
    try {
      runKernel('indexSelect', [weight, index], [rows], { dim: 0 });
    } catch (e) {
      rows.dispose();
      if (e instanceof IndexError) throw new IndexError(`embedding: ${e.message}`);
      throw e;
    }
    const out = rows.view_(outShape, outShape.map((_, i) => numel(outShape.slice(i + 1))), 0);
    rows.dispose();
    return out;
  },
  backward: ({ inputs: [weight, index], attrs }, g) => {
    const D = weight.shape[1];
    const g2 = reshape(g, [index.size, D]);
    const gw = zeros([...weight.shape], { device: weight.device });
    runKernel('indexAdd', [index, g2], [gw], { dim: 0 });
    if (attrs.paddingIdx !== null) {  // torch: the padding row never receives gradient
      const row = gw.view_([D], [1], attrs.paddingIdx * D);
      runKernel('fill', [], [row], { value: 0 });
      row.dispose();
    }
    return [gw, null];
  },
};

/** Rows of weight [numEmbeddings, D] picked by int32 indices of any shape: [...indices, D]. */
export function embedding(indices: Tensor, weight: Tensor, opts: { paddingIdx?: number | null } = {}): Tensor {
  checkTensor('embedding', 'indices', indices, 'int32');
  checkTensor('embedding', 'weight', weight);
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be 2-D [numEmbeddings, embeddingDim], got ${fmt(weight.shape)}`);
  const V = weight.shape[0];
  let paddingIdx = opts.paddingIdx ?? null;
  if (paddingIdx !== null) {
    if (!Number.isSafeInteger(paddingIdx) || paddingIdx < -V || paddingIdx >= V)
      throw new ValueError(`embedding: paddingIdx must be an integer in [${-V}, ${V}) (numEmbeddings ${V}), got ${paddingIdx}`);
    if (paddingIdx < 0) paddingIdx += V;
  }
  const flat = reshape(indices, [indices.size]);
  let out: Tensor;
  try {
    out = apply(embeddingDef, [weight, flat], { paddingIdx, outShape: [...indices.shape, weight.shape[1]] });
  } catch (e) {
    flat.dispose();
    throw e;
  }
  releaseTemporaries(out, [flat]);
  return out;
}

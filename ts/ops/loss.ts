// Losses with torch.nn.functional's semantics and option names (camelCase):
//  - crossEntropy with class-index targets: one fused native kernel (log_softmax + nll + label
//    smoothing + weights + ignoreIndex) and a native backward, (softmax − smoothed one-hot)·w·g;
//    with probability targets: composed from logSoftmax and elementwise ops;
//  - nllLoss: native forward and backward;
//  - binaryCrossEntropyWithLogits: a native elementwise kernel (stable at any |x|, exact gradient
//    at x = 0), weight and the reduction composed;
//  - mseLoss, binaryCrossEntropy: composed from elementwise ops and reductions.
// The exact torch 1.13 rules (how 'mean' normalises with weights, how smoothing meets weight and
// ignoreIndex) are written down in native/cpu/loss.cpp.
import { Tensor } from '../tensor';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { fmt, numel, sameShape, broadcastShapes } from '../shape';
import { ArgumentError, DTypeError, ShapeError, ValueError } from '../errors';
import { runKernel } from './kernel';
import { expand } from './movement';
import { logSoftmax } from './softmax';

export type Reduction = 'none' | 'sum' | 'mean';

export interface CrossEntropyOptions {
  /** a manual rescaling weight per class, [C] */
  weight?: Tensor | null;
  /** targets equal to this are ignored (class-index targets only); default -100 */
  ignoreIndex?: number;
  reduction?: Reduction;
  /** in [0, 1]: the target becomes (1 − ε)·onehot + ε/C; default 0 */
  labelSmoothing?: number;
}
export interface NllLossOptions { weight?: Tensor | null; ignoreIndex?: number; reduction?: Reduction }
export interface BceWithLogitsOptions {
  /** rescaling weight, broadcast to the loss's shape */
  weight?: Tensor | null;
  /** weight of positive examples, broadcast to the target's shape (usually [C]) */
  posWeight?: Tensor | null;
  reduction?: Reduction;
}

/** Hands temporaries to `out`'s graph node (the op that consumes them), or frees them now. */
function owning(out: Tensor, ...temps: (Tensor | null | undefined)[]): Tensor {
  releaseTemporaries(out, temps.filter((t): t is Tensor => !!t && t !== out));
  return out;
}

function checkTensor(x: unknown, op: string, what: string): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(`${op}: ${what} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
}

function checkReduction(r: unknown, op: string): Reduction {
  if (r !== 'none' && r !== 'sum' && r !== 'mean')
    throw new ArgumentError(`${op}: reduction must be 'none', 'sum' or 'mean', got ${JSON.stringify(r)}`);
  return r;
}

function checkOptions(opts: unknown, op: string, allowed: string[]): void {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError(`${op}: options must be an object`);
  for (const k of Object.keys(opts))
    if (!allowed.includes(k)) throw new ArgumentError(`${op}: unknown option '${k}' (expected ${allowed.join(', ')})`);
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  return owning(reduction === 'sum' ? loss.sum() : loss.mean(), loss);
}

// ---- class-index losses: the native kernels see x [N, C, S], target [N, S], weight [C] | [0] ----

interface ClassAttrs {
  kernel: { ignoreIndex: number; labelSmoothing: number; reduction: Reduction };
  /** crossEntropy's saved row statistics [N, S, 2] (max, log Σ exp(x − max)) */
  stats: Tensor | null;
}

const crossEntropyBackwardDef: OpDef<ClassAttrs> = {
  name: 'crossEntropyBackward',
  forward: ([x, target, weight, stats, g], attrs) => {
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    runKernel('crossEntropyBackward', [x, target, weight, stats, g], [gx], attrs.kernel);
    return gx;
  },
};
const crossEntropyDef: OpDef<ClassAttrs> = {
  name: 'crossEntropy',
  forward: ([x, target, weight], attrs) => {
    const [N, , S] = x.shape;
    const out = Tensor.empty(attrs.kernel.reduction === 'none' ? [N, S] : [], 'float32', x.device);
    const stats = Tensor.empty([N, S, 2], 'float32', x.device);
    runKernel('crossEntropy', [x, target, weight], [out, stats], attrs.kernel);
    attrs.stats = stats;
    return out;
  },
  backward: ({ inputs: [x, target, weight], attrs }, g) =>
    [apply(crossEntropyBackwardDef, [x, target, weight, attrs.stats!, g], attrs), null, null],
};

const nllLossBackwardDef: OpDef<ClassAttrs> = {
  name: 'nllLossBackward',
  forward: ([x, target, weight, g], attrs) => {
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    runKernel('nllLossBackward', [x, target, weight, g], [gx], { ignoreIndex: attrs.kernel.ignoreIndex, reduction: attrs.kernel.reduction });
    return gx;
  },
};
const nllLossDef: OpDef<ClassAttrs> = {
  name: 'nllLoss',
  forward: ([x, target, weight], attrs) => {
    const [N, , S] = x.shape;
    const out = Tensor.empty(attrs.kernel.reduction === 'none' ? [N, S] : [], 'float32', x.device);
    runKernel('nllLoss', [x, target, weight], [out], { ignoreIndex: attrs.kernel.ignoreIndex, reduction: attrs.kernel.reduction });
    return out;
  },
  backward: ({ inputs: [x, target, weight], attrs }, g) => [apply(nllLossBackwardDef, [x, target, weight, g], attrs), null, null],
};

/** Checks input [C] / [N, C, d1, ...] against an int32 target [] / [N, d1, ...] and weight [C]. */
function classShapes(op: string, input: Tensor, target: Tensor, weight: Tensor | null | undefined) {
  if (input.ndim === 0) throw new ShapeError(`${op}: input must have a class dim ([C], [N, C] or [N, C, d1, ...]), got a 0-d tensor`);
  const C = input.ndim === 1 ? input.shape[0] : input.shape[1];
  const expected = input.ndim === 1 ? [] : [input.shape[0], ...input.shape.slice(2)];
  if (!sameShape(target.shape, expected))
    throw new ShapeError(`${op}: input ${fmt(input.shape)} (${C} classes in dim ${input.ndim === 1 ? 0 : 1}) needs a target of shape ${fmt(expected)}, got ${fmt(target.shape)}`);
  if (weight !== undefined && weight !== null) {
    checkTensor(weight, op, 'weight');
    if (weight.dtype !== 'float32') throw new DTypeError(`${op}: weight must be float32, got ${weight.dtype}`);
    if (!sameShape(weight.shape, [C])) throw new ShapeError(`${op}: weight must have shape [${C}] (one per class), got ${fmt(weight.shape)}`);
  }
  return { N: input.ndim === 1 ? 1 : input.shape[0], C, S: numel(input.shape.slice(2)), outShape: expected };
}

function classLoss(op: 'crossEntropy' | 'nllLoss', def: OpDef<ClassAttrs>, input: Tensor, target: Tensor,
  weight: Tensor | null | undefined, kernel: ClassAttrs['kernel']): Tensor {
  const { N, C, S, outShape } = classShapes(op, input, target, weight);
  const x = input.reshape([N, C, S]);
  const t = target.reshape([N, S]);
  const w = weight ?? Tensor.empty([0], 'float32', input.device);
  const attrs: ClassAttrs = { kernel, stats: null };
  const out = apply(def, [x, t, w], attrs);
  owning(out, x, t, w === weight ? null : w, attrs.stats);
  return kernel.reduction === 'none' ? owning(out.reshape(outShape), out) : out;
}

function classOptions(op: string, opts: CrossEntropyOptions) {
  const ignoreIndex = opts.ignoreIndex ?? -100;
  if (!Number.isSafeInteger(ignoreIndex)) throw new ArgumentError(`${op}: ignoreIndex must be an integer, got ${ignoreIndex}`);
  const labelSmoothing = opts.labelSmoothing ?? 0;
  if (typeof labelSmoothing !== 'number' || !(labelSmoothing >= 0 && labelSmoothing <= 1))
    throw new ValueError(`${op}: labelSmoothing must be a number in [0, 1], got ${labelSmoothing}`);
  return { ignoreIndex, labelSmoothing, reduction: checkReduction(opts.reduction ?? 'mean', op) };
}

/**
 * torch.nn.functional.cross_entropy. input: logits [C], [N, C] or [N, C, d1, ...]; target: int32
 * class indices ([], [N] or [N, d1, ...]) or float32 class probabilities of the input's shape.
 * 'mean' over class indices divides by the summed weight of the non-ignored targets (NaN when all
 * are ignored, as torch); over probabilities by the number of samples N·d1·...
 */
export function crossEntropy(input: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  checkTensor(input, op, 'input');
  checkTensor(target, op, 'target');
  checkOptions(opts, op, ['weight', 'ignoreIndex', 'reduction', 'labelSmoothing']);
  const kernel = classOptions(op, opts);
  if (input.dtype !== 'float32') throw new DTypeError(`${op}: input must be float32 logits, got ${input.dtype}`);
  if (target.dtype === 'float32') {
    if (!sameShape(target.shape, input.shape))
      throw new ShapeError(`${op}: float32 (probability) targets must have the input's shape ${fmt(input.shape)}, got ${fmt(target.shape)}; class indices must be int32`);
    return softCrossEntropy(input, target, opts.weight, kernel.labelSmoothing, kernel.reduction);
  }
  if (target.dtype !== 'int32')
    throw new DTypeError(`${op}: target must be int32 class indices or float32 probabilities, got ${target.dtype}`);
  return classLoss(op, crossEntropyDef, input, target, opts.weight, kernel);
}

/** Probability targets (torch ≥ 1.10): −Σ_c w[c]·q[c]·log_softmax(x)[c], q = (1 − ε)·target + ε/C. */
function softCrossEntropy(input: Tensor, target: Tensor, weight: Tensor | null | undefined, eps: number, reduction: Reduction): Tensor {
  const op = 'crossEntropy';
  if (input.ndim === 0) throw new ShapeError(`${op}: input must have a class dim, got a 0-d tensor`);
  const classDim = input.ndim === 1 ? 0 : 1;
  const C = input.shape[classDim];
  let wv: Tensor | null = null;
  if (weight !== undefined && weight !== null) {
    checkTensor(weight, op, 'weight');
    if (weight.dtype !== 'float32' || !sameShape(weight.shape, [C]))
      throw new ShapeError(`${op}: weight must be float32 of shape [${C}], got ${weight.dtype} ${fmt(weight.shape)}`);
    wv = weight.reshape([C, ...input.shape.slice(classDim + 1).map(() => 1)]);  // broadcasts along the class dim
  }
  const lsm = logSoftmax(input, classDim);
  let q = target;
  if (eps > 0) {
    const scaled = target.mul(1 - eps);
    q = owning(scaled.add(eps / C), scaled);
  }
  let terms = owning(lsm.mul(q), lsm, q === target ? null : q);
  if (wv) terms = owning(terms.mul(wv), terms, wv);
  const summed = owning(terms.sum(classDim), terms);
  return reduce(owning(summed.neg(), summed), reduction);
}

/** torch.nn.functional.nll_loss on log-probabilities, with cross_entropy's shapes and options. */
export function nllLoss(input: Tensor, target: Tensor, opts: NllLossOptions = {}): Tensor {
  const op = 'nllLoss';
  checkTensor(input, op, 'input');
  checkTensor(target, op, 'target');
  checkOptions(opts, op, ['weight', 'ignoreIndex', 'reduction']);
  const kernel = classOptions(op, opts);
  if (input.dtype !== 'float32') throw new DTypeError(`${op}: input must be float32 log-probabilities, got ${input.dtype}`);
  if (target.dtype !== 'int32') throw new DTypeError(`${op}: target must be int32 class indices, got ${target.dtype}`);
  return classLoss(op, nllLossDef, input, target, opts.weight, kernel);
}

// ---- elementwise losses ----

/** torch.nn.functional.mse_loss: (a − b)², broadcast, then reduced. */
export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const op = 'mseLoss';
  checkTensor(input, op, 'input');
  checkTensor(target, op, 'target');
  checkOptions(opts, op, ['reduction']);
  const reduction = checkReduction(opts.reduction ?? 'mean', op);
  if (input.dtype !== 'float32' || target.dtype !== 'float32')
    throw new DTypeError(`${op}: input and target must be float32, got ${input.dtype} and ${target.dtype}`);
  broadcastShapes(input.shape, target.shape);
  const d = input.sub(target);
  return reduce(owning(d.square(), d), reduction);
}

const bceLogitsBackwardDef: OpDef<number> = {
  name: 'bceWithLogitsBackward',
  forward: (inputs, wrt) => {
    const gx = Tensor.empty(inputs[0].shape, 'float32', inputs[0].device);
    runKernel(inputs.length === 4 ? 'bceWithLogitsPosWeightBackward' : 'bceWithLogitsBackward', inputs, [gx], { wrt });
    return gx;
  },
};
const bceLogitsDef: OpDef<void> = {
  name: 'bceWithLogits',
  forward: (inputs) => {
    const out = Tensor.empty(inputs[0].shape, 'float32', inputs[0].device);
    runKernel(inputs.length === 3 ? 'bceWithLogitsPosWeight' : 'bceWithLogits', inputs, [out]);
    return out;
  },
  backward: ({ inputs }, g) => inputs.map((t, wrt) => (t.requiresGrad ? apply(bceLogitsBackwardDef, [...inputs, g], wrt) : null)),
};

/**
 * torch.nn.functional.binary_cross_entropy_with_logits: (1 − y)·x + (1 + (posWeight − 1)·y)·
 * softplus(−x), computed without overflow for any x; times weight, then reduced. Gradients flow
 * to the input, the target, weight and posWeight.
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, opts: BceWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  checkTensor(input, op, 'input');
  checkTensor(target, op, 'target');
  checkOptions(opts, op, ['weight', 'posWeight', 'reduction']);
  const reduction = checkReduction(opts.reduction ?? 'mean', op);
  if (input.dtype !== 'float32' || target.dtype !== 'float32')
    throw new DTypeError(`${op}: input and target must be float32, got ${input.dtype} and ${target.dtype}`);
  if (!sameShape(input.shape, target.shape))
    throw new ShapeError(`${op}: target size ${fmt(target.shape)} must be the same as input size ${fmt(input.shape)}`);
  for (const [name, t] of [['weight', opts.weight], ['posWeight', opts.posWeight]] as const)
    if (t !== undefined && t !== null) {
      checkTensor(t, op, name);
      if (t.dtype !== 'float32') throw new DTypeError(`${op}: ${name} must be float32, got ${t.dtype}`);
    }
  let pw: Tensor | null = null;
  if (opts.posWeight) {
    broadcastShapes(opts.posWeight.shape, input.shape);
    if (opts.posWeight.ndim > input.ndim)
      throw new ShapeError(`${op}: posWeight ${fmt(opts.posWeight.shape)} has more dims than the input ${fmt(input.shape)}`);
    pw = expand(opts.posWeight, [...input.shape]);
  }
  let loss = owning(apply(bceLogitsDef, pw ? [input, target, pw] : [input, target], undefined), pw);
  if (opts.weight) {
    broadcastShapes(opts.weight.shape, input.shape);
    loss = owning(loss.mul(opts.weight), loss);
  }
  return reduce(loss, reduction);
}

/**
 * torch.nn.functional.binary_cross_entropy on probabilities: −w·(y·log p + (1 − y)·log(1 − p)),
 * each log clamped at −100 as torch does (so p = 0 or 1 gives a finite loss).
 */
export function binaryCrossEntropy(input: Tensor, target: Tensor, opts: { weight?: Tensor | null; reduction?: Reduction } = {}): Tensor {
  const op = 'binaryCrossEntropy';
  checkTensor(input, op, 'input');
  checkTensor(target, op, 'target');
  checkOptions(opts, op, ['weight', 'reduction']);
  const reduction = checkReduction(opts.reduction ?? 'mean', op);
  if (input.dtype !== 'float32' || target.dtype !== 'float32')
    throw new DTypeError(`${op}: input and target must be float32, got ${input.dtype} and ${target.dtype}`);
  if (!sameShape(input.shape, target.shape))
    throw new ShapeError(`${op}: target size ${fmt(target.shape)} must be the same as input size ${fmt(input.shape)}`);
  const logP = input.log();
  const clampedP = owning(logP.clamp(-100), logP);
  const negP = input.neg();
  const oneMinus = owning(negP.add(1), negP);  // 1 − p
  const logQ = owning(oneMinus.log(), oneMinus);
  const clampedQ = owning(logQ.clamp(-100), logQ);
  const negY = target.neg();
  const yq = owning(negY.add(1), negY);
  const a = owning(target.mul(clampedP), clampedP);
  const b = owning(yq.mul(clampedQ), yq, clampedQ);
  const s = owning(a.add(b), a, b);
  let loss = owning(s.neg(), s);
  if (opts.weight) {
    checkTensor(opts.weight, op, 'weight');
    loss = owning(loss.mul(opts.weight), loss);
  }
  return reduce(loss, reduction);
}

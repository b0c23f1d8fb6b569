// 2-D convolution, NCHW, as torch.nn.functional.conv2d. The wrapper resolves the options to
// explicit per-side padding and checks every argument; the primitive runs the native kernels
// (native/cpu/conv.cpp), which need contiguous operands. Its backward uses the native input- and
// weight-gradient kernels (themselves ops without a backward: no double-backward) and a sum for
// the bias.
import { Tensor } from '../tensor';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { fmt } from '../shape';
import { ShapeError, DTypeError, ArgumentError } from '../errors';
import { runKernel } from './kernel';
import { contiguous, unsqueeze, squeeze } from './movement';
import { precisionCode } from '../precision';

export type Pair = number | [number, number];
export interface Conv2dOptions {
  stride?: Pair;
  /** Zero padding per side ([h, w] or one number for both), or 'valid' (none) or 'same' (output
   *  as large as the input; stride 1 only; an odd total puts the extra row/column at the
   *  bottom/right, as torch does). */
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
}

/** The options resolved for the kernels: padding as [top, bottom, left, right]. */
interface ConvAttrs { stride: number[]; padding: number[]; dilation: number[]; groups: number }

// `precision` (tf.setMatmulPrecision) selects the CUDA kernels' arithmetic; the CPU ignores it.
const nativeAttrs = (a: ConvAttrs) =>
  ({ stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups, precision: precisionCode() });

function outSize(inSize: number, k: number, before: number, after: number, s: number, d: number): number {
  return Math.floor((inSize + before + after - d * (k - 1) - 1) / s) + 1;
}

const conv2dDef: OpDef<ConvAttrs> = {
  name: 'conv2d',
  forward: ([x, w, b], a) => {
    const [n, , h, wd] = x.shape, [co, , kh, kw] = w.shape;
    const out = Tensor.empty([n, co, outSize(h, kh, a.padding[0], a.padding[1], a.stride[0], a.dilation[0]),
      outSize(wd, kw, a.padding[2], a.padding[3], a.stride[1], a.dilation[1])], 'float32', x.device);
    runKernel(b ? 'conv2dBias' : 'conv2d', b ? [x, w, b] : [x, w], [out], nativeAttrs(a));
    return out;
  },
  backward: ({ inputs: [x, w, b], attrs }, g) => {
    const gc = contiguous(g);  // the engine's gradient may be a broadcast view
    return [
      x.requiresGrad ? apply(inputGradDef, [gc, w], { ...attrs, inputShape: x.shape }) : null,
      w.requiresGrad ? apply(weightGradDef, [x, gc], { ...attrs, weightShape: w.shape }) : null,
      b?.requiresGrad ? gc.sum([0, 2, 3]) : null,
    ];
  },
};

const inputGradDef: OpDef<ConvAttrs & { inputShape: readonly number[] }> = {
  name: 'conv2dInputGrad',
  forward: ([g, w], a) => {
    const gx = Tensor.empty(a.inputShape, 'float32', g.device);
    runKernel('conv2dInputGrad', [g, w], [gx], nativeAttrs(a));
    return gx;
  },
};

const weightGradDef: OpDef<ConvAttrs & { weightShape: readonly number[] }> = {
  name: 'conv2dWeightGrad',
  forward: ([x, g], a) => {
    const gw = Tensor.empty(a.weightShape, 'float32', x.device);
    runKernel('conv2dWeightGrad', [x, g], [gw], nativeAttrs(a));
    return gw;
  },
};

function pair(v: Pair | undefined, dflt: number, name: string, min: number): [number, number] {
  const p: unknown[] = v === undefined ? [dflt, dflt] : Array.isArray(v) ? v : [v, v];
  if (p.length !== 2 || !p.every((e) => Number.isSafeInteger(e) && (e as number) >= min && (e as number) <= 2 ** 31))
    throw new ArgumentError(`conv2d: ${name} must be an integer >= ${min} or a pair [h, w] of them, got ${JSON.stringify(v)}`);
  return p as [number, number];
}

/** Checks conv2d's arguments (x batched or not) and resolves the options for the kernels. */
function resolve(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: Conv2dOptions): ConvAttrs {
  for (const [t, name] of [[x, 'input'], [weight, 'weight'], [bias, 'bias']] as const) {
    if (t === undefined || t === null) {
      if (name === 'bias') continue;
      throw new ArgumentError(`conv2d: ${name} must be a Tensor`);
    }
    if (!(t instanceof Tensor)) throw new ArgumentError(`conv2d: ${name} must be a Tensor, got ${typeof t}`);
    if (t.dtype !== 'float32') throw new DTypeError(`conv2d: ${name} must be float32, got ${t.dtype}`);
  }
  if (x.ndim !== 3 && x.ndim !== 4)
    throw new ShapeError(`conv2d: input must be [N, C, H, W] or unbatched [C, H, W], got ${fmt(x.shape)}`);
  if (weight.ndim !== 4) throw new ShapeError(`conv2d: weight must be [outChannels, inChannels / groups, kh, kw], got ${fmt(weight.shape)}`);
  const stride = pair(opts.stride, 1, 'stride', 1);
  const dilation = pair(opts.dilation, 1, 'dilation', 1);
  const groups = opts.groups ?? 1;
  if (!Number.isSafeInteger(groups) || groups < 1) throw new ArgumentError(`conv2d: groups must be a positive integer, got ${groups}`);
  const [cin, h, wd] = x.shape.slice(-3);
  const [cout, cg, kh, kw] = weight.shape;
  if (cin % groups || cout % groups)
    throw new ShapeError(`conv2d: input channels (${cin}) and output channels (${cout}) must be divisible by groups (${groups})`);
  if (cg !== cin / groups)
    throw new ShapeError(`conv2d: weight ${fmt(weight.shape)} needs ${cin / groups} input channels per group (input ${fmt(x.shape)}, groups ${groups}), got ${cg}`);
  if (kh < 1 || kw < 1) throw new ShapeError(`conv2d: kernel size must be at least 1, got weight ${fmt(weight.shape)}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== cout))
    throw new ShapeError(`conv2d: bias must have shape [${cout}], got ${fmt(bias.shape)}`);

  let padding: number[];
  if (opts.padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new ArgumentError(`conv2d: padding='same' needs stride 1, got ${JSON.stringify(opts.stride)}`);
    const th = dilation[0] * (kh - 1), tw = dilation[1] * (kw - 1);
    padding = [th >> 1, th - (th >> 1), tw >> 1, tw - (tw >> 1)];
  } else if (opts.padding === 'valid') {
    padding = [0, 0, 0, 0];
  } else if (typeof opts.padding === 'string') {
    throw new ArgumentError(`conv2d: padding must be a number, a pair, 'valid' or 'same', got '${opts.padding}'`);
  } else {
    const [ph, pw] = pair(opts.padding, 0, 'padding', 0);
    padding = [ph, ph, pw, pw];
  }
  const spanH = h + padding[0] + padding[1] - dilation[0] * (kh - 1), spanW = wd + padding[2] + padding[3] - dilation[1] * (kw - 1);
  if (spanH < 1 || spanW < 1)
    throw new ShapeError(`conv2d: kernel ${kh}×${kw} (dilation ${dilation.join('×')}) is larger than the padded input ` +
      `${h + padding[0] + padding[1]}×${wd + padding[2] + padding[3]} (input ${fmt(x.shape)})`);

  return { stride, padding, dilation, groups };
}

/**
 * torch.nn.functional.conv2d: x [N, Cin, H, W] (or unbatched [Cin, H, W]), weight
 * [Cout, Cin / groups, kh, kw], bias [Cout] -> [N, Cout, Hout, Wout] with
 * Hout = floor((H + padTop + padBottom - dilation·(kh - 1) - 1) / stride) + 1 (likewise W).
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const attrs = resolve(x, weight, bias, opts);
  const temps: Tensor[] = [];
  const temp = (t: Tensor) => (temps.push(t), t);
  const X = temp(contiguous(x.ndim === 3 ? temp(unsqueeze(x, 0)) : x));
  const W = temp(contiguous(weight));
  const B = bias ?? null;  // the kernel reads a bias of any stride
  let out = apply(conv2dDef, B ? [X, W, B] : [X, W], attrs);
  releaseTemporaries(out, temps);
  if (x.ndim === 3) {
    const s = squeeze(out, 0);
    releaseTemporaries(s, [out]);
    out = s;
  }
  return out;
}

/** The gradients of conv2d(x, weight) with respect to x and weight for the output gradient g
 *  (batched x only), straight from the native backward kernels: what autograd runs, without the
 *  graph (for benchmarks and composite ops). */
export function conv2dBackward(x: Tensor, weight: Tensor, g: Tensor, opts: Conv2dOptions = {}): [Tensor, Tensor] {
  if (x.ndim !== 4) throw new ShapeError(`conv2dBackward: input must be [N, C, H, W], got ${fmt(x.shape)}`);
  const attrs = resolve(x, weight, null, opts);
  const temps = [contiguous(x), contiguous(weight), contiguous(g)];
  const [X, W, G] = temps;
  const gx = apply(inputGradDef, [G, W], { ...attrs, inputShape: x.shape });
  const gw = apply(weightGradDef, [X, G], { ...attrs, weightShape: weight.shape });
  temps.forEach((t) => t.dispose());
  return [gx, gw];
}

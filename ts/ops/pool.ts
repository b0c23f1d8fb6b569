// 2-D pooling with torch.nn.functional's semantics, NCHW ([N, C, H, W] or unbatched [C, H, W]):
// maxPool2d, avgPool2d, adaptiveAvgPool2d, adaptiveMaxPool2d. Each is one primitive with a native
// backward kernel. Max pooling's argmax indices (int32, flat h*W + w within each plane, torch's
// convention) are computed by the forward and kept by the graph node for the backward; with
// returnIndices the caller gets them too.
import { Tensor } from '../tensor';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { fmt } from '../shape';
import { ArgumentError, DTypeError, ShapeError } from '../errors';
import { runKernel } from './kernel';
import { squeeze, unsqueeze } from './movement';

type Pair = number | [number, number];

export interface MaxPool2dOptions {
  kernelSize: Pair;
  /** default: kernelSize */
  stride?: Pair | null;
  /** implicit -inf padding on both sides; at most half the kernel size. Default 0 */
  padding?: Pair;
  /** spacing between window taps. Default 1 */
  dilation?: Pair;
  /** ceil instead of floor for the output size (windows may then run off the bottom/right edge) */
  ceilMode?: boolean;
  /** also return the argmax indices: int32, flat positions within each H×W plane */
  returnIndices?: boolean;
}

export interface AvgPool2dOptions {
  kernelSize: Pair;
  stride?: Pair | null;
  /** implicit zero padding on both sides; at most half the kernel size. Default 0 */
  padding?: Pair;
  ceilMode?: boolean;
  /** count padded zeros in the divisor. Default true */
  countIncludePad?: boolean;
  /** divide every window's sum by this instead */
  divisorOverride?: number | null;
}

/** [h, w]; a null entry keeps the input's size, as in torch */
export type OutputSize = number | [number | null, number | null];

// ---- argument checks ----------------------------------------------------------------------------

function pair(v: unknown, op: string, name: string, min: number): [number, number] {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((e) => Number.isSafeInteger(e) && e >= min))
    throw new ArgumentError(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  return [p[0], p[1]];
}

function flag(v: unknown, op: string, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ArgumentError(`${op}: ${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/** The input as [N, C, H, W] (an unbatched [C, H, W] gains a leading 1). */
function checkInput(x: Tensor, op: string): void {
  if (!(x instanceof Tensor)) throw new ArgumentError(`${op}: input must be a Tensor`);
  if (x.dtype !== 'float32') throw new DTypeError(`${op}: input must be float32, got ${x.dtype}`);
  if (x.ndim !== 3 && x.ndim !== 4)
    throw new ShapeError(`${op}: input must be [N, C, H, W] or [C, H, W], got ${fmt(x.shape)}`);
  if (x.shape.slice(-3).some((s) => s === 0))
    throw new ShapeError(`${op}: input ${fmt(x.shape)} must have non-zero C, H and W`);
}

function options(opts: unknown, op: string): Record<string, unknown> {
  if (typeof opts === 'number' || Array.isArray(opts)) return { kernelSize: opts };
  if (opts === null || typeof opts !== 'object') throw new ArgumentError(`${op}: options must be an object with kernelSize`);
  if ((opts as { kernelSize?: unknown }).kernelSize === undefined) throw new ArgumentError(`${op}: kernelSize is required`);
  return opts as Record<string, unknown>;
}

/** torch's pooling output size: in ceil mode the last window must start inside the input or
 *  its left padding. */
export function pooledSize(n: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  let out = Math.floor((n + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0)) / s) + 1;
  if (ceil && (out - 1) * s >= n + p) out--;
  return out;
}

interface WindowAttrs {
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  ceilMode: boolean;
}

function windowAttrs(o: Record<string, unknown>, op: string, x: Tensor, withDilation: boolean): WindowAttrs {
  const kernelSize = pair(o.kernelSize, op, 'kernelSize', 1);
  const stride = o.stride === undefined || o.stride === null ? kernelSize : pair(o.stride, op, 'stride', 1);
  const padding = pair(o.padding ?? 0, op, 'padding', 0);
  const dilation = withDilation ? pair(o.dilation ?? 1, op, 'dilation', 1) : [1, 1] as [number, number];
  const ceilMode = flag(o.ceilMode, op, 'ceilMode', false);
  if (2 * padding[0] > kernelSize[0] || 2 * padding[1] > kernelSize[1])
    throw new ArgumentError(`${op}: padding must be at most half of kernelSize, got padding ${fmt(padding)} and kernelSize ${fmt(kernelSize)}`);
  const [H, W] = x.shape.slice(-2);
  const oh = pooledSize(H, kernelSize[0], stride[0], padding[0], dilation[0], ceilMode);
  const ow = pooledSize(W, kernelSize[1], stride[1], padding[1], dilation[1], ceilMode);
  if (oh < 1 || ow < 1)
    throw new ShapeError(`${op}: input ${fmt(x.shape)} is too small for kernelSize ${fmt(kernelSize)}, stride ${fmt(stride)}, ` +
      `padding ${fmt(padding)}, dilation ${fmt(dilation)}: the output would be ${oh}x${ow}`);
  return { kernelSize, stride, padding, dilation, ceilMode };
}

function outShape(x: Tensor, a: WindowAttrs): number[] {
  const [N, C, H, W] = x.shape;
  const k = a.kernelSize, s = a.stride, p = a.padding, d = a.dilation;
  return [N, C, pooledSize(H, k[0], s[0], p[0], d[0], a.ceilMode), pooledSize(W, k[1], s[1], p[1], d[1], a.ceilMode)];
}

/** Runs a 4-D pooling primitive on x, adding and removing the batch dim of an unbatched input. */
function batched(x: Tensor, pool: (x4: Tensor) => Tensor, indices?: { t: Tensor | null }): Tensor {
  if (x.ndim === 4) return pool(x);
  const x4 = unsqueeze(x, 0);
  const y4 = pool(x4);
  releaseTemporaries(y4, [x4]);
  const y = squeeze(y4, 0);
  releaseTemporaries(y, [y4]);
  if (indices?.t) {
    const i4 = indices.t;
    indices.t = squeeze(i4, 0);
    i4.dispose();
  }
  return y;
}

// ---- max pooling (window and adaptive) -------------------------------------------------------

/** Attributes of a max-pooling node; the forward fills `indices` for the backward. */
interface MaxAttrs {
  kernel: string;
  native: Record<string, number | boolean | number[]>;
  outShape: (x: Tensor) => number[];
  indices: Tensor | null;
}

const maxPoolDef: OpDef<MaxAttrs> = {
  name: 'maxPool2d',
  forward: ([x], a) => {
    const shape = a.outShape(x);
    const y = Tensor.empty(shape, 'float32', x.device);
    const ix = Tensor.empty(shape, 'int32', x.device);
    runKernel(a.kernel, [x], [y, ix], a.native);
    a.indices = ix;
    return y;
  },
  backward: ({ inputs: [x], attrs: a }, g) => {
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    // the window (or adaptive = 1) lets a device kernel gather each input's gradient from the
    // outputs whose windows hold it, in a fixed order, instead of scattering with atomics
    runKernel('maxPool2dBackward', [g, a.indices!], [gx], a.kernel === 'maxPool2d' ? a.native : { adaptive: true });
    return [gx];
  },
};

/** Applies a max-pooling primitive; the node owns the indices (freed with it), the caller gets a
 *  view of them when it asks. */
function maxPool(x: Tensor, kernel: string, native: MaxAttrs['native'], shape: (x: Tensor) => number[], wantIndices: boolean): Tensor | [Tensor, Tensor] {
  const out: { t: Tensor | null } = { t: null };
  const y = batched(x, (x4) => {
    const attrs: MaxAttrs = { kernel, native, outShape: shape, indices: null };
    const y4 = apply(maxPoolDef, [x4], attrs);
    const ix = attrs.indices!;
    if (wantIndices) out.t = ix.view_(ix.shape, ix.strides, ix.offset);
    releaseTemporaries(y4, [ix]);
    return y4;
  }, out);
  return wantIndices ? [y, out.t!] : y;
}

/**
 * torch.nn.functional.max_pool2d. Padding is -inf; a NaN in a window is its maximum. With
 * returnIndices, returns [values, indices] where indices (int32) are flat positions h*W + w
 * within each input plane.
 */
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions & { returnIndices: true }): [Tensor, Tensor];
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions | Pair): Tensor;
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions | Pair): Tensor | [Tensor, Tensor] {
  const op = 'maxPool2d';
  checkInput(x, op);
  const o = options(opts, op);
  const a = windowAttrs(o, op, x, true);
  const wantIndices = flag(o.returnIndices, op, 'returnIndices', false);
  return maxPool(x, 'maxPool2d', { ...a }, (x4) => outShape(x4, a), wantIndices);
}

function adaptiveSize(x: Tensor, outputSize: unknown, op: string): [number, number] {
  const raw = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  const [H, W] = x.shape.slice(-2);
  if (!Array.isArray(raw) || raw.length !== 2 || !raw.every((e) => e === null || (Number.isSafeInteger(e) && e >= 1)))
    throw new ArgumentError(`${op}: outputSize must be a positive integer or a pair of them (null keeps the input size), got ${JSON.stringify(outputSize)}`);
  return [raw[0] ?? H, raw[1] ?? W];
}

/** torch.nn.functional.adaptive_max_pool2d: output cell i covers [floor(i*H/o), ceil((i+1)*H/o)). */
export function adaptiveMaxPool2d(x: Tensor, outputSize: OutputSize, opts: { returnIndices: true }): [Tensor, Tensor];
export function adaptiveMaxPool2d(x: Tensor, outputSize: OutputSize, opts?: { returnIndices?: boolean }): Tensor;
export function adaptiveMaxPool2d(x: Tensor, outputSize: OutputSize, opts: { returnIndices?: boolean } = {}): Tensor | [Tensor, Tensor] {
  const op = 'adaptiveMaxPool2d';
  checkInput(x, op);
  const [oh, ow] = adaptiveSize(x, outputSize, op);
  const wantIndices = flag(opts?.returnIndices, op, 'returnIndices', false);
  return maxPool(x, 'adaptiveMaxPool2d', {}, (x4) => [x4.shape[0], x4.shape[1], oh, ow], wantIndices);
}

// ---- average pooling -------------------------------------------------------------------------

type AvgAttrs = Omit<WindowAttrs, 'dilation'> & { countIncludePad: boolean; divisorOverride: number };

const avgPoolDef: OpDef<AvgAttrs> = {
  name: 'avgPool2d',
  forward: ([x], a) => {
    const y = Tensor.empty(outShape(x, { ...a, dilation: [1, 1] }), 'float32', x.device);
    runKernel('avgPool2d', [x], [y], a);
    return y;
  },
  backward: ({ inputs: [x], attrs: a }, g) => {
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    runKernel('avgPool2dBackward', [g], [gx], a);
    return [gx];
  },
};

/**
 * torch.nn.functional.avg_pool2d. Padding is zeros; the divisor is the window's extent within the
 * padded input (countIncludePad, the default), or within the input alone, or divisorOverride.
 */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions | Pair): Tensor {
  const op = 'avgPool2d';
  checkInput(x, op);
  const o = options(opts, op);
  const { kernelSize, stride, padding, ceilMode } = windowAttrs(o, op, x, false);
  const countIncludePad = flag(o.countIncludePad, op, 'countIncludePad', true);
  const d = o.divisorOverride;
  if (d !== undefined && d !== null && !(Number.isSafeInteger(d) && d !== 0 && Math.abs(d as number) <= 2 ** 31))
    throw new ArgumentError(`${op}: divisorOverride must be a non-zero integer, got ${JSON.stringify(d)}`);
  const attrs: AvgAttrs = { kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride: (d as number | null) ?? 0 };
  return batched(x, (x4) => apply(avgPoolDef, [x4], attrs));
}

const adaptiveAvgDef: OpDef<[number, number]> = {
  name: 'adaptiveAvgPool2d',
  forward: ([x], [oh, ow]) => {
    const y = Tensor.empty([x.shape[0], x.shape[1], oh, ow], 'float32', x.device);
    runKernel('adaptiveAvgPool2d', [x], [y]);
    return y;
  },
  backward: ({ inputs: [x] }, g) => {
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    runKernel('adaptiveAvgPool2dBackward', [g], [gx]);
    return [gx];
  },
};

/** torch.nn.functional.adaptive_avg_pool2d: output cell i averages [floor(i*H/o), ceil((i+1)*H/o)). */
export function adaptiveAvgPool2d(x: Tensor, outputSize: OutputSize): Tensor {
  const op = 'adaptiveAvgPool2d';
  checkInput(x, op);
  const size = adaptiveSize(x, outputSize, op);
  return batched(x, (x4) => apply(adaptiveAvgDef, [x4], size));
}

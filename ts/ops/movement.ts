// Shape and layout ops. Views (reshape of contiguous data, permute, expand, slice) share storage
// and cost nothing; copies happen only in contiguous(), clone() and cat().
import { Tensor } from '../tensor';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { checkShape, contiguousStrides, fmt, normDim, numel, sameShape } from '../shape';
import { ShapeError, ArgumentError, IndexError } from '../errors';
import { runKernel } from './kernel';
import { zeros } from './creation';
import { Device, resolveDevice } from '../backend';

function resolveShape(shape: number[], size: number): number[] {
  if (!Array.isArray(shape)) throw new ArgumentError(`shape must be an array, got ${typeof shape}`);
  const infer = shape.indexOf(-1);
  if (infer !== shape.lastIndexOf(-1)) throw new ShapeError(`only one dim can be -1, got ${fmt(shape)}`);
  if (infer >= 0) {
    const rest = numel(shape.filter((_, i) => i !== infer));
    if (rest === 0 || size % rest !== 0) throw new ShapeError(`shape ${fmt(shape)} is invalid for ${size} elements`);
    shape = shape.map((s, i) => (i === infer ? size / rest : s));
  }
  checkShape(shape);
  if (numel(shape) !== size) throw new ShapeError(`shape ${fmt(shape)} is invalid for ${size} elements`);
  return shape;
}

const copyDef: OpDef<void> = {
  name: 'copy',
  forward: ([x]) => {
    const out = Tensor.empty(x.shape, x.dtype, x.device);
    runKernel('copy', [x], [out]);
    return out;
  },
  backward: (_ctx, g) => [g],
};
/** A contiguous copy. */
export const clone = (x: Tensor) => apply(copyDef, [x], undefined);

// A copy on another device, through host memory: CPU values are read into a typed array and
// written to the device (or the reverse). Gradients flow back to the source device.
const toDeviceDef: OpDef<Device> = {
  name: 'to',
  forward: ([x], device) => {
    const values = x.dataSync();
    const out = Tensor.empty(x.shape, x.dtype, device);
    try {
      if (values.length) out.storage.backend.write(out.storage.handle, 0, values);
    } catch (e) {
      out.dispose();
      throw e;
    }
    return out;
  },
  backward: ({ inputs: [x] }, g) => [toDevice(g, x.device)],
};
/** x on `device`: x itself when it is already there, else a copy autograd records. */
export function toDevice(x: Tensor, device: Device): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(`to(device) expects a Tensor, got ${x === null ? 'null' : typeof x}`);
  x.assertAlive();
  const d = resolveDevice(device);
  return d === x.device ? x : apply(toDeviceDef, [x], d);
}

const aliasDef: OpDef<void> = {
  name: 'alias',
  forward: ([x]) => x.view_(x.shape, x.strides, x.offset),
  backward: (_ctx, g) => [g],
};
/** x itself as a new handle when already contiguous, otherwise a contiguous copy. */
export const contiguous = (x: Tensor) => apply(x.isContiguous ? aliasDef : copyDef, [x], undefined);

const viewDef: OpDef<number[]> = {
  name: 'view',
  forward: ([x], shape) => x.view_(shape, contiguousStrides(shape), x.offset),
  backward: ({ inputs: [x] }, g) => [reshape(g, [...x.shape])],
};
export function view(x: Tensor, shape: number[]): Tensor {
  const s = resolveShape(shape, x.size);
  if (!x.isContiguous) throw new ShapeError(`view(${fmt(s)}) needs a contiguous tensor; use reshape() or contiguous()`);
  return apply(viewDef, [x], s);
}
/** Same data in a new shape: a view when the layout allows it, a copy otherwise. */
export function reshape(x: Tensor, shape: number[]): Tensor {
  const s = resolveShape(shape, x.size);
  if (x.isContiguous) return apply(viewDef, [x], s);
  const c = contiguous(x);
  const r = apply(viewDef, [c], s);
  releaseTemporaries(r, [c]);
  return r;
}

const permuteDef: OpDef<number[]> = {
  name: 'permute',
  forward: ([x], dims) => x.view_(dims.map((d) => x.shape[d]), dims.map((d) => x.strides[d]), x.offset),
  backward: ({ attrs }, g) => {
    const inv = new Array<number>(attrs.length);
    attrs.forEach((d, i) => (inv[d] = i));
    return [permute(g, inv)];
  },
};
export function permute(x: Tensor, dims: number[]): Tensor {
  if (!Array.isArray(dims) || dims.length !== x.ndim) throw new ShapeError(`permute needs ${x.ndim} dims, got ${JSON.stringify(dims)}`);
  const d = dims.map((v) => normDim(v, x.ndim));
  if (new Set(d).size !== d.length) throw new ShapeError(`permute dims must be distinct, got ${JSON.stringify(dims)}`);
  return apply(permuteDef, [x], d);
}
export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const dims = x.shape.map((_, i) => i);
  const a = normDim(d0, x.ndim), b = normDim(d1, x.ndim);
  if (x.ndim < 2) return permute(x, dims);
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return permute(x, dims);
}

const expandDef: OpDef<number[]> = {
  name: 'expand',
  forward: ([x], shape) => {
    const lead = shape.length - x.ndim;
    const strides = shape.map((s, i) => (i < lead || (x.shape[i - lead] === 1 && s !== 1) ? 0 : x.strides[i - lead]));
    return x.view_(shape, strides, x.offset);
  },
  backward: (_ctx, g) => [g],  // the engine sums g back to the input's shape
};
/** Broadcasts size-1 (or missing leading) dims to `shape` without copying; -1 keeps a size. */
export function expand(x: Tensor, shape: number[]): Tensor {
  const lead = shape.length - x.ndim;
  if (lead < 0) throw new ShapeError(`cannot expand ${fmt(x.shape)} to fewer dims ${fmt(shape)}`);
  const s = shape.map((v, i) => (v === -1 && i >= lead ? x.shape[i - lead] : v));
  checkShape(s);
  for (let i = 0; i < x.ndim; i++)
    if (x.shape[i] !== 1 && x.shape[i] !== s[i + lead])
      throw new ShapeError(`cannot expand ${fmt(x.shape)} to ${fmt(s)}: dim ${i} has size ${x.shape[i]}, not 1`);
  return apply(expandDef, [x], s);
}

interface SliceAttrs { dim: number; start: number; len: number; step: number }
const sliceDef: OpDef<SliceAttrs> = {
  name: 'slice',
  forward: ([x], { dim, start, len, step }) => {
    const shape = [...x.shape], strides = [...x.strides];
    shape[dim] = len;
    strides[dim] *= step;
    return x.view_(shape, strides, x.offset + start * x.strides[dim]);
  },
  backward: ({ inputs: [x], attrs }, g) => {
    const gx = zeros([...x.shape], { device: x.device });
    const window = sliceDef.forward([gx], attrs);
    runKernel('copy', [g], [window]);
    window.dispose();
    return [gx];
  },
};
/** x[..., start:end:step, ...] along `dim` (Python's clamping; step > 0), as a view. */
export function slice(x: Tensor, dim: number, start?: number, end?: number, step = 1): Tensor {
  const d = normDim(dim, x.ndim);
  if (x.ndim === 0) throw new ShapeError('cannot slice a scalar');
  if (!Number.isInteger(step) || step <= 0) throw new ArgumentError(`slice step must be a positive integer, got ${step}`);
  const n = x.shape[d];
  const clampIdx = (v: number | undefined, dflt: number) => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v)) throw new ArgumentError(`slice bounds must be integers, got ${v}`);
    return Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  };
  const s = clampIdx(start, 0), e = clampIdx(end, n);
  const len = e > s ? Math.ceil((e - s) / step) : 0;
  return apply(sliceDef, [x], { dim: d, start: s, len, step });
}
export function select(x: Tensor, dim: number, index: number): Tensor {
  const d = normDim(dim, x.ndim);
  const n = x.shape[d];
  if (!Number.isInteger(index) || index < -n || index >= n)
    throw new IndexError(`index ${index} is out of range for dim ${d} of size ${n}`);
  const i = index < 0 ? index + n : index;
  const s = slice(x, d, i, i + 1);
  const r = squeeze(s, d);
  releaseTemporaries(r, [s]);
  return r;
}

export function squeeze(x: Tensor, dim?: number | number[]): Tensor {
  const dims = dim === undefined ? x.shape.map((_, i) => i) : (Array.isArray(dim) ? dim : [dim]).map((d) => normDim(d, x.ndim));
  return viewOf(x, x.shape.filter((s, i) => !(s === 1 && dims.includes(i))));
}
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim(dim, x.ndim + 1);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return viewOf(x, shape);
}
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normDim(startDim, x.ndim), e = normDim(endDim, x.ndim);
  if (s > e) throw new ArgumentError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  return reshape(x, [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

// Dropping or adding size-1 dims never needs a copy: strides for them are arbitrary.
const reshapeViewDef: OpDef<number[]> = {
  name: 'unitDims',
  forward: ([x], shape) => {
    const strides: number[] = [];
    let j = 0;
    for (const s of shape) {
      while (j < x.ndim && x.shape[j] === 1 && s !== 1) j++;
      if (s === 1 && (j >= x.ndim || x.shape[j] !== 1)) strides.push(0);
      else strides.push(x.strides[j++]);
    }
    return x.view_(shape, strides, x.offset);
  },
  backward: ({ inputs: [x] }, g) => [reshape(g, [...x.shape])],
};
function viewOf(x: Tensor, shape: number[]): Tensor {
  return sameShape(shape, x.shape) ? apply(aliasDef, [x], undefined) : apply(reshapeViewDef, [x], shape);
}

// ---- cat / stack -------------------------------------------------------------------------
const catDef: OpDef<number> = {
  name: 'cat',
  forward: (xs, dim) => {
    const shape = [...xs[0].shape];
    shape[dim] = xs.reduce((n, x) => n + x.shape[dim], 0);
    const out = Tensor.empty(shape, xs[0].dtype, xs[0].device);
    let off = 0;
    for (const x of xs) {
      const window = sliceDef.forward([out], { dim, start: off, len: x.shape[dim], step: 1 });
      runKernel('copy', [x], [window]);
      window.dispose();
      off += x.shape[dim];
    }
    return out;
  },
  backward: ({ inputs, attrs: dim }, g) => {
    let off = 0;
    return inputs.map((x) => {
      const piece = slice(g, dim, off, off + x.shape[dim]);
      off += x.shape[dim];
      return piece;
    });
  },
};
export function cat(xs: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new ArgumentError('cat needs a non-empty array of tensors');
  const first = xs[0];
  if (first.ndim === 0) throw new ShapeError('cat cannot join scalars; use stack');
  const d = normDim(dim, first.ndim);
  for (const x of xs) {
    if (x.dtype !== first.dtype) throw new ShapeError(`cat: all tensors must share a dtype, got ${first.dtype} and ${x.dtype}`);
    if (x.ndim !== first.ndim || x.shape.some((s, i) => i !== d && s !== first.shape[i]))
      throw new ShapeError(`cat: shapes ${fmt(first.shape)} and ${fmt(x.shape)} differ outside dim ${d}`);
  }
  return apply(catDef, xs, d);
}
export function stack(xs: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new ArgumentError('stack needs a non-empty array of tensors');
  for (const x of xs)
    if (!sameShape(x.shape, xs[0].shape)) throw new ShapeError(`stack: shapes ${fmt(xs[0].shape)} and ${fmt(x.shape)} differ`);
  const d = normDim(dim, xs[0].ndim + 1);
  const parts = xs.map((x) => unsqueeze(x, d));
  const out = cat(parts, d);
  releaseTemporaries(out, parts);
  return out;
}

// Reductions (sum, mean, prod, max/min, argmax/argmin, amax/amin) and softmax/logSoftmax.
// Every reduction is written through `reductionGroups`: for each output element, the list of flat
// input offsets that reduce into it, in row-major order (so "first occurrence" is the lowest offset).
import { RefTensor, normDim, normDims, numel, ravelIndex, unravelIndex } from './tensor';

/** Output shape of reducing `dims` (already normalised) of `shape`. */
export function reducedShape(shape: readonly number[], dims: readonly number[], keepDim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((s, d) => {
    if (!dims.includes(d)) out.push(s);
    else if (keepDim) out.push(1);
  });
  return out;
}

export interface ReductionGroups {
  outShape: number[];
  /** groups[o] = flat input offsets that reduce into flat output offset o, ascending. */
  groups: number[][];
}

export function reductionGroups(
  shape: readonly number[],
  dims: readonly number[],
  keepDim: boolean,
): ReductionGroups {
  const outShape = reducedShape(shape, dims, keepDim);
  const keptShape = reducedShape(shape, dims, true); // same numel as outShape
  const groups: number[][] = Array.from({ length: numel(outShape) }, () => []);
  for (let i = 0; i < numel(shape); i++) {
    const idx = unravelIndex(i, shape);
    const keptIdx = idx.map((v, d) => (dims.includes(d) ? 0 : v));
    groups[ravelIndex(keptIdx, keptShape)].push(i);
  }
  return { outShape, groups };
}

function reduceWith(
  x: RefTensor,
  dims: readonly number[] | undefined,
  keepDim: boolean,
  fn: (values: number[]) => number,
): RefTensor {
  const { outShape, groups } = reductionGroups(x.shape, normDims(dims, x.shape.length), keepDim);
  const data = Float64Array.from(groups, (g) => fn(g.map((i) => x.data[i])));
  return { shape: outShape, data };
}

/** torch.sum(x, dims, keepdim). dims undefined or [] reduces every dim. */
export function sum(x: RefTensor, dims?: number[], keepDim = false): RefTensor {
  return reduceWith(x, dims, keepDim, (v) => v.reduce((s, e) => s + e, 0));
}

/** torch.mean. An empty reduction gives NaN (0/0), like torch. */
export function mean(x: RefTensor, dims?: number[], keepDim = false): RefTensor {
  return reduceWith(x, dims, keepDim, (v) => v.reduce((s, e) => s + e, 0) / v.length);
}

export function prod(x: RefTensor, dims?: number[], keepDim = false): RefTensor {
  return reduceWith(x, dims, keepDim, (v) => v.reduce((p, e) => p * e, 1));
}

/** Position (within the group) of the first maximum (or minimum); a NaN counts as the extreme,
 *  like torch (the first NaN wins). */
export function extremePosition(values: readonly number[], kind: 'max' | 'min'): number {
  if (values.length === 0) throw new Error(`${kind} of an empty reduction`);
  let best = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) return i;
    if (kind === 'max' ? values[i] > values[best] : values[i] < values[best]) best = i;
  }
  return best;
}

function extreme(values: number[], kind: 'max' | 'min'): number {
  return values[extremePosition(values, kind)];
}

/** torch.max(x) (dim undefined: scalar, or all-ones shape with keepDim) or torch.max(x, dim).values. */
export function max(x: RefTensor, dim?: number, keepDim = false): RefTensor {
  const dims = dim === undefined ? undefined : [dim];
  return reduceWith(x, dims, keepDim, (v) => extreme(v, 'max'));
}

export function min(x: RefTensor, dim?: number, keepDim = false): RefTensor {
  const dims = dim === undefined ? undefined : [dim];
  return reduceWith(x, dims, keepDim, (v) => extreme(v, 'min'));
}

/** torch.amax(x, dims, keepdim): max values over several dims (undefined or [] = all). */
export function amax(x: RefTensor, dims?: number[], keepDim = false): RefTensor {
  return reduceWith(x, dims, keepDim, (v) => extreme(v, 'max'));
}

export function amin(x: RefTensor, dims?: number[], keepDim = false): RefTensor {
  return reduceWith(x, dims, keepDim, (v) => extreme(v, 'min'));
}

function argExtreme(x: RefTensor, dim: number | undefined, keepDim: boolean, kind: 'max' | 'min'): RefTensor {
  if (dim === undefined) {
    // torch: index into the flattened tensor; keepdim gives an all-ones shape.
    const pos = extremePosition(Array.from(x.data), kind);
    const shape = keepDim ? x.shape.map(() => 1) : [];
    return { shape, data: Float64Array.of(pos) };
  }
  return reduceWith(x, [dim], keepDim, (v) => extremePosition(v, kind));
}

/** torch.argmax: index of the first maximum along dim (dim undefined: flattened index). */
export function argmax(x: RefTensor, dim?: number, keepDim = false): RefTensor {
  return argExtreme(x, dim, keepDim, 'max');
}

export function argmin(x: RefTensor, dim?: number, keepDim = false): RefTensor {
  return argExtreme(x, dim, keepDim, 'min');
}

/** Applies fn to every 1-D lane of x along dim (values in order), writing the lane it returns. */
export function mapLanes(x: RefTensor, dim: number, fn: (lane: number[]) => number[]): RefTensor {
  const d = normDim(dim, x.shape.length);
  const out = { shape: [...x.shape], data: new Float64Array(x.data.length) };
  if (x.shape.length === 0) {
    out.data[0] = fn([x.data[0]])[0];
    return out;
  }
  const { groups } = reductionGroups(x.shape, [d], true);
  for (const group of groups) {
    const result = fn(group.map((i) => x.data[i]));
    group.forEach((i, k) => (out.data[i] = result[k]));
  }
  return out;
}

/** torch.softmax(x, dim), computed as exp(x - max) / sum(exp(x - max)). */
export function softmax(x: RefTensor, dim: number): RefTensor {
  return mapLanes(x, dim, (lane) => {
    const m = lane.reduce((a, v) => Math.max(a, v), -Infinity);
    const e = lane.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
}

/** torch.log_softmax(x, dim), computed as (x - max) - log(sum(exp(x - max))). */
export function logSoftmax(x: RefTensor, dim: number): RefTensor {
  return mapLanes(x, dim, (lane) => {
    const m = lane.reduce((a, v) => Math.max(a, v), -Infinity);
    const lse = Math.log(lane.reduce((a, v) => a + Math.exp(v - m), 0));
    return lane.map((v) => v - m - lse);
  });
}

// Reductions over any set of dims. The reduced dims are permuted to the end (a free view) and
// one native kernel reduces the trailing block.
import { Tensor } from '../tensor';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { contiguousStrides, normDim, numel } from '../shape';
import { ShapeError, ArgumentError } from '../errors';
import { runKernel } from './kernel';
import { cast, where } from './elementwise';
import { expand, permute, reshape } from './movement';

type ReduceOp = 'sum' | 'prod' | 'max' | 'min' | 'argmax' | 'argmin';
interface Attrs { op: ReduceOp; dims: number[]; keepDim: boolean }

function normDims(x: Tensor, dim: number | number[] | undefined): number[] {
  const list = dim === undefined ? [] : Array.isArray(dim) ? dim : [dim];
  const dims = list.map((d) => normDim(d, x.ndim));
  if (new Set(dims).size !== dims.length) throw new ArgumentError(`reduction dims repeat: ${JSON.stringify(dim)}`);
  if (dims.length === 0) return x.shape.map((_, i) => i);  // like torch: no dims means all
  return dims.filter((d) => d < x.ndim).sort((a, b) => a - b);
}
const keptShape = (x: Tensor, { dims, keepDim }: Attrs) =>
  keepDim ? x.shape.map((s, i) => (dims.includes(i) ? 1 : s)) : x.shape.filter((_, i) => !dims.includes(i));

/** g (shaped like the output) reshaped with the reduced dims kept as 1, then broadcast to x. */
function spread(g: Tensor, x: Tensor, attrs: Attrs): Tensor {
  const kept = reshape(g, x.shape.map((s, i) => (attrs.dims.includes(i) ? 1 : s)));
  const r = expand(kept, [...x.shape]);
  releaseTemporaries(r, [kept]);
  return r;
}

const reduceDef: OpDef<Attrs> = {
  name: 'reduce',
  forward: ([x], attrs) => {
    const order = [...x.shape.keys()].filter((i) => !attrs.dims.includes(i)).concat(attrs.dims);
    const src = x.view_(order.map((d) => x.shape[d]), order.map((d) => x.strides[d]), x.offset);
    const outShape = x.shape.filter((_, i) => !attrs.dims.includes(i));
    const isArg = attrs.op === 'argmax' || attrs.op === 'argmin';
    const out = Tensor.empty(outShape, isArg ? 'int32' : x.dtype, x.device);
    try {
      runKernel('reduce', [src], [out], { op: attrs.op, reduceDims: attrs.dims.length });
    } finally {
      src.dispose();
    }
    if (!attrs.keepDim) return out;
    const shape = keptShape(x, attrs);
    const r = out.view_(shape, contiguousStrides(shape), 0);
    out.dispose();
    return r;
  },
  backward: ({ inputs: [x], output, attrs }, g) => {
    if (attrs.op === 'sum') return [spread(g, x, attrs)];
    if (attrs.op === 'prod') {
      // d prod / d x_i = product of the others, computed without dividing by zero
      const isZero = x.eq(0);
      const zeros = spread(isZero.int().sum(attrs.dims, attrs.keepDim), x, attrs);
      const nonzeroProd = spread(where(isZero, 1, x).prod(attrs.dims, attrs.keepDim), x, attrs);
      const others = where(isZero, where(zeros.eq(1), nonzeroProd, 0), where(zeros.eq(0), spread(output, x, attrs).div(x), 0));
      return [others.mul(spread(g, x, attrs))];
    }
    // max/min: the gradient is shared evenly among the tied extremes
    const mask = x.eq(spread(output, x, attrs)).float();
    const count = spread(mask.sum(attrs.dims, attrs.keepDim), x, attrs);
    return [mask.div(count).mul(spread(g, x, attrs))];
  },
};

function reduce(op: ReduceOp, x: Tensor, dim: number | number[] | undefined, keepDim: boolean): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(`${op}: expected a Tensor`);
  const attrs: Attrs = { op, dims: normDims(x, dim), keepDim };
  if ((op === 'max' || op === 'min') && numel(attrs.dims.map((d) => x.shape[d])) === 0)
    throw new ShapeError(`${op}: cannot reduce an empty dimension`);
  if (x.dtype === 'bool') {
    const i = cast(x, 'int32');
    const r = apply(reduceDef, [i], attrs);
    i.dispose();
    return r;
  }
  return apply(reduceDef, [x], attrs);
}

export const sum = (x: Tensor, dim?: number | number[], keepDim = false) => reduce('sum', x, dim, keepDim);
export const prod = (x: Tensor, dim?: number | number[], keepDim = false) => reduce('prod', x, dim, keepDim);
export const max = (x: Tensor, dim?: number | number[], keepDim = false) => reduce('max', x, dim, keepDim);
export const min = (x: Tensor, dim?: number | number[], keepDim = false) => reduce('min', x, dim, keepDim);

export function mean(x: Tensor, dim?: number | number[], keepDim = false): Tensor {
  const f = x.dtype === 'float32' ? x : cast(x, 'float32');
  const n = numel(normDims(x, dim).map((d) => x.shape[d]));
  const s = sum(f, dim, keepDim);
  const r = s.div(n);
  releaseTemporaries(r, f === x ? [s] : [s, f]);
  return r;
}

/** Index of the first extreme along dim, or in the flattened tensor when dim is undefined. */
function argReduce(op: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepDim: boolean): Tensor {
  if (x.size === 0) throw new ShapeError(`${op}: cannot take the ${op} of an empty tensor`);
  if (dim !== undefined) return reduce(op, x, dim, keepDim);
  const flat = reshape(x, [x.size]);
  const r = reduce(op, flat, 0, false);
  flat.dispose();
  if (!keepDim) return r;
  const k = reshape(r, x.shape.map(() => 1));
  r.dispose();
  return k;
}
export const argmax = (x: Tensor, dim?: number, keepDim = false) => argReduce('argmax', x, dim, keepDim);
export const argmin = (x: Tensor, dim?: number, keepDim = false) => argReduce('argmin', x, dim, keepDim);

// Reference vector-Jacobian products, one per differentiable forward op.
//
// Uniform API: vjp.<op>(<the forward op's arguments, in the same order>, g) returns an array with
// one gradient per differentiable tensor input, in argument order, each shaped like that input.
// `g` is the gradient of the op's output (same shape as the output). Index tensors and conditions
// get no gradient. Examples:
//   vjp.binary('mul', a, b, g)            -> [ga, gb]
//   vjp.sum(x, dims, keepDim, g)          -> [gx]
//   vjp.where(cond, a, b, g)              -> [ga, gb]
//   vjp.scatterAdd(x, dim, index, src, g) -> [gx, gsrc]
//   vjp.cat(xs, dim, g)                   -> one gradient per element of xs
// Broadcasting is summed back to each input's shape. Tie and edge conventions follow torch and
// are documented on each function.
import { BinaryOp, UnaryOp, binary, sigmoidScalar, unary, where as whereOp } from './elementwise';
import { matmul as matmulOp } from './linalg';
import {
  expand as expandOp, gather as gatherOp, inversePermutation, permute as permuteOp, reshape as reshapeOp,
  scatterAdd as scatterAddOp, sliceIndices, transpose as transposeOp, unsqueeze as unsqueezeOp,
} from './movement';
import {
  extremePosition, logSoftmax as logSoftmaxOp, reductionGroups, softmax as softmaxOp, sum as sumOp,
} from './reduce';
import {
  RefTensor, broadcastShapes, getBroadcast, make, normDim, normDims, ravelIndex, sameShape, sumToShape,
  unravelIndex, zeros,
} from './tensor';

function checkGrad(op: string, g: RefTensor, outShape: readonly number[]): void {
  if (!sameShape(g.shape, outShape)) {
    throw new Error(`vjp.${op}: gradient shape [${g.shape.join(', ')}] != output shape [${outShape.join(', ')}]`);
  }
}

/** d out / d x for each unary op, as a function of x (elementwise). floor/ceil/round/sign have
 *  zero gradient everywhere, like torch. abs and relu give 0 at x == 0, like torch. */
const unaryDerivative: Record<UnaryOp, (x: number) => number> = {
  neg: () => -1,
  abs: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  sign: () => 0,
  exp: (x) => Math.exp(x),
  log: (x) => 1 / x,
  sqrt: (x) => 0.5 / Math.sqrt(x),
  rsqrt: (x) => -0.5 * Math.pow(x, -1.5),
  sin: (x) => Math.cos(x),
  cos: (x) => -Math.sin(x),
  tanh: (x) => 1 - Math.tanh(x) ** 2,
  sigmoid: (x) => sigmoidScalar(x) * (1 - sigmoidScalar(x)),
  relu: (x) => (x > 0 ? 1 : 0),
  floor: () => 0,
  ceil: () => 0,
  round: () => 0,
  reciprocal: (x) => -1 / (x * x),
  square: (x) => 2 * x,
};

/** Partial derivatives (d/da, d/db) of each differentiable binary op at one point. */
const binaryPartials: Partial<Record<BinaryOp, (a: number, b: number) => [number, number]>> = {
  add: () => [1, 1],
  sub: () => [1, -1],
  mul: (a, b) => [b, a],
  div: (a, b) => [1 / b, -a / (b * b)],
  // torch: d/da = b * a^(b-1), but exactly 0 where b == 0.
  //        d/db = a^b * log(a), but exactly 0 where a == 0 and b >= 0.
  // For a < 0 log(a) is NaN, so d/db is NaN there (as in torch).
  pow: (a, b) => [
    b === 0 ? 0 : b * Math.pow(a, b - 1),
    a === 0 && b >= 0 ? 0 : Math.pow(a, b) * Math.log(a),
  ],
  // torch: ties split the gradient in half between the two inputs.
  maximum: (a, b) => (a === b ? [0.5, 0.5] : a > b ? [1, 0] : [0, 1]),
  minimum: (a, b) => (a === b ? [0.5, 0.5] : a < b ? [1, 0] : [0, 1]),
};

/** Gradient of a reduction whose output element o reads input offsets groups[o] with the given
 *  weights (weights[o][k] multiplies g[o] for input groups[o][k]). */
function scatterGroups(xShape: readonly number[], groups: number[][], weights: number[][], g: RefTensor): RefTensor {
  const gx = zeros(xShape);
  groups.forEach((group, o) => group.forEach((i, k) => (gx.data[i] += g.data[o] * weights[o][k])));
  return gx;
}

function reductionVjp(
  op: string,
  x: RefTensor,
  dims: readonly number[] | undefined,
  keepDim: boolean,
  g: RefTensor,
  weightsOf: (values: number[]) => number[],
): RefTensor[] {
  const { outShape, groups } = reductionGroups(x.shape, normDims(dims, x.shape.length), keepDim);
  checkGrad(op, g, outShape);
  const weights = groups.map((group) => weightsOf(group.map((i) => x.data[i])));
  return [scatterGroups(x.shape, groups, weights, g)];
}

/** Weights for max/min: 1 on the first extreme (torch's max(dim)/min(dim) choose one index). */
const firstExtreme = (kind: 'max' | 'min') => (values: number[]): number[] => {
  const pos = extremePosition(values, kind);
  return values.map((_, k) => (k === pos ? 1 : 0));
};

/** Weights for full max()/min() and amax/amin: split evenly among all tied extremes (torch). */
const evenAmongTies = (kind: 'max' | 'min') => (values: number[]): number[] => {
  const best = values[extremePosition(values, kind)];
  const ties = values.filter((v) => v === best).length;
  return values.map((v) => (v === best ? 1 / ties : 0));
};

/** Gradient of an op that only moves elements: out.data[o] came from x.data[source[o]]. */
function gatherBack(xShape: readonly number[], outShape: readonly number[], source: (outIdx: number[]) => number[], g: RefTensor, op: string): RefTensor {
  checkGrad(op, g, outShape);
  const gx = zeros(xShape);
  for (let o = 0; o < g.data.length; o++) {
    gx.data[ravelIndex(source(unravelIndex(o, outShape)), xShape)] += g.data[o];
  }
  return gx;
}

function laneSums(t: RefTensor, dim: number): RefTensor {
  return t.shape.length === 0 ? t : sumOp(t, [dim], true);
}

export const vjp = {
  unary(name: UnaryOp, x: RefTensor, g: RefTensor): RefTensor[] {
    checkGrad(`unary('${name}')`, g, x.shape);
    const d = unaryDerivative[name];
    if (!d) throw new Error(`vjp.unary: unknown op '${name}'`);
    return [{ shape: [...x.shape], data: x.data.map((v, i) => g.data[i] * d(v)) }];
  },

  /** Comparisons (eq, ne, lt, le, gt, ge) are not differentiable and throw. */
  binary(name: BinaryOp, a: RefTensor, b: RefTensor, g: RefTensor): RefTensor[] {
    const partials = binaryPartials[name];
    if (!partials) throw new Error(`vjp.binary: '${name}' is not differentiable`);
    const shape = broadcastShapes(a.shape, b.shape);
    checkGrad(`binary('${name}')`, g, shape);
    const ga = make(shape, (idx) => g.data[ravelIndex(idx, shape)] * partials(getBroadcast(a, idx), getBroadcast(b, idx))[0]);
    const gb = make(shape, (idx) => g.data[ravelIndex(idx, shape)] * partials(getBroadcast(a, idx), getBroadcast(b, idx))[1]);
    return [sumToShape(ga, a.shape), sumToShape(gb, b.shape)];
  },

  /** -> [ga, gb]; cond gets none. */
  where(cond: RefTensor, a: RefTensor, b: RefTensor, g: RefTensor): RefTensor[] {
    const shape = broadcastShapes(cond.shape, a.shape, b.shape);
    checkGrad('where', g, shape);
    const zero = zeros([]);
    const gFull = expandOp(g, shape);
    return [sumToShape(whereOp(cond, gFull, zero), a.shape), sumToShape(whereOp(cond, zero, gFull), b.shape)];
  },

  sum(x: RefTensor, dims: number[] | undefined, keepDim: boolean, g: RefTensor): RefTensor[] {
    return reductionVjp('sum', x, dims, keepDim, g, (v) => v.map(() => 1));
  },

  mean(x: RefTensor, dims: number[] | undefined, keepDim: boolean, g: RefTensor): RefTensor[] {
    return reductionVjp('mean', x, dims, keepDim, g, (v) => v.map(() => 1 / v.length));
  },

  /** d prod / d x_k = product of the other elements (exact, also when some x are 0). */
  prod(x: RefTensor, dims: number[] | undefined, keepDim: boolean, g: RefTensor): RefTensor[] {
    return reductionVjp('prod', x, dims, keepDim, g, (v) =>
      v.map((_, k) => v.reduce((p, e, j) => (j === k ? p : p * e), 1)));
  },

  /** dim given: all of g to the first maximum (torch.max(x, dim)). dim undefined (torch's x.max()):
   *  split evenly among tied maxima. */
  max(x: RefTensor, dim: number | undefined, keepDim: boolean, g: RefTensor): RefTensor[] {
    const weights = dim === undefined ? evenAmongTies('max') : firstExtreme('max');
    return reductionVjp('max', x, dim === undefined ? undefined : [dim], keepDim, g, weights);
  },

  min(x: RefTensor, dim: number | undefined, keepDim: boolean, g: RefTensor): RefTensor[] {
    const weights = dim === undefined ? evenAmongTies('min') : firstExtreme('min');
    return reductionVjp('min', x, dim === undefined ? undefined : [dim], keepDim, g, weights);
  },

  /** torch.amax: split evenly among tied maxima within each reduced group. */
  amax(x: RefTensor, dims: number[] | undefined, keepDim: boolean, g: RefTensor): RefTensor[] {
    return reductionVjp('amax', x, dims, keepDim, g, evenAmongTies('max'));
  },

  amin(x: RefTensor, dims: number[] | undefined, keepDim: boolean, g: RefTensor): RefTensor[] {
    return reductionVjp('amin', x, dims, keepDim, g, evenAmongTies('min'));
  },

  /** -> [ga, gb] = [g @ b^T, a^T @ g], with 1-D promotion undone and broadcast batch dims summed. */
  matmul(a: RefTensor, b: RefTensor, g: RefTensor): RefTensor[] {
    checkGrad('matmul', g, matmulOp(a, b).shape);
    const a2 = a.shape.length === 1 ? unsqueezeOp(a, 0) : a; // [1, k]
    const b2 = b.shape.length === 1 ? unsqueezeOp(b, -1) : b; // [k, 1]
    let g2 = g;
    if (a.shape.length === 1) g2 = unsqueezeOp(g2, b.shape.length === 1 ? 0 : -2);
    if (b.shape.length === 1) g2 = unsqueezeOp(g2, -1);
    const gaFull = matmulOp(g2, transposeOp(b2, -1, -2)); // [...batch, n, k]
    const gbFull = matmulOp(transposeOp(a2, -1, -2), g2); // [...batch, k, p]
    return [reshapeOp(sumToShape(gaFull, a2.shape), a.shape), reshapeOp(sumToShape(gbFull, b2.shape), b.shape)];
  },

  reshape(x: RefTensor, _shape: readonly number[], g: RefTensor): RefTensor[] {
    if (g.data.length !== x.data.length) throw new Error('vjp.reshape: gradient has the wrong size');
    return [reshapeOp(g, x.shape)];
  },

  transpose(x: RefTensor, dim0: number, dim1: number, g: RefTensor): RefTensor[] {
    checkGrad('transpose', g, transposeOp(x, dim0, dim1).shape);
    return [transposeOp(g, dim0, dim1)];
  },

  permute(x: RefTensor, dims: readonly number[], g: RefTensor): RefTensor[] {
    checkGrad('permute', g, permuteOp(x, dims).shape);
    return [permuteOp(g, inversePermutation(dims))];
  },

  expand(x: RefTensor, shape: readonly number[], g: RefTensor): RefTensor[] {
    checkGrad('expand', g, expandOp(x, shape).shape);
    return [sumToShape(g, x.shape)];
  },

  slice(x: RefTensor, dim: number, start: number | undefined, end: number | undefined, step: number, g: RefTensor): RefTensor[] {
    const d = normDim(dim, x.shape.length);
    const picked = sliceIndices(x.shape[d], start, end, step);
    const outShape = [...x.shape];
    outShape[d] = picked.length;
    return [gatherBack(x.shape, outShape, (idx) => idx.map((v, k) => (k === d ? picked[v] : v)), g, 'slice')];
  },

  /** -> one gradient per input, the matching block of g along dim. */
  cat(xs: readonly RefTensor[], dim: number, g: RefTensor): RefTensor[] {
    const d = normDim(dim, xs[0].shape.length);
    let offset = 0;
    return xs.map((x) => {
      const start = offset;
      offset += x.shape[d];
      return make(x.shape, (idx) => {
        const gIdx = [...idx];
        gIdx[d] += start;
        return g.data[ravelIndex(gIdx, g.shape)];
      });
    });
  },

  stack(xs: readonly RefTensor[], dim: number, g: RefTensor): RefTensor[] {
    const d = normDim(dim, xs[0].shape.length + 1);
    return xs.map((x, k) => make(x.shape, (idx) => {
      const gIdx = [...idx];
      gIdx.splice(d, 0, k);
      return g.data[ravelIndex(gIdx, g.shape)];
    }));
  },

  squeeze(x: RefTensor, _dim: number | number[] | undefined, g: RefTensor): RefTensor[] {
    return [reshapeOp(g, x.shape)];
  },

  unsqueeze(x: RefTensor, _dim: number, g: RefTensor): RefTensor[] {
    return [reshapeOp(g, x.shape)];
  },

  flatten(x: RefTensor, _startDim: number, _endDim: number, g: RefTensor): RefTensor[] {
    return [reshapeOp(g, x.shape)];
  },

  /** -> [gx]: g scatter-added back to where each element was gathered from. */
  gather(x: RefTensor, dim: number, index: RefTensor, g: RefTensor): RefTensor[] {
    checkGrad('gather', g, index.shape);
    return [scatterAddOp(zeros(x.shape), dim, index, g)];
  },

  /** -> [gx, gsrc]: gx = g; gsrc = g gathered at index, and 0 for src elements outside index's
   *  extent (they never reach the output). */
  scatterAdd(x: RefTensor, dim: number, index: RefTensor, src: RefTensor, g: RefTensor): RefTensor[] {
    checkGrad('scatterAdd', g, x.shape);
    const picked = gatherOp(g, dim, index); // index's shape
    const gsrc = make(src.shape, (idx) =>
      idx.every((v, k) => v < index.shape[k]) ? picked.data[ravelIndex(idx, index.shape)] : 0);
    return [{ shape: [...x.shape], data: Float64Array.from(g.data) }, gsrc];
  },

  /** -> [gx]: index_add of g into zeros (repeated indices accumulate). */
  indexSelect(x: RefTensor, dim: number, index: RefTensor, g: RefTensor): RefTensor[] {
    if (x.shape.length === 0) {
      return [{ shape: [], data: Float64Array.of(g.data.reduce((s, v) => s + v, 0)) }];
    }
    const d = normDim(dim, x.shape.length);
    const outShape = [...x.shape];
    outShape[d] = index.data.length;
    return [gatherBack(x.shape, outShape, (idx) => idx.map((v, k) => (k === d ? index.data[v] : v)), g, 'indexSelect')];
  },

  /** y = softmax(x): gx = y * (g - sum(g * y, dim)). */
  softmax(x: RefTensor, dim: number, g: RefTensor): RefTensor[] {
    checkGrad('softmax', g, x.shape);
    const y = softmaxOp(x, dim);
    const gy = binary('mul', g, y);
    return [binary('mul', y, binary('sub', g, laneSums(gy, dim)))];
  },

  /** y = logSoftmax(x): gx = g - exp(y) * sum(g, dim). */
  logSoftmax(x: RefTensor, dim: number, g: RefTensor): RefTensor[] {
    checkGrad('logSoftmax', g, x.shape);
    const p = unary('exp', logSoftmaxOp(x, dim));
    return [binary('sub', g, binary('mul', p, laneSums(g, dim)))];
  },
};

export type VjpOp = keyof typeof vjp;

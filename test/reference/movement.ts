// Movement and indexing ops: every one returns a fresh contiguous tensor (the reference has no views).
import {
  RefTensor, clone, make, normDim, numel, ravelIndex, sameShape, unravelIndex,
} from './tensor';

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** torch.reshape; at most one -1, inferred from the element count. */
export function reshape(x: RefTensor, shape: readonly number[]): RefTensor {
  const inferred = [...shape];
  const minusOnes = shape.filter((s) => s === -1).length;
  if (minusOnes > 1) throw new Error(`reshape: only one -1 allowed in ${shapeStr(shape)}`);
  if (minusOnes === 1) {
    const known = numel(shape.filter((s) => s !== -1));
    if (known === 0 || x.data.length % known !== 0) {
      throw new Error(`reshape: cannot infer -1 in ${shapeStr(shape)} for ${x.data.length} elements`);
    }
    inferred[shape.indexOf(-1)] = x.data.length / known;
  }
  if (inferred.some((s) => !Number.isInteger(s) || s < 0) || numel(inferred) !== x.data.length) {
    throw new Error(`reshape: ${shapeStr(x.shape)} cannot become ${shapeStr(shape)}`);
  }
  return { shape: inferred, data: Float64Array.from(x.data) };
}

/** torch.permute: out dim i is input dim dims[i]. */
export function permute(x: RefTensor, dims: readonly number[]): RefTensor {
  const nd = x.shape.length;
  const perm = dims.map((d) => normDim(d, nd));
  if (perm.length !== nd || new Set(perm).size !== nd) {
    throw new Error(`permute: ${shapeStr(dims)} is not a permutation of ${nd} dims`);
  }
  if (nd === 0) return clone(x);
  const outShape = perm.map((d) => x.shape[d]);
  return make(outShape, (outIdx) => {
    const inIdx = new Array<number>(nd);
    perm.forEach((d, i) => (inIdx[d] = outIdx[i]));
    return x.data[ravelIndex(inIdx, x.shape)];
  });
}

/** The permutation that undoes `dims`. */
export function inversePermutation(dims: readonly number[]): number[] {
  const nd = dims.length;
  const inv = new Array<number>(nd);
  dims.forEach((d, i) => (inv[normDim(d, nd)] = i));
  return inv;
}

export function transpose(x: RefTensor, dim0: number, dim1: number): RefTensor {
  const nd = x.shape.length;
  const d0 = normDim(dim0, nd);
  const d1 = normDim(dim1, nd);
  if (nd === 0) return clone(x);
  const perm = [...Array(nd).keys()];
  perm[d0] = d1;
  perm[d1] = d0;
  return permute(x, perm);
}

/** torch.Tensor.expand: size-1 dims repeat, new leading dims may be added, -1 keeps a size. */
export function expand(x: RefTensor, shape: readonly number[]): RefTensor {
  const lead = shape.length - x.shape.length;
  if (lead < 0) throw new Error(`expand: ${shapeStr(shape)} has fewer dims than ${shapeStr(x.shape)}`);
  const target = shape.map((s, d) => {
    if (d < lead) {
      if (s < 0) throw new Error(`expand: -1 not allowed for a new leading dim in ${shapeStr(shape)}`);
      return s;
    }
    const have = x.shape[d - lead];
    if (s === -1 || s === have) return have;
    if (have === 1 && s >= 0) return s;
    throw new Error(`expand: ${shapeStr(x.shape)} cannot expand to ${shapeStr(shape)}`);
  });
  return make(target, (idx) => {
    const inIdx = x.shape.map((s, d) => (s === 1 ? 0 : idx[lead + d]));
    return x.data[ravelIndex(inIdx, x.shape)];
  });
}

/** Python slice bounds: negatives count from the end, then clamp to [0, size]. */
export function sliceIndices(size: number, start?: number, end?: number, step = 1): number[] {
  if (!Number.isInteger(step) || step <= 0) throw new Error(`slice: step must be a positive integer, got ${step}`);
  const clampBound = (v: number | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    const w = v < 0 ? v + size : v;
    return Math.min(Math.max(w, 0), size);
  };
  const lo = clampBound(start, 0);
  const hi = clampBound(end, size);
  const out: number[] = [];
  for (let i = lo; i < hi; i += step) out.push(i);
  return out;
}

/** x[..., start:end:step] along dim (undefined start/end = Python's omitted bound). */
export function slice(x: RefTensor, dim: number, start?: number, end?: number, step = 1): RefTensor {
  if (x.shape.length === 0) throw new Error('slice: cannot slice a scalar');
  const d = normDim(dim, x.shape.length);
  const picked = sliceIndices(x.shape[d], start, end, step);
  return indexSelect(x, d, { shape: [picked.length], data: Float64Array.from(picked) });
}

/** torch.cat: all tensors have the same shape except along dim. */
export function cat(xs: readonly RefTensor[], dim: number): RefTensor {
  if (xs.length === 0) throw new Error('cat: needs at least one tensor');
  const nd = xs[0].shape.length;
  if (nd === 0) throw new Error('cat: zero-dimensional tensors cannot be concatenated');
  const d = normDim(dim, nd);
  for (const x of xs) {
    if (x.shape.length !== nd || x.shape.some((s, i) => i !== d && s !== xs[0].shape[i])) {
      throw new Error(`cat: shapes ${xs.map((t) => shapeStr(t.shape)).join(' ')} differ outside dim ${d}`);
    }
  }
  const outShape = [...xs[0].shape];
  outShape[d] = xs.reduce((n, x) => n + x.shape[d], 0);
  return make(outShape, (idx) => {
    let i = idx[d];
    for (const x of xs) {
      if (i < x.shape[d]) {
        const inIdx = [...idx];
        inIdx[d] = i;
        return x.data[ravelIndex(inIdx, x.shape)];
      }
      i -= x.shape[d];
    }
    throw new Error('cat: internal index error');
  });
}

/** torch.stack: equal shapes, new dim inserted at dim (range [-(nd+1), nd]). */
export function stack(xs: readonly RefTensor[], dim: number): RefTensor {
  if (xs.length === 0) throw new Error('stack: needs at least one tensor');
  for (const x of xs) {
    if (!sameShape(x.shape, xs[0].shape)) {
      throw new Error(`stack: shapes ${xs.map((t) => shapeStr(t.shape)).join(' ')} differ`);
    }
  }
  const d = normDim(dim, xs[0].shape.length + 1);
  return cat(xs.map((x) => unsqueeze(x, d)), d);
}

/** torch.squeeze: no dim removes every size-1 dim; a listed dim whose size is not 1 is kept. */
export function squeeze(x: RefTensor, dim?: number | number[]): RefTensor {
  const nd = x.shape.length;
  const dims = dim === undefined ? [...Array(nd).keys()] : (Array.isArray(dim) ? dim : [dim]).map((d) => normDim(d, nd));
  const shape = x.shape.filter((s, d) => !(s === 1 && dims.includes(d)));
  return { shape, data: Float64Array.from(x.data) };
}

/** torch.unsqueeze: dim in [-(nd+1), nd]. */
export function unsqueeze(x: RefTensor, dim: number): RefTensor {
  const d = normDim(dim, x.shape.length + 1);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return { shape, data: Float64Array.from(x.data) };
}

/** torch.flatten: merges dims startDim..endDim; a scalar becomes shape [1]. */
export function flatten(x: RefTensor, startDim = 0, endDim = -1): RefTensor {
  const nd = x.shape.length;
  if (nd === 0) return { shape: [1], data: Float64Array.from(x.data) };
  const s = normDim(startDim, nd);
  const e = normDim(endDim, nd);
  if (s > e) throw new Error(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return { shape, data: Float64Array.from(x.data) };
}

/** torch.gather, scatter_add and index_select all reject negative indices (no wrapping). */
function checkIndex(i: number, size: number, op: string): number {
  if (!Number.isInteger(i) || i < 0 || i >= size) throw new Error(`${op}: index ${i} out of range for size ${size}`);
  return i;
}

/** Shape checks shared by gather and scatterAdd: same ndim, index.size(d) <= other.size(d) for d != dim. */
function checkIndexShape(op: string, x: RefTensor, dim: number, index: RefTensor, other: RefTensor): void {
  const nd = Math.max(x.shape.length, 1);
  const idxNd = Math.max(index.shape.length, 1);
  const otherNd = Math.max(other.shape.length, 1);
  if (idxNd !== nd || otherNd !== nd) throw new Error(`${op}: index and tensors need the same number of dims`);
  index.shape.forEach((s, d) => {
    if (d !== dim && s > (x.shape[d] ?? 1)) throw new Error(`${op}: index ${shapeStr(index.shape)} too large for ${shapeStr(x.shape)}`);
    if (s > (other.shape[d] ?? 1)) throw new Error(`${op}: index ${shapeStr(index.shape)} too large for ${shapeStr(other.shape)}`);
  });
}

/** torch.gather: out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and so on); out has index's shape. */
export function gather(x: RefTensor, dim: number, index: RefTensor): RefTensor {
  const d = normDim(dim, x.shape.length);
  checkIndexShape('gather', x, d, index, index);
  if (x.shape.length === 0) {
    return make(index.shape, (idx) => (checkIndex(index.data[ravelIndex(idx, index.shape)], 1, 'gather'), x.data[0]));
  }
  return make(index.shape, (idx) => {
    const i = index.data[ravelIndex(idx, index.shape)];
    const inIdx = [...idx];
    inIdx[d] = checkIndex(i, x.shape[d], 'gather');
    return x.data[ravelIndex(inIdx, x.shape)];
  });
}

/** torch.scatter_add (out-of-place): out = x.clone(); out[index[i][j]][j] += src[i][j] (dim 0),
 *  iterating over index's shape (src may be larger than index; its extra elements are unused). */
export function scatterAdd(x: RefTensor, dim: number, index: RefTensor, src: RefTensor): RefTensor {
  const d = normDim(dim, x.shape.length);
  checkIndexShape('scatterAdd', x, d, index, src);
  const out = clone(x);
  for (let f = 0; f < index.data.length; f++) {
    const idx = unravelIndex(f, index.shape);
    const i = index.data[f];
    const outIdx = [...idx];
    if (x.shape.length > 0) outIdx[d] = checkIndex(i, x.shape[d], 'scatterAdd');
    else checkIndex(i, 1, 'scatterAdd');
    out.data[ravelIndex(outIdx, x.shape)] += src.data[ravelIndex(idx, src.shape)];
  }
  return out;
}

/** torch.index_select: picks slices along dim by a 1-D (or 0-d) index. */
export function indexSelect(x: RefTensor, dim: number, index: RefTensor): RefTensor {
  if (index.shape.length > 1) throw new Error('indexSelect: index must be 1-D');
  if (x.shape.length === 0) {
    const picked = Array.from(index.data, (i) => (checkIndex(i, 1, 'indexSelect'), x.data[0]));
    return { shape: index.shape.length === 0 ? [] : [picked.length], data: Float64Array.from(picked) };
  }
  const d = normDim(dim, x.shape.length);
  const outShape = [...x.shape];
  outShape[d] = index.data.length;
  return make(outShape, (idx) => {
    const inIdx = [...idx];
    inIdx[d] = checkIndex(index.data[idx[d]], x.shape[d], 'indexSelect');
    return x.data[ravelIndex(inIdx, x.shape)];
  });
}

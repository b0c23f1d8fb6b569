// torch.matmul in float64, with its full shape rules.
import { RefTensor, broadcastShapes, make, numel, ravelIndex } from './tensor';

/**
 * torch.matmul(a, b):
 * - 1-D · 1-D: dot product, a scalar.
 * - 2-D · 2-D: matrix product.
 * - 1-D on the left is treated as [1, k] and 1-D on the right as [k, 1]; the added dim is removed
 *   from the result.
 * - otherwise batched: the leading (batch) dims broadcast, the last two multiply.
 * 0-d inputs are an error, as in torch.
 */
export function matmul(a: RefTensor, b: RefTensor): RefTensor {
  if (a.shape.length === 0 || b.shape.length === 0) throw new Error('matmul: both arguments need at least 1 dim');
  const aMat = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bMat = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const n = aMat[aMat.length - 2];
  const k = aMat[aMat.length - 1];
  const p = bMat[bMat.length - 1];
  if (bMat[bMat.length - 2] !== k) {
    throw new Error(`matmul: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] cannot be multiplied`);
  }
  const aBatch = aMat.slice(0, -2);
  const bBatch = bMat.slice(0, -2);
  const batch = broadcastShapes(aBatch, bBatch);

  const readA = (bIdx: number[], i: number, j: number): number => {
    const lead = batch.length - aBatch.length;
    const idx = aBatch.map((s, d) => (s === 1 ? 0 : bIdx[lead + d]));
    return a.data[ravelIndex([...idx, i, j], aMat)];
  };
  const readB = (bIdx: number[], i: number, j: number): number => {
    const lead = batch.length - bBatch.length;
    const idx = bBatch.map((s, d) => (s === 1 ? 0 : bIdx[lead + d]));
    return b.data[ravelIndex([...idx, i, j], bMat)];
  };

  const full = make([...batch, n, p], (idx) => {
    const bIdx = idx.slice(0, -2);
    const i = idx[idx.length - 2];
    const j = idx[idx.length - 1];
    let acc = 0;
    for (let t = 0; t < k; t++) acc += readA(bIdx, i, t) * readB(bIdx, t, j);
    return acc;
  });

  const shape = [...batch];
  if (a.shape.length > 1) shape.push(n);
  if (b.shape.length > 1) shape.push(p);
  if (numel(shape) !== full.data.length) throw new Error('matmul: internal shape error');
  return { shape, data: full.data };
}

// matmul with torch.matmul's rules: 1-D operands are promoted and the added dim removed, batch
// dims broadcast. The primitive is a batched [..., M, K] x [..., K, N] product whose operands
// may be any strided views (transposes and broadcasts are never copied).
import { Tensor } from '../tensor';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { broadcastShapes, fmt } from '../shape';
import { ShapeError, DTypeError, ArgumentError } from '../errors';
import { runKernel } from './kernel';
import { precisionCode } from '../precision';
import { expand, transpose, unsqueeze, squeeze } from './movement';

// One frozen attrs object per precision, so the kernel layer compiles each once (see runKernel).
const precisionAttrs = [0, 1, 2].map((p) => Object.freeze({ precision: p }));

const matmulDef: OpDef<void> = {
  name: 'matmul',
  forward: ([a, b]) => {
    const out = Tensor.empty([...a.shape.slice(0, -1), b.shape[b.ndim - 1]], 'float32', a.device);
    runKernel('matmul', [a, b], [out], precisionAttrs[precisionCode()]);
    return out;
  },
  backward: ({ inputs: [a, b] }, g) => [matmul(g, transpose(b, -1, -2)), matmul(transpose(a, -1, -2), g)],
};

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) throw new ArgumentError('matmul expects two Tensors');
  if (a.dtype !== 'float32' || b.dtype !== 'float32')
    throw new DTypeError(`matmul needs float32 operands, got ${a.dtype} and ${b.dtype}`);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError('matmul: both operands need at least one dim');
  const temps: Tensor[] = [];
  const temp = (t: Tensor) => (temps.push(t), t);
  const A = a.ndim === 1 ? temp(unsqueeze(a, 0)) : a;
  const B = b.ndim === 1 ? temp(unsqueeze(b, 1)) : b;
  const K = A.shape[A.ndim - 1];
  if (B.shape[B.ndim - 2] !== K)
    throw new ShapeError(`matmul: shapes ${fmt(a.shape)} and ${fmt(b.shape)} cannot be multiplied (${K} vs ${B.shape[B.ndim - 2]})`);
  const batch = broadcastShapes(A.shape.slice(0, -2), B.shape.slice(0, -2));
  const EA = temp(expand(A, [...batch, A.shape[A.ndim - 2], K]));
  const EB = temp(expand(B, [...batch, K, B.shape[B.ndim - 1]]));
  let out = apply(matmulDef, [EA, EB], undefined);
  releaseTemporaries(out, temps);
  // remove the dims that 1-D operands added (counted before either is removed: 1-D x 1-D is 0-d)
  const added = [a.ndim === 1 ? out.ndim - 2 : -1, b.ndim === 1 ? out.ndim - 1 : -1].filter((d) => d >= 0);
  if (added.length === 0) return out;
  const s = squeeze(out, added);
  releaseTemporaries(s, [out]);
  return s;
}

/** y = x · wᵀ + b, as torch.nn.functional.linear: x [..., in], w [out, in], b [out]. */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  if (!(w instanceof Tensor) || w.ndim !== 2) throw new ShapeError('linear: weight must be a 2-D Tensor [out, in]');
  if (b && (b.ndim !== 1 || b.shape[0] !== w.shape[0]))
    throw new ShapeError(`linear: bias must have shape [${w.shape[0]}], got ${fmt(b.shape)}`);
  const wt = transpose(w, 0, 1);
  const y = matmul(x, wt);
  releaseTemporaries(y, [wt]);
  if (!b) return y;
  const out = y.add(b);
  releaseTemporaries(out, [y]);
  return out;
}

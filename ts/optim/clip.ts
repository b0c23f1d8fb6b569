// Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_, PyTorch 1.13): both
// change the gradients in place through small native kernels (gradNorm, gradScale, gradClamp).
import { Tensor } from '../tensor';
import { ArgumentError, DTypeError, ValueError } from '../errors';
import { runKernel } from '../ops/kernel';

function gradsOf(fn: string, params: Tensor | Iterable<Tensor>): Tensor[] {
  const list = params instanceof Tensor ? [params]
    : params !== null && typeof params === 'object' && typeof (params as Iterable<Tensor>)[Symbol.iterator] === 'function' ? [...params]
    : null;
  if (list === null) throw new ArgumentError(`${fn}: params must be a Tensor or an iterable of Tensors`);
  const grads: Tensor[] = [];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new ArgumentError(`${fn}: params[${i}] must be a Tensor`);
    if (!p.grad) return;
    if (p.grad.dtype !== 'float32') throw new DTypeError(`${fn}: params[${i}].grad must be float32, got ${p.grad.dtype}`);
    p.grad.assertAlive();
    grads.push(p.grad);
  });
  return grads;
}

/**
 * Scales all gradients together so that their joint normType-norm (as if concatenated into one
 * vector) is at most maxNorm: each grad ·= min(1, maxNorm / (total + 1e-6)). Params without a
 * grad are ignored. Returns the total norm before clipping (float32, as torch computes it; 0
 * when no param has a grad). normType: any p > 0, or Infinity (the largest |g|).
 * errorIfNonfinite: throw (ValueError) instead of scaling when the total norm is NaN or infinite.
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, normType = 2,
  opts: { errorIfNonfinite?: boolean } = {}): number {
  const fn = 'clipGradNorm';
  if (typeof maxNorm !== 'number' || !Number.isFinite(maxNorm) || maxNorm < 0)
    throw new ValueError(`${fn}: maxNorm must be a finite number >= 0, got ${String(maxNorm)}`);
  if (typeof normType !== 'number' || !(normType > 0))
    throw new ValueError(`${fn}: normType must be a number > 0 or Infinity, got ${String(normType)}`);
  const errorIfNonfinite = opts.errorIfNonfinite ?? false;
  if (typeof errorIfNonfinite !== 'boolean') throw new ArgumentError(`${fn}: errorIfNonfinite must be a boolean`);
  const grads = gradsOf(fn, params);
  if (grads.length === 0) return 0;
  // each grad's norm in float32 (torch stacks float32 norms), then the norm of those
  const out = Tensor.empty([grads.length], 'float32', grads[0].device);
  let norms: Float32Array;
  try {
    grads.forEach((g, i) => {
      const slot = out.view_([1], [1], i);
      try {
        runKernel('gradNorm', [g], [slot], { normType });
      } finally {
        slot.dispose();
      }
    });
    norms = out.dataSync() as Float32Array;
  } finally {
    out.dispose();
  }
  let total: number;
  if (normType === Infinity) {
    total = norms.reduce((m, n) => (Number.isNaN(m) || n > m || Number.isNaN(n) ? n : m), 0);
  } else {
    let s = 0;
    for (const n of norms) s += normType === 2 ? n * n : Math.abs(n) ** normType;
    total = Math.fround(normType === 2 ? Math.sqrt(s) : normType === 1 ? s : s ** (1 / normType));
  }
  if (errorIfNonfinite && !Number.isFinite(total))
    throw new ValueError(`${fn}: the total norm of order ${normType} for the gradients is ${total}, so they cannot be clipped; ` +
      'to scale the gradients by the non-finite norm anyway, pass { errorIfNonfinite: false }');
  const coef = Math.fround(Math.fround(maxNorm) / Math.fround(total + Math.fround(1e-6)));
  const clamped = coef > 1 ? 1 : coef;  // NaN stays NaN, as torch.clamp leaves it
  if (clamped !== 1) for (const g of grads) runKernel('gradScale', [], [g], { scale: clamped });
  return total;
}

/** Clamps every gradient element into [-clipValue, clipValue] in place (NaN stays NaN). */
export function clipGradValue(params: Tensor | Iterable<Tensor>, clipValue: number): void {
  const fn = 'clipGradValue';
  if (typeof clipValue !== 'number' || !Number.isFinite(clipValue) || clipValue < 0)
    throw new ValueError(`${fn}: clipValue must be a finite number >= 0, got ${String(clipValue)}`);
  for (const g of gradsOf(fn, params)) runKernel('gradClamp', [], [g], { clipValue });
}

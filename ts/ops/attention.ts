// Fused scaled dot-product attention: softmax(q·kᵀ·scale + mask)·v without materialising the
// Tq × Tk score matrix (native/cpu/attention.cpp: online softmax forward, recomputing backward).
// The forward saves the per-row log-sum-exp for the backward kernel.
import { Tensor } from '../tensor';
import { OpDef, apply, isGradEnabled, noGrad, releaseTemporaries } from '../autograd';
import { broadcastShapes, fmt } from '../shape';
import { ArgumentError, DTypeError, ShapeError } from '../errors';
import { runKernel } from './kernel';
import { precisionCode } from '../precision';
import { expand } from './movement';

export interface AttentionOptions {
  /** Broadcastable to [..., Tq, Tk]. bool: true = may attend (torch semantics); float32: added to
   *  the scores. A constant: it receives no gradient. */
  attnMask?: Tensor | null;
  /** torch's causal mask, ones(Tq, Tk).tril() (top-left aligned); not together with attnMask. */
  isCausal?: boolean;
  /** Defaults to 1/sqrt(D). */
  scale?: number | null;
}

interface Attrs {
  scale: number;
  causal: number;
  /** Filled by forward: the log-sum-exp per query row (+inf for a fully masked row), which the
   *  backward kernel needs; owned by the graph node, or freed at once without one. */
  lse: Tensor | null;
}

const attentionDef: OpDef<Attrs> = {
  name: 'scaledDotProductAttention',
  forward: ([q, k, v, mask], attrs) => {
    const lead = q.shape.slice(0, -2);
    const out = Tensor.empty([...lead, q.shape[q.ndim - 2], v.shape[v.ndim - 1]], 'float32', q.device);
    const lse = Tensor.empty([...lead, q.shape[q.ndim - 2]], 'float32', q.device);
    runKernel(mask ? 'attentionMasked' : 'attention', mask ? [q, k, v, mask] : [q, k, v], [out, lse], {
      scale: attrs.scale, causal: attrs.causal, precision: precisionCode(),
    });
    attrs.lse = lse;
    return out;
  },
  backward: ({ inputs: [q, k, v, mask], output, attrs }, g) => {
    const [dq, dk, dv] = attentionBackward(q, k, v, mask ?? null, output, attrs.lse!, g, attrs);
    return [dq, dk, dv, null];
  },
};

/** The backward kernel: gradients of q, k, v given the forward's output, its log-sum-exp and the
 *  output gradient g (shapes as broadcast for the forward). Exported for the benchmark. */
export function attentionBackward(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, out: Tensor, lse: Tensor,
  g: Tensor, attrs: { scale: number; causal: number }): [Tensor, Tensor, Tensor] {
  const dq = Tensor.empty(q.shape, 'float32', q.device), dk = Tensor.empty(k.shape, 'float32', q.device), dv = Tensor.empty(v.shape, 'float32', q.device);
  runKernel(mask ? 'attentionBackwardMasked' : 'attentionBackward',
    mask ? [q, k, v, mask, out, lse, g] : [q, k, v, out, lse, g], [dq, dk, dv], { scale: attrs.scale, causal: attrs.causal, precision: precisionCode() });
  return [dq, dk, dv];
}

/**
 * torch.nn.functional.scaled_dot_product_attention (without dropout): q [..., Tq, D],
 * k [..., Tk, D], v [..., Tk, Dv] -> [..., Tq, Dv]; leading dims broadcast.
 * A query row that may attend no key at all outputs 0 (and passes gradient 0), as flash
 * attention kernels do; torch's math path gives NaN there.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const { inputs, temps, attrs } = prepare(q, k, v, opts);
  const out = apply(attentionDef, inputs, attrs);
  releaseTemporaries(out, [...temps, attrs.lse!]);
  return out;
}

/** The forward without autograd, also returning the log-sum-exp per row (+inf marks a fully
 *  masked row); the caller owns both. For the benchmark, which times the backward kernel alone. */
export function attentionForward(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): [Tensor, Tensor] {
  return noGrad(() => {
    const { inputs, temps, attrs } = prepare(q, k, v, opts);
    const out = apply(attentionDef, inputs, attrs);
    releaseTemporaries(out, temps);
    return [out, attrs.lse!];
  });
}

/** Checks the arguments and broadcasts the leading dims (and the mask) to one shape. */
function prepare(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): { inputs: Tensor[]; temps: Tensor[]; attrs: Attrs } {
  const op = 'scaledDotProductAttention';
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    if (!(t instanceof Tensor)) throw new ArgumentError(`${op}: ${name} must be a Tensor`);
    if (t.dtype !== 'float32') throw new DTypeError(`${op}: ${name} must be float32, got ${t.dtype}`);
    if (t.ndim < 2) throw new ShapeError(`${op}: ${name} must have at least 2 dims [..., T, D], got ${fmt(t.shape)}`);
  }
  if (opts === null || typeof opts !== 'object') throw new ArgumentError(`${op}: options must be an object`);
  const { attnMask = null, isCausal = false, scale = null } = opts;
  const [Tq, D] = q.shape.slice(-2), [Tk, Dk] = k.shape.slice(-2), [Tv, Dv] = v.shape.slice(-2);
  if (Dk !== D) throw new ShapeError(`${op}: q and k must share the last dim D, got q ${fmt(q.shape)} and k ${fmt(k.shape)}`);
  if (Tv !== Tk) throw new ShapeError(`${op}: k and v must have the same number of keys (dim -2), got k ${fmt(k.shape)} and v ${fmt(v.shape)}`);
  if (typeof isCausal !== 'boolean') throw new ArgumentError(`${op}: isCausal must be a boolean, got ${String(isCausal)}`);
  if (scale !== null && (typeof scale !== 'number' || !Number.isFinite(scale)))
    throw new ArgumentError(`${op}: scale must be a finite number or null, got ${String(scale)}`);
  if (attnMask !== null) {
    if (!(attnMask instanceof Tensor)) throw new ArgumentError(`${op}: attnMask must be a Tensor or null`);
    if (isCausal) throw new ArgumentError(`${op}: attnMask and isCausal cannot both be set (as in torch); fold the causal mask into attnMask`);
    if (attnMask.dtype !== 'bool' && attnMask.dtype !== 'float32')
      throw new DTypeError(`${op}: attnMask must be bool or float32, got ${attnMask.dtype}`);
    if (attnMask.requiresGrad && isGradEnabled())
      throw new ArgumentError(`${op}: attnMask receives no gradient (it is treated as a constant); pass attnMask.detach()`);
  }
  const lead = broadcastShapes(q.shape.slice(0, -2), k.shape.slice(0, -2), v.shape.slice(0, -2));
  const scoreShape = [...lead, Tq, Tk];
  if (attnMask !== null) {
    let ok = attnMask.ndim <= scoreShape.length;
    if (ok) {
      try { ok = broadcastShapes(attnMask.shape, scoreShape).join() === scoreShape.join(); } catch { ok = false; }
    }
    if (!ok) throw new ShapeError(`${op}: attnMask of shape ${fmt(attnMask.shape)} does not broadcast to the scores' shape ${fmt(scoreShape)}`);
  }
  const temps: Tensor[] = [];
  const fit = (t: Tensor, shape: number[]) => {
    if (t.shape.join() === shape.join()) return t;
    const e = expand(t, shape);
    temps.push(e);
    return e;
  };
  const inputs = [fit(q, [...lead, Tq, D]), fit(k, [...lead, Tk, D]), fit(v, [...lead, Tk, Dv])];
  if (attnMask !== null) inputs.push(fit(attnMask, scoreShape));
  return { inputs, temps, attrs: { scale: scale ?? 1 / Math.sqrt(D), causal: isCausal ? 1 : 0, lse: null } };
}

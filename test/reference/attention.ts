// Scaled dot-product attention in float64, written for clarity: it materialises the scores.
//   out = softmax(q·kᵀ·scale + mask)·v, q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv]
// Leading dims broadcast. The mask broadcasts to [..., Tq, Tk]: a bool mask (maskIsBool; values
// 0/1, 1 = may attend) removes keys, a float mask is added to the scores. isCausal is torch's
// ones(Tq, Tk).tril(): query i sees keys j <= i. A row that sees no key outputs 0 and passes no
// gradient (the flash-attention convention; torch's math path gives NaN there).
import { RefTensor, broadcastShapes, broadcastTo, make, numel, sumToShape, zeros } from './tensor';

export interface AttentionOptions {
  mask?: RefTensor | null;
  maskIsBool?: boolean;
  isCausal?: boolean;
  /** default 1/sqrt(D) */
  scale?: number;
}

interface Problem {
  lead: number[];
  batch: number;
  Tq: number; Tk: number; D: number; Dv: number;
  scale: number;
  q: RefTensor; k: RefTensor; v: RefTensor;  // broadcast to [...lead, T, *]
  mask: RefTensor | null;                    // broadcast to [...lead, Tq, Tk]
}

function problem(q: RefTensor, k: RefTensor, v: RefTensor, o: AttentionOptions): Problem {
  const [Tq, D] = q.shape.slice(-2), [Tk] = k.shape.slice(-2), Dv = v.shape[v.shape.length - 1];
  if (k.shape[k.shape.length - 1] !== D || v.shape[v.shape.length - 2] !== Tk) throw new Error('attention: shapes do not fit');
  if (o.isCausal && o.mask) throw new Error('attention: isCausal and mask together');
  const lead = broadcastShapes(q.shape.slice(0, -2), k.shape.slice(0, -2), v.shape.slice(0, -2));
  return {
    lead, batch: numel(lead), Tq, Tk, D, Dv,
    scale: o.scale ?? 1 / Math.sqrt(D),
    q: broadcastTo(q, [...lead, Tq, D]),
    k: broadcastTo(k, [...lead, Tk, D]),
    v: broadcastTo(v, [...lead, Tk, Dv]),
    mask: o.mask ? broadcastTo(o.mask, [...lead, Tq, Tk]) : null,
  };
}

/** Softmax probabilities P [Tq][Tk] of batch entry b (a row that sees nothing is all zeros). */
function probabilities(p: Problem, b: number, o: AttentionOptions): number[][] {
  const { Tq, Tk, D } = p;
  const P: number[][] = [];
  for (let i = 0; i < Tq; i++) {
    const s = new Array<number>(Tk);
    for (let j = 0; j < Tk; j++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += p.q.data[(b * Tq + i) * D + d] * p.k.data[(b * Tk + j) * D + d];
      s[j] = dot * p.scale;
      const m = p.mask ? p.mask.data[(b * Tq + i) * Tk + j] : 0;
      if (o.isCausal && j > i) s[j] = -Infinity;
      else if (p.mask && o.maskIsBool) { if (m === 0) s[j] = -Infinity; }
      else s[j] += m;
    }
    const max = Math.max(-Infinity, ...s);
    if (max === -Infinity) {
      P.push(new Array<number>(Tk).fill(0));
      continue;
    }
    const e = s.map((x) => Math.exp(x - max));
    const total = e.reduce((a, x) => a + x, 0);
    P.push(e.map((x) => x / total));
  }
  return P;
}

export function scaledDotProductAttention(q: RefTensor, k: RefTensor, v: RefTensor, o: AttentionOptions = {}): RefTensor {
  const p = problem(q, k, v, o);
  const { Tq, Tk, Dv } = p;
  const out = zeros([...p.lead, Tq, Dv]);
  for (let b = 0; b < p.batch; b++) {
    const P = probabilities(p, b, o);
    for (let i = 0; i < Tq; i++)
      for (let e = 0; e < Dv; e++) {
        let acc = 0;
        for (let j = 0; j < Tk; j++) acc += P[i][j] * p.v.data[(b * Tk + j) * Dv + e];
        out.data[(b * Tq + i) * Dv + e] = acc;
      }
  }
  return out;
}

/** VJP of scaledDotProductAttention for q, k, v (the mask is a constant): with P the softmax,
 *  dP = g·vᵀ, dS = P ∘ (dP - rowsum(P ∘ dP)) (the softmax Jacobian), then
 *  dq = dS·k·scale, dk = dSᵀ·q·scale, dv = Pᵀ·g; broadcast leading dims are summed back. */
export function scaledDotProductAttentionVjp(q: RefTensor, k: RefTensor, v: RefTensor, o: AttentionOptions,
  g: RefTensor): [RefTensor, RefTensor, RefTensor] {
  const p = problem(q, k, v, o);
  const { Tq, Tk, D, Dv } = p;
  const dq = zeros(p.q.shape), dk = zeros(p.k.shape), dv = zeros(p.v.shape);
  const G = broadcastTo(g, [...p.lead, Tq, Dv]);
  for (let b = 0; b < p.batch; b++) {
    const P = probabilities(p, b, o);
    const gRow = (i: number, e: number) => G.data[(b * Tq + i) * Dv + e];
    for (let i = 0; i < Tq; i++) {
      const dP = make([Tk], ([j]) => {
        let acc = 0;
        for (let e = 0; e < Dv; e++) acc += gRow(i, e) * p.v.data[(b * Tk + j) * Dv + e];
        return acc;
      }).data;
      let rowDot = 0;
      for (let j = 0; j < Tk; j++) rowDot += P[i][j] * dP[j];
      for (let j = 0; j < Tk; j++) {
        const dS = P[i][j] * (dP[j] - rowDot);
        for (let d = 0; d < D; d++) {
          dq.data[(b * Tq + i) * D + d] += dS * p.k.data[(b * Tk + j) * D + d] * p.scale;
          dk.data[(b * Tk + j) * D + d] += dS * p.q.data[(b * Tq + i) * D + d] * p.scale;
        }
        for (let e = 0; e < Dv; e++) dv.data[(b * Tk + j) * Dv + e] += P[i][j] * gRow(i, e);
      }
    }
  }
  return [sumToShape(dq, q.shape), sumToShape(dk, k.shape), sumToShape(dv, v.shape)];
}

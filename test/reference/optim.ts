// Reference optimizer updates (torch.optim's single-tensor formulas, PyTorch 1.13), one element
// at a time, written for clarity. `r` rounds every intermediate: the identity gives the float64
// reference; Math.fround replays the float32 operations in torch's order (hyperparameters
// rounded to float32 first, as a Python scalar is when it meets a float32 tensor), which the
// native kernels must reproduce bit for bit.
export type Round = (x: number) => number;
export const exact: Round = (x) => x;
export const float32: Round = Math.fround;

export interface SgdHyper { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; maximize: boolean }
export interface AdamHyper { lr: number; betas: [number, number]; eps: number; weightDecay: number; amsgrad: boolean; maximize: boolean; decoupled: boolean }
export interface RmspropHyper { lr: number; alpha: number; eps: number; weightDecay: number; momentum: number; centered: boolean; maximize: boolean }

/** State as torch names it; arrays are per element, like the parameter. */
export type RefState = Record<string, Float64Array | number>;

const zerosLike = (p: Float64Array) => new Float64Array(p.length);

/** One SGD step: updates param (and state.momentum_buffer) in place. */
export function sgdStep(param: Float64Array, grad: ArrayLike<number>, state: RefState, h: SgdHyper, r: Round = exact): void {
  const wd = r(h.weightDecay), mom = r(h.momentum), oneMinusDamp = r(1 - h.dampening), negLr = r(-h.lr);
  const first = h.momentum !== 0 && state.momentum_buffer === undefined;
  if (h.momentum !== 0 && first) state.momentum_buffer = zerosLike(param);
  const buf = state.momentum_buffer as Float64Array | undefined;
  for (let i = 0; i < param.length; i++) {
    let d = h.maximize ? -grad[i] : grad[i];
    if (h.weightDecay !== 0) d = r(d + r(wd * param[i]));
    if (h.momentum !== 0) {
      buf![i] = first ? d : r(r(buf![i] * mom) + r(oneMinusDamp * d));
      d = h.nesterov ? r(d + r(mom * buf![i])) : buf![i];
    }
    param[i] = r(param[i] + r(negLr * d));
  }
}

/** One Adam (decoupled: AdamW) step; state.step counts steps including this one. */
export function adamStep(param: Float64Array, grad: ArrayLike<number>, state: RefState, h: AdamHyper, r: Round = exact): void {
  if (state.step === undefined) {
    state.step = 0;
    state.exp_avg = zerosLike(param);
    state.exp_avg_sq = zerosLike(param);
    if (h.amsgrad) state.max_exp_avg_sq = zerosLike(param);
  }
  const step = (state.step as number) + 1;
  state.step = step;
  const [beta1, beta2] = h.betas;
  // the Python-side scalars, in double
  const bc1 = 1 - beta1 ** step, bc2 = 1 - beta2 ** step;
  const stepSize = h.lr / bc1, bc2Sqrt = Math.sqrt(bc2);
  const wd = r(h.weightDecay), decay = r(1 - h.lr * h.weightDecay), b1 = r(beta1), omb1 = r(1 - beta1);
  const b2 = r(beta2), omb2 = r(1 - beta2), bc2s = r(bc2Sqrt), eps = r(h.eps), negStep = r(-stepSize);
  const m = state.exp_avg as Float64Array, v = state.exp_avg_sq as Float64Array, vmax = state.max_exp_avg_sq as Float64Array | undefined;
  for (let i = 0; i < param.length; i++) {
    let g = h.maximize ? -grad[i] : grad[i];
    if (!h.decoupled && h.weightDecay !== 0) g = r(g + r(wd * param[i]));
    if (h.decoupled) param[i] = r(param[i] * decay);
    m[i] = r(r(m[i] * b1) + r(omb1 * g));
    v[i] = r(r(v[i] * b2) + r(r(omb2 * g) * g));
    let vh = v[i];
    if (h.amsgrad) {
      vmax![i] = Math.max(vmax![i], v[i]);
      vh = vmax![i];
    }
    const denom = r(r(r(Math.sqrt(vh)) / bc2s) + eps);
    param[i] = r(param[i] + r(r(negStep * m[i]) / denom));
  }
}

/** One RMSprop step. */
export function rmspropStep(param: Float64Array, grad: ArrayLike<number>, state: RefState, h: RmspropHyper, r: Round = exact): void {
  if (state.step === undefined) {
    state.step = 0;
    state.square_avg = zerosLike(param);
    if (h.momentum > 0) state.momentum_buffer = zerosLike(param);
    if (h.centered) state.grad_avg = zerosLike(param);
  }
  state.step = (state.step as number) + 1;
  const wd = r(h.weightDecay), alpha = r(h.alpha), oma = r(1 - h.alpha), eps = r(h.eps), mom = r(h.momentum), negLr = r(-h.lr);
  const s = state.square_avg as Float64Array, buf = state.momentum_buffer as Float64Array, ga = state.grad_avg as Float64Array;
  for (let i = 0; i < param.length; i++) {
    let g = h.maximize ? -grad[i] : grad[i];
    if (h.weightDecay !== 0) g = r(g + r(wd * param[i]));
    s[i] = r(r(s[i] * alpha) + r(r(oma * g) * g));
    let avg: number;
    if (h.centered) {
      ga[i] = r(r(ga[i] * alpha) + r(oma * g));
      avg = r(Math.sqrt(r(s[i] - r(ga[i] * ga[i]))));
    } else avg = r(Math.sqrt(s[i]));
    avg = r(avg + eps);
    if (h.momentum > 0) {
      buf[i] = r(r(buf[i] * mom) + r(g / avg));
      param[i] = r(param[i] + r(negLr * buf[i]));
    } else param[i] = r(param[i] + r(r(negLr * g) / avg));
  }
}

/** The joint p-norm of several gradients (p = Infinity: the largest |g|), in double. */
export function totalNorm(grads: ArrayLike<number>[], p: number): number {
  if (p === Infinity) return Math.max(0, ...grads.map((g) => Math.max(0, ...Array.from(g, Math.abs))));
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += Math.abs(g[i]) ** p;
  return s ** (1 / p);
}

// ---- learning-rate schedules, closed forms ----------------------------------------------------
export const schedules = {
  step: (base: number, epoch: number, stepSize: number, gamma: number) => base * gamma ** Math.floor(epoch / stepSize),
  multiStep: (base: number, epoch: number, milestones: number[], gamma: number) => base * gamma ** milestones.filter((m) => m <= epoch).length,
  exponential: (base: number, epoch: number, gamma: number) => base * gamma ** epoch,
  cosine: (base: number, epoch: number, tMax: number, etaMin: number) => etaMin + (base - etaMin) * (1 + Math.cos(Math.PI * epoch / tMax)) / 2,
  linear: (base: number, epoch: number, start: number, end: number, total: number) => base * (start + (end - start) * Math.min(epoch, total) / total),
};

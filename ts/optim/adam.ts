// Adam and AdamW (torch.optim.Adam / AdamW, PyTorch 1.13), AMSGrad and maximize included. Both
// run one fused native pass per parameter (adamStep); AdamW differs only in decoupling the
// weight decay (param ·= 1 − lr·weightDecay) instead of adding it to the gradient.
import type { Tensor } from '../tensor';
import { ArgumentError } from '../errors';
import { Optimizer, ParamGroup, ParamState, Params, StateKeys, checkFlag, checkRange } from './optimizer';

export type AdamOptions = {
  lr: number; betas: [number, number]; eps: number; weightDecay: number; amsgrad: boolean; maximize: boolean;
};

function options(name: string, opts: Partial<AdamOptions>, weightDecay: number): AdamOptions {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError(`${name}: options must be an object`);
  const defaults: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay, amsgrad: false, maximize: false };
  for (const [k, v] of Object.entries(opts)) {
    if (!(k in defaults)) throw new ArgumentError(`${name}: unknown option '${k}' (expected one of ${Object.keys(defaults).join(', ')})`);
    if (v !== undefined) (defaults as Record<string, unknown>)[k] = Array.isArray(v) ? [...v] : v;
  }
  return defaults;
}

const TORCH_NAMES = { lr: 'lr', betas: 'betas', eps: 'eps', weightDecay: 'weight_decay', amsgrad: 'amsgrad', maximize: 'maximize' };

/**
 * g = grad (negated when maximize) (+ weightDecay·param, Adam);  m = β1·m + (1 − β1)·g;
 * v = β2·v + (1 − β2)·g²;  v̂ = amsgrad ? max(v̂, v) : v;
 * param −= lr/(1 − β1^t) · m / (sqrt(v̂)/sqrt(1 − β2^t) + eps).
 * State: step, exp_avg, exp_avg_sq, and max_exp_avg_sq with amsgrad.
 */
export class Adam extends Optimizer<AdamOptions> {
  /** AdamW: weight decay multiplies the parameter rather than joining the gradient. */
  static readonly decoupledWeightDecay: boolean = false;

  constructor(params: Params<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    const decoupled = (new.target as typeof Adam).decoupledWeightDecay;
    const name = decoupled ? 'AdamW' : 'Adam';
    super(name, params, options(name, opts, decoupled ? 1e-2 : 0), TORCH_NAMES);
  }

  protected checkGroup(g: AdamOptions, where: string): void {
    const name = this.name;
    checkRange(name, where, 'lr', g.lr);
    checkRange(name, where, 'eps', g.eps);
    if (!Array.isArray(g.betas) || g.betas.length !== 2) throw new ArgumentError(`${name}: ${where}: betas must be [beta1, beta2]`);
    checkRange(name, where, 'betas[0]', g.betas[0], 0, 1);
    checkRange(name, where, 'betas[1]', g.betas[1], 0, 1);
    checkRange(name, where, 'weightDecay', g.weightDecay);
    checkFlag(name, where, 'amsgrad', g.amsgrad);
    checkFlag(name, where, 'maximize', g.maximize);
  }

  protected stateKeys(): StateKeys { return { required: ['step', 'exp_avg', 'exp_avg_sq'], optional: ['max_exp_avg_sq'] }; }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<AdamOptions>, st: ParamState): void {
    const made: Tensor[] = [];
    const get = (k: string) => (st[k] as Tensor | undefined) ?? (made[made.length] = this.newState(p));
    const expAvg = get('exp_avg'), expAvgSq = get('exp_avg_sq');
    const maxExpAvgSq = g.amsgrad ? get('max_exp_avg_sq') : null;
    const step = ((st.step as number | undefined) ?? 0) + 1;
    try {
      this.run('adamStep', grad, [p, expAvg, expAvgSq, maxExpAvgSq], {
        lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps, weightDecay: g.weightDecay, step,
        decoupled: (this.constructor as typeof Adam).decoupledWeightDecay, amsgrad: g.amsgrad, maximize: g.maximize,
      });
    } catch (e) {
      made.forEach((t) => t.dispose());
      throw e;
    }
    Object.assign(st, { step, exp_avg: expAvg, exp_avg_sq: expAvgSq }, maxExpAvgSq ? { max_exp_avg_sq: maxExpAvgSq } : {});
  }
}

/** Adam with decoupled weight decay (torch.optim.AdamW; weightDecay defaults to 1e-2). */
export class AdamW extends Adam {
  static readonly decoupledWeightDecay: boolean = true;
}

// RMSprop (torch.optim.RMSprop, PyTorch 1.13): plain, with momentum, centered, weight decay and
// maximize, in one fused native pass per parameter (rmspropStep).
import type { Tensor } from '../tensor';
import { ArgumentError } from '../errors';
import { Optimizer, ParamGroup, ParamState, Params, StateKeys, checkFlag, checkRange } from './optimizer';

export type RMSpropOptions = {
  lr: number; alpha: number; eps: number; weightDecay: number; momentum: number; centered: boolean; maximize: boolean;
};

/**
 * g = grad (negated when maximize) + weightDecay·param;  s = α·s + (1 − α)·g²;
 * avg = sqrt(s − ḡ²) with ḡ = α·ḡ + (1 − α)·g when centered, else sqrt(s);  avg += eps;
 * momentum > 0: buf = momentum·buf + g/avg, param −= lr·buf; else param −= lr·g/avg.
 * State: step, square_avg, momentum_buffer (momentum > 0), grad_avg (centered).
 */
export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: Params<RMSpropOptions>, opts: Partial<RMSpropOptions> = {}) {
    if (opts === null || typeof opts !== 'object') throw new ArgumentError('RMSprop: options must be an object');
    const defaults: RMSpropOptions = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false };
    for (const [k, v] of Object.entries(opts)) {
      if (!(k in defaults)) throw new ArgumentError(`RMSprop: unknown option '${k}' (expected one of ${Object.keys(defaults).join(', ')})`);
      if (v !== undefined) (defaults as Record<string, unknown>)[k] = v;
    }
    super('RMSprop', params, defaults, {
      lr: 'lr', alpha: 'alpha', eps: 'eps', weightDecay: 'weight_decay', momentum: 'momentum', centered: 'centered', maximize: 'maximize',
    });
  }

  protected checkGroup(g: RMSpropOptions, where: string): void {
    checkRange('RMSprop', where, 'lr', g.lr);
    checkRange('RMSprop', where, 'eps', g.eps);
    checkRange('RMSprop', where, 'momentum', g.momentum);
    checkRange('RMSprop', where, 'weightDecay', g.weightDecay);
    checkRange('RMSprop', where, 'alpha', g.alpha);
    checkFlag('RMSprop', where, 'centered', g.centered);
    checkFlag('RMSprop', where, 'maximize', g.maximize);
  }

  protected stateKeys(): StateKeys { return { required: ['step', 'square_avg'], optional: ['momentum_buffer', 'grad_avg'] }; }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<RMSpropOptions>, st: ParamState): void {
    const made: Tensor[] = [];
    const get = (k: string) => (st[k] as Tensor | undefined) ?? (made[made.length] = this.newState(p));
    const squareAvg = get('square_avg');
    const buf = g.momentum > 0 ? get('momentum_buffer') : null;
    const gradAvg = g.centered ? get('grad_avg') : null;
    const step = ((st.step as number | undefined) ?? 0) + 1;
    try {
      this.run('rmspropStep', grad, [p, squareAvg, buf, gradAvg], {
        lr: g.lr, alpha: g.alpha, eps: g.eps, weightDecay: g.weightDecay, momentum: g.momentum, centered: g.centered, maximize: g.maximize,
      });
    } catch (e) {
      made.forEach((t) => t.dispose());
      throw e;
    }
    st.step = step;
    st.square_avg = squareAvg;
    if (buf) st.momentum_buffer = buf;
    if (gradAvg) st.grad_avg = gradAvg;
  }
}

// Stochastic gradient descent with momentum, Nesterov momentum, dampening, weight decay and
// maximize (torch.optim.SGD, PyTorch 1.13). One fused native pass per parameter (sgdStep).
import type { Tensor } from '../tensor';
import { ArgumentError, ValueError } from '../errors';
import { Optimizer, ParamGroup, ParamState, Params, StateKeys, checkFlag, checkRange } from './optimizer';

export type SGDOptions = {
  lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; maximize: boolean;
};

/**
 * d = grad (negated when maximize) + weightDecay·param;
 * with momentum: buf = momentum·buf + (1 − dampening)·d (buf = d on the first step), then
 * d = nesterov ? d + momentum·buf : buf;  param −= lr·d.
 * State: momentum_buffer (only when momentum != 0).
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Params<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    if (opts === null || typeof opts !== 'object' || opts.lr === undefined)
      throw new ArgumentError('SGD: lr is required (new SGD(params, { lr }))');
    const defaults: SGDOptions = { lr: opts.lr, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };
    for (const [k, v] of Object.entries(opts)) {
      if (!(k in defaults)) throw new ArgumentError(`SGD: unknown option '${k}' (expected one of ${Object.keys(defaults).join(', ')})`);
      (defaults as Record<string, unknown>)[k] = v;
    }
    super('SGD', params, defaults, {
      lr: 'lr', momentum: 'momentum', dampening: 'dampening', weightDecay: 'weight_decay', nesterov: 'nesterov', maximize: 'maximize',
    });
  }

  protected checkGroup(g: SGDOptions, where: string): void {
    checkRange('SGD', where, 'lr', g.lr);
    checkRange('SGD', where, 'momentum', g.momentum);
    checkRange('SGD', where, 'dampening', g.dampening, -Infinity);
    checkRange('SGD', where, 'weightDecay', g.weightDecay);
    checkFlag('SGD', where, 'nesterov', g.nesterov);
    checkFlag('SGD', where, 'maximize', g.maximize);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0))
      throw new ValueError(`SGD: ${where}: Nesterov momentum requires a momentum > 0 and zero dampening`);
  }

  protected stateKeys(): StateKeys { return { required: [], optional: ['momentum_buffer'] }; }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<SGDOptions>, st: ParamState): void {
    const useMomentum = g.momentum !== 0;
    const had = st.momentum_buffer as Tensor | undefined;
    const buf = useMomentum ? had ?? this.newState(p) : null;
    try {
      this.run('sgdStep', grad, [p, buf], {
        lr: g.lr, momentum: g.momentum, dampening: g.dampening, weightDecay: g.weightDecay,
        nesterov: g.nesterov, maximize: g.maximize, hasBuffer: had !== undefined,
      });
    } catch (e) {
      if (buf && !had) buf.dispose();
      throw e;
    }
    if (buf && !had) st.momentum_buffer = buf;
  }
}

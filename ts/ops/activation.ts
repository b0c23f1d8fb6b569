// Activation functions (torch.nn.functional names and defaults). gelu, silu, softplus, leakyRelu
// and elu are one native primitive each ('activation'), with a native derivative kernel
// ('activationBackward') that recomputes f'(x) from the saved input; relu, sigmoid and tanh are
// the elementwise unary ops.
import { Tensor } from '../tensor';
import { OpDef, apply } from '../autograd';
import { ArgumentError, DTypeError, ValueError } from '../errors';
import { runKernel } from './kernel';

export { relu, sigmoid, tanh } from './elementwise';

type ActivationOp = 'gelu' | 'geluTanh' | 'silu' | 'softplus' | 'leakyRelu' | 'elu';
interface Attrs { op: ActivationOp; alpha: number; beta: number }

function activationBackward(x: Tensor, g: Tensor, attrs: Attrs): Tensor {
  const gx = Tensor.empty(x.shape, 'float32', x.device);
  runKernel('activationBackward', [x, g], [gx], { ...attrs });
  return gx;
}

const activationDef: OpDef<Attrs> = {
  name: 'activation',
  forward: ([x], attrs) => {
    const y = Tensor.empty(x.shape, 'float32', x.device);
    runKernel('activation', [x], [y], { ...attrs });
    return y;
  },
  backward: ({ inputs: [x], attrs }, g) => [activationBackward(x, g, attrs)],
};

function activation(name: string, x: Tensor, op: ActivationOp, alpha = 0, beta = 0): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(`${name}: expected a Tensor, got ${typeof x}`);
  if (x.dtype !== 'float32') throw new DTypeError(`${name}: needs a float32 input, got ${x.dtype}`);
  return apply(activationDef, [x], { op, alpha, beta });
}

function finite(name: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(`${name}: ${what} must be a finite number, got ${String(v)}`);
  return v;
}

/** x·Φ(x) (approximate: 'none', with erf) or its tanh approximation (approximate: 'tanh'). */
export function gelu(x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  const approximate = opts.approximate ?? 'none';
  if (approximate !== 'none' && approximate !== 'tanh')
    throw new ArgumentError(`gelu: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
  return activation('gelu', x, approximate === 'tanh' ? 'geluTanh' : 'gelu');
}

/** x·sigmoid(x) (also called swish). */
export const silu = (x: Tensor): Tensor => activation('silu', x, 'silu');

/** log(1 + exp(beta·x))/beta, and x itself once beta·x > threshold (torch's defaults). */
export function softplus(x: Tensor, opts: { beta?: number; threshold?: number } = {}): Tensor {
  const beta = finite('softplus', 'beta', opts.beta ?? 1), threshold = finite('softplus', 'threshold', opts.threshold ?? 20);
  if (beta === 0) throw new ValueError('softplus: beta must be non-zero');
  return activation('softplus', x, 'softplus', beta, threshold);
}

/** x for x > 0, negativeSlope·x otherwise. */
export const leakyRelu = (x: Tensor, negativeSlope = 0.01): Tensor =>
  activation('leakyRelu', x, 'leakyRelu', finite('leakyRelu', 'negativeSlope', negativeSlope));

/** x for x > 0, alpha·(exp(x) − 1) otherwise. */
export const elu = (x: Tensor, alpha = 1): Tensor => activation('elu', x, 'elu', finite('elu', 'alpha', alpha));

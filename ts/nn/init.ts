// nn.init: in-place initialisers with PyTorch's formulas (torch.nn.init). Values are drawn from
// tensorforge's seeded generator (tf.manualSeed), so they repeat run to run but are not the same
// numbers PyTorch draws.
import { Tensor } from '../tensor';
import { uniform, normal } from '../ops/creation';
import { ArgumentError, ValueError } from '../errors';
import { fmt } from '../shape';

export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';
export type FanMode = 'fanIn' | 'fanOut';

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu': return 3 / 4;
    default: throw new ValueError(`calculateGain: unsupported nonlinearity '${String(nonlinearity)}'`);
  }
}

/** [fanIn, fanOut] of a weight: dims 1 and 0 times the receptive field (dims 2...). */
export function calculateFans(t: Tensor): [number, number] {
  if (t.ndim < 2) throw new ArgumentError(`fan in and fan out need a tensor with at least 2 dims, got ${fmt(t.shape)}`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1] * receptive, t.shape[0] * receptive];
}

function fill(t: Tensor, make: (shape: number[]) => Tensor): Tensor {
  const v = make([...t.shape]);
  try {
    return t.copy_(v);
  } finally {
    v.dispose();
  }
}

export const uniform_ = (t: Tensor, a = 0, b = 1) => fill(t, (s) => uniform(s, a, b));
export const normal_ = (t: Tensor, mean = 0, std = 1) => fill(t, (s) => normal(s, mean, std));
export const constant_ = (t: Tensor, value: number) => t.fill_(value);
export const zeros_ = (t: Tensor) => t.fill_(0);
export const ones_ = (t: Tensor) => t.fill_(1);

export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = calculateFans(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -a, a);
}
export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = calculateFans(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

interface KaimingOptions { a?: number; mode?: FanMode; nonlinearity?: Nonlinearity }
function kaimingStd(t: Tensor, opts: KaimingOptions): number {
  const [fanIn, fanOut] = calculateFans(t);
  const fan = (opts.mode ?? 'fanIn') === 'fanIn' ? fanIn : fanOut;
  return calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0) / Math.sqrt(fan);
}
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, opts);
  return uniform_(t, -bound, bound);
}
export const kaimingNormal_ = (t: Tensor, opts: KaimingOptions = {}) => normal_(t, 0, kaimingStd(t, opts));

/** A fresh tensor of the given shape filled like torch's default Linear/Conv initialisation:
 *  kaiming_uniform(a = √5) for weights, i.e. U(−1/√fanIn, 1/√fanIn), and the same bound for biases. */
export function defaultUniform(shape: number[], fanIn: number): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform(shape, -bound, bound);
}

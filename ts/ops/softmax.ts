// softmax / logSoftmax along any dim (negative allowed), with native forward and backward
// kernels (native/cpu/softmax.cpp): numerically stable (the row max is subtracted), any layout.
import { Tensor } from '../tensor';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { normDim } from '../shape';
import { ArgumentError, DTypeError } from '../errors';
import { runKernel } from './kernel';

interface SoftmaxAttrs {
  dim: number;
  log: boolean;
  /** the forward's output, held by the graph node for the backward (another handle on the same
   *  storage, so disposing the returned tensor does not break backward()) */
  saved: Tensor | null;
}

const kernelAttrs = (a: SoftmaxAttrs) => ({ dim: a.dim, log: a.log ? 1 : 0 });

/** gx from y and g: y∘(g − Σ g∘y) for softmax, g − exp(y)·Σ g for logSoftmax. */
const softmaxBackwardDef: OpDef<SoftmaxAttrs> = {
  name: 'softmaxBackward',
  forward: ([y, g], attrs) => {
    const gx = Tensor.empty(y.shape, 'float32', y.device);
    runKernel('softmaxBackward', [y, g], [gx], kernelAttrs(attrs));
    return gx;
  },
};

const softmaxDef: OpDef<SoftmaxAttrs> = {
  name: 'softmax',
  forward: ([x], attrs) => {
    const y = Tensor.empty(x.shape, 'float32', x.device);
    runKernel('softmax', [x], [y], kernelAttrs(attrs));
    return y;
  },
  backward: ({ attrs }, g) => [apply(softmaxBackwardDef, [attrs.saved!, g], attrs)],
};

function run(op: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(`${op}: expected a Tensor, got ${typeof x}`);
  if (dim === undefined) throw new ArgumentError(`${op}: dim is required (as in torch: softmax(x, dim))`);
  if (x.dtype !== 'float32') throw new DTypeError(`${op}: expected a float32 tensor, got ${x.dtype}`);
  const attrs: SoftmaxAttrs = { dim: normDim(dim, x.ndim), log: op === 'logSoftmax', saved: null };
  const y = apply(softmaxDef, [x], attrs);
  if (y.gradFn) {
    attrs.saved = y.detach();
    releaseTemporaries(y, [attrs.saved]);
  }
  return y;
}

/** torch.softmax(x, dim): exp(x − max) / Σ exp(x − max) along dim. */
export const softmax = (x: Tensor, dim: number): Tensor => run('softmax', x, dim);
/** torch.log_softmax(x, dim): (x − max) − log Σ exp(x − max) along dim. */
export const logSoftmax = (x: Tensor, dim: number): Tensor => run('logSoftmax', x, dim);

// gather / scatterAdd / indexSelect with torch semantics; indices are int32 tensors.
import { Tensor } from '../tensor';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { normDim } from '../shape';
import { DTypeError, ArgumentError } from '../errors';
import { runKernel } from './kernel';
import { zeros } from './creation';

function checkIndex(index: Tensor, op: string): void {
  if (!(index instanceof Tensor)) throw new ArgumentError(`${op}: index must be a Tensor`);
  if (index.dtype !== 'int32') throw new DTypeError(`${op}: index must be int32, got ${index.dtype}`);
}

const gatherDef: OpDef<number> = {
  name: 'gather',
  forward: ([x, index], dim) => {
    const out = Tensor.empty(index.shape, x.dtype, x.device);
    runKernel('gather', [x, index], [out], { dim });
    return out;
  },
  backward: ({ inputs: [x, index], attrs: dim }, g) => [scatterAdd(zeros([...x.shape], { device: x.device }), dim, index, g), null],
};
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndex(index, 'gather');
  return apply(gatherDef, [x, index], normDim(dim, x.ndim));
}

const scatterAddDef: OpDef<number> = {
  name: 'scatterAdd',
  forward: ([x, index, src], dim) => {
    const out = x.clone();
    runKernel('scatterAdd', [index, src], [out], { dim });
    return out;
  },
  backward: ({ inputs: [, index], attrs: dim }, g) => [g, null, gather(g, dim, index)],
};
/** Out-of-place torch.scatter_add: x with src[i] added at index[i] along dim. */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkIndex(index, 'scatterAdd');
  if (src.dtype !== x.dtype) throw new DTypeError(`scatterAdd: src must be ${x.dtype}, got ${src.dtype}`);
  return apply(scatterAddDef, [x, index, src], normDim(dim, x.ndim));
}

const indexSelectDef: OpDef<number> = {
  name: 'indexSelect',
  forward: ([x, index], dim) => {
    const shape = [...x.shape];
    shape[dim] = index.size;
    const out = Tensor.empty(shape, x.dtype, x.device);
    runKernel('indexSelect', [x, index], [out], { dim });
    return out;
  },
  backward: ({ inputs: [x, index], attrs: dim }, g) => {
    const gx = zeros([...x.shape], { device: x.device });
    runKernel('indexAdd', [index, g], [gx], { dim });
    return [gx, null];
  },
};
/** Picks slices of x along dim at the positions in a 1-D (or 0-d) index. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndex(index, 'indexSelect');
  if (index.ndim > 1) throw new ArgumentError(`indexSelect: index must be 1-D, got ${index.ndim} dims`);
  if (x.ndim === 0) throw new ArgumentError('indexSelect: x must have at least one dim');
  // the kernel takes a 1-D index; a 0-d one selects a single slice, keeping the dim
  const idx = index.ndim === 0 ? index.reshape([1]) : index;
  const out = apply(indexSelectDef, [x, idx], normDim(dim, x.ndim));
  if (idx !== index) releaseTemporaries(out, [idx]);
  return out;
}

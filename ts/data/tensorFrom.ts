// A tensor holding a typed array's values with a single copy into native memory. tf.tensor checks
// and converts element by element, which is the right default for user input but costs more than
// the copy itself for the millions of values a dataset holds, all of them already typed.
import { Tensor } from '../tensor';
import { TypedArray, dtypeOfArray } from '../dtype';
import { ShapeError, DTypeError } from '../errors';
import { fmt } from '../shape';
import { Device, getDefaultDevice } from '../backend';

export function tensorFrom(data: TypedArray, shape: number[], device: Device = getDefaultDevice()): Tensor {
  const dtype = dtypeOfArray(data);
  if (!dtype) throw new DTypeError('expected a Float32Array, Int32Array or Uint8Array');
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new ShapeError(`${data.length} values cannot fill shape ${fmt(shape)} (${n} elements)`);
  const t = Tensor.empty(shape, dtype, device);
  if (n) t.storage.backend.write(t.storage.handle, 0, data);
  return t;
}

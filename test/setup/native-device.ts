// In the CUDA test project, test files that call the addon directly (`import * as native from
// '../ts/native'`, to check the native boundary with hand-made views) get this module instead: the
// same exports, with run/read/write going to the default device's addon, so those checks run
// against the CUDA kernels' validation too. ts/ modules are not affected (they import './native').
import * as native from '../../ts/native';
import { backendFor, getDefaultDevice } from '../../ts/backend';

export * from '../../ts/native';
const here = () => backendFor(getDefaultDevice());
export const run = (op: string, views: native.NativeView[], attrs?: native.Attrs): void => here().run(op, views, attrs);
export const read = (h: native.Handle, byteOffset: number, out: ArrayBufferView): void => here().read(h, byteOffset, out);
export const write = (h: native.Handle, byteOffset: number, src: ArrayBufferView): void => here().write(h, byteOffset, src);

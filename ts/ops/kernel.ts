// The one path from an op to a native kernel: inputs first, outputs last, as the registry expects.
// This is every op's per-call overhead, so it packs the views into one reused Float64Array and
// passes buffer handles as plain arguments (native.runPacked) instead of building nested arrays
// the addon would have to walk property by property. The addon checks the packed form exactly as
// it checks the nested one.
import type { Tensor } from '../tensor';
import { dtypeCode } from '../dtype';
import * as native from '../native';

let desc = new Float64Array(256);
const args: unknown[] = [0, desc, undefined];
// Frozen attrs objects cannot change, so the addon parses each one once.
const compiled = new WeakMap<native.Attrs, native.CompiledAttrs>();

function pack(t: Tensor, pos: number): number {
  t.assertAlive();
  const shape = t.shape, strides = t.strides, nd = shape.length;
  if (pos + 3 + 2 * nd > desc.length) {
    const grown = new Float64Array(2 * desc.length + 3 + 2 * nd);
    grown.set(desc);
    desc = grown;
    args[1] = desc;
  }
  desc[pos] = dtypeCode[t.dtype];
  desc[pos + 1] = t.offset;
  desc[pos + 2] = nd;
  for (let i = 0; i < nd; i++) {
    desc[pos + 3 + i] = shape[i];
    desc[pos + 3 + nd + i] = strides[i];
  }
  args.push(t.storage.handle);
  return pos + 3 + 2 * nd;
}

export function runKernel(op: string, inputs: Tensor[], outputs: Tensor[], attrs?: native.Attrs): void {
  const index = native.kernelIndex.get(op);
  if (index === undefined) {  // the nested form says what is wrong with the name
    native.run(op, [...inputs, ...outputs].map((t) => t.nativeView()), attrs);
    return;
  }
  let a: native.Attrs | native.CompiledAttrs | undefined = attrs;
  if (attrs !== undefined && Object.isFrozen(attrs)) {
    a = compiled.get(attrs);
    if (a === undefined) compiled.set(attrs, (a = native.compileAttrs(attrs)));
  }
  args.length = 3;
  try {
    let pos = 0;
    for (let i = 0; i < inputs.length; i++) pos = pack(inputs[i], pos);
    for (let i = 0; i < outputs.length; i++) pos = pack(outputs[i], pos);
    args[0] = index;
    args[2] = a;
    native.runPacked(args);
  } finally {
    // no handle outlives the call here, so a collected tensor's buffer is not kept alive
    args.length = 3;
    args[2] = undefined;
  }
}

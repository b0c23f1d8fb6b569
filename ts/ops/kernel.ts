// The one path from an op to a native kernel: inputs first, outputs last, as the registry expects.
// This is every op's per-call overhead, so it packs the views into one reused Float64Array and
// passes buffer handles as plain arguments (native.runPacked) instead of building nested arrays
// the addon would have to walk property by property. The addon checks the packed form exactly as
// it checks the nested one.
//
// Every tensor of one call must live on one device; that device's backend runs the kernel.
import type { Tensor } from '../tensor';
import { dtypeCode } from '../dtype';
import type * as native from '../native';
import type { Backend } from '../backend';
import { DeviceError } from '../errors';

let desc = new Float64Array(256);
const args: unknown[] = [0, desc, undefined];
// Frozen attrs objects cannot change, so the addon parses each one once.
const compiled = new WeakMap<native.Attrs, Map<Backend, native.CompiledAttrs>>();

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

function mixedDevices(op: string, inputs: Tensor[], outputs: Tensor[]): DeviceError {
  const where = [...inputs.map((t, i) => `input ${i} on ${t.device}`), ...outputs.map((t, i) => `output ${i} on ${t.device}`)];
  return new DeviceError(`${op}: expected every tensor on one device, got ${where.join(', ')}; move them with .to(device) first`);
}

/** The backend all of a call's tensors live on. */
function backendOf(op: string, inputs: Tensor[], outputs: Tensor[]): Backend {
  const first = inputs.length ? inputs[0] : outputs[0];
  first.assertAlive();
  const b = first.storage.backend;
  for (let i = 0; i < inputs.length; i++) if (inputs[i].storage.backend !== b) throw mixedDevices(op, inputs, outputs);
  for (let i = 0; i < outputs.length; i++) if (outputs[i].storage.backend !== b) throw mixedDevices(op, inputs, outputs);
  return b;
}

export function runKernel(op: string, inputs: Tensor[], outputs: Tensor[], attrs?: native.Attrs): void {
  const backend = backendOf(op, inputs, outputs);
  const index = backend.kernelIndex.get(op);
  if (index === undefined) {
    if (backend.device !== 'cpu') throw new DeviceError(`${op} has no ${backend.device} kernel in this build`);
    backend.run(op, [...inputs, ...outputs].map((t) => t.nativeView()), attrs);  // the nested form says what is wrong with the name
    return;
  }
  let a: native.Attrs | native.CompiledAttrs | undefined = attrs;
  if (attrs !== undefined && Object.isFrozen(attrs)) {
    // compiled per backend: an addon accepts only attrs it compiled itself
    let perBackend = compiled.get(attrs);
    if (perBackend === undefined) compiled.set(attrs, (perBackend = new Map()));
    a = perBackend.get(backend);
    if (a === undefined) perBackend.set(backend, (a = backend.compileAttrs(attrs)));
  }
  args.length = 3;
  try {
    let pos = 0;
    for (let i = 0; i < inputs.length; i++) pos = pack(inputs[i], pos);
    for (let i = 0; i < outputs.length; i++) pos = pack(outputs[i], pos);
    args[0] = index;
    args[2] = a;
    backend.runPacked(args);
  } finally {
    // no handle outlives the call here, so a collected tensor's buffer is not kept alive
    args.length = 3;
    args[2] = undefined;
  }
}

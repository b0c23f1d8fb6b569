// The one path from an op to a native kernel: inputs first, outputs last, as the registry expects.
import type { Tensor } from '../tensor';
import * as native from '../native';

export function runKernel(op: string, inputs: Tensor[], outputs: Tensor[], attrs?: native.Attrs): void {
  const views = inputs.map((t) => t.nativeView());
  for (const t of outputs) views.push(t.nativeView());
  native.run(op, views, attrs);
}

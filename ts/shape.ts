import { ShapeError, ArgumentError, IndexError } from './errors';

export const MAX_DIMS = 8;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}
export function contiguousStrides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
export function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
export function checkShape(shape: readonly number[], what = 'shape'): number[] {
  if (!Array.isArray(shape)) throw new ArgumentError(`${what} must be an array of sizes, got ${String(shape)}`);
  if (shape.length > MAX_DIMS) throw new ShapeError(`${what} ${fmt(shape)} has ${shape.length} dims; at most ${MAX_DIMS} are supported`);
  for (const s of shape)
    if (!Number.isSafeInteger(s) || s < 0) throw new ShapeError(`${what} ${fmt(shape)} must hold non-negative integers`);
  return [...shape];
}
/** Normalises a possibly negative dim for a tensor of rank `ndim` (a scalar accepts 0 and -1). */
export function normDim(dim: number, ndim: number): number {
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -n || dim >= n)
    throw new IndexError(`dim ${dim} is out of range for a tensor with ${ndim} dims (expected ${-n}..${n - 1})`);
  return dim < 0 ? dim + n : dim;
}

export function broadcastShapes(...shapes: (readonly number[])[]): number[] {
  const nd = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes)
    for (let i = 0; i < s.length; i++) {
      const j = nd - s.length + i;
      if (s[i] === out[j] || s[i] === 1) continue;
      if (out[j] !== 1)
        throw new ShapeError(`shapes ${shapes.map(fmt).join(' and ')} cannot be broadcast together (dim ${j}: ${out[j]} vs ${s[i]})`);
      out[j] = s[i];
    }
  return out;
}

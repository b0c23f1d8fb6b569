// Elementwise reference ops: unary maps, broadcasting binary ops, where.
import { RefTensor, broadcastShapes, getBroadcast, make } from './tensor';

export type UnaryOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'tanh'
  | 'sigmoid' | 'relu' | 'floor' | 'ceil' | 'round' | 'reciprocal' | 'square';

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

export const UNARY_OPS: readonly UnaryOp[] = [
  'neg', 'abs', 'sign', 'exp', 'log', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh',
  'sigmoid', 'relu', 'floor', 'ceil', 'round', 'reciprocal', 'square',
];

export const BINARY_OPS: readonly BinaryOp[] = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge',
];

/** Round half to even (banker's rounding), as torch.round does: 0.5 -> 0, 1.5 -> 2, -2.5 -> -2.
 *  Keeps the sign of zero like C nearbyint: round(-0.4) is -0. */
export function roundHalfEven(v: number): number {
  if (!Number.isFinite(v)) return v;
  const floor = Math.floor(v);
  const frac = v - floor;
  let r: number;
  if (frac < 0.5) r = floor;
  else if (frac > 0.5) r = floor + 1;
  else r = floor % 2 === 0 ? floor : floor + 1;
  return r === 0 && (v < 0 || Object.is(v, -0)) ? -0 : r;
}

/** Sigmoid without overflow in exp for large |v|. */
export function sigmoidScalar(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

export const unaryFns: Record<UnaryOp, (v: number) => number> = {
  neg: (v) => -v,
  abs: (v) => Math.abs(v),
  // torch.sign computes (0 < v) - (v < 0): 0 at ±0 and for NaN.
  sign: (v) => (v > 0 ? 1 : v < 0 ? -1 : 0),
  exp: (v) => Math.exp(v),
  log: (v) => Math.log(v),
  sqrt: (v) => Math.sqrt(v),
  rsqrt: (v) => 1 / Math.sqrt(v),
  sin: (v) => Math.sin(v),
  cos: (v) => Math.cos(v),
  tanh: (v) => Math.tanh(v),
  sigmoid: sigmoidScalar,
  // NaN propagates through relu in torch.
  relu: (v) => (Number.isNaN(v) ? v : v > 0 ? v : 0),
  floor: (v) => Math.floor(v),
  ceil: (v) => Math.ceil(v),
  round: roundHalfEven,
  reciprocal: (v) => 1 / v,
  square: (v) => v * v,
};

const b2n = (b: boolean): number => (b ? 1 : 0);

export const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  // Math.pow follows C pow: pow(x, 0) = 1 for every x (NaN too), negative base with a
  // non-integer exponent gives NaN. Same as torch.
  pow: (a, b) => Math.pow(a, b),
  // torch.maximum/minimum propagate NaN; Math.max/min do too.
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
  eq: (a, b) => b2n(a === b),
  ne: (a, b) => b2n(a !== b),
  lt: (a, b) => b2n(a < b),
  le: (a, b) => b2n(a <= b),
  gt: (a, b) => b2n(a > b),
  ge: (a, b) => b2n(a >= b),
};

export function unary(name: UnaryOp, x: RefTensor): RefTensor {
  const fn = unaryFns[name];
  if (!fn) throw new Error(`unknown unary op '${name}'`);
  return { shape: [...x.shape], data: x.data.map(fn) };
}

export function binary(name: BinaryOp, a: RefTensor, b: RefTensor): RefTensor {
  const fn = binaryFns[name];
  if (!fn) throw new Error(`unknown binary op '${name}'`);
  const shape = broadcastShapes(a.shape, b.shape);
  return make(shape, (idx) => fn(getBroadcast(a, idx), getBroadcast(b, idx)));
}

/** torch.where(cond, a, b): a where cond is nonzero, else b; all three broadcast together. */
export function where(cond: RefTensor, a: RefTensor, b: RefTensor): RefTensor {
  const shape = broadcastShapes(cond.shape, a.shape, b.shape);
  return make(shape, (idx) => (getBroadcast(cond, idx) !== 0 ? getBroadcast(a, idx) : getBroadcast(b, idx)));
}

// Elementwise primitives: unary math, broadcasting binary ops, comparisons, where, cast.
// Each backward is written with ops; un-broadcasting is the autograd engine's job.
import { Tensor } from '../tensor';
import type { Device } from '../backend';
import { OpDef, apply, releaseTemporaries } from '../autograd';
import { DType, promote } from '../dtype';
import { broadcastShapes, sameShape } from '../shape';
import { DTypeError, ArgumentError } from '../errors';
import { runKernel } from './kernel';
import { expand } from './movement';
import { scalar, zerosLike } from './creation';

type Scalar = number | boolean;
type TensorLike = Tensor | Scalar;

// Frozen, so runKernel has the addon parse each op's attributes once.
const opAttrs = new Map<string, { op: string }>();
function attrsFor(op: string): { op: string } {
  let a = opAttrs.get(op);
  if (!a) opAttrs.set(op, (a = Object.freeze({ op })));
  return a;
}

// ---- unary -------------------------------------------------------------------------------
type Grad = (x: Tensor, y: Tensor, g: Tensor) => Tensor;
const zeroGrad: Grad = (x) => zerosLike(x);
const unaryGrads = {
  neg: (_x, _y, g) => g.neg(),
  abs: (x, _y, g) => g.mul(x.sign()),
  sign: zeroGrad,
  exp: (_x, y, g) => g.mul(y),
  log: (x, _y, g) => g.div(x),
  sqrt: (_x, y, g) => g.div(y.mul(2)),
  rsqrt: (_x, y, g) => g.mul(y.pow(3)).mul(-0.5),
  sin: (x, _y, g) => g.mul(x.cos()),
  cos: (x, _y, g) => g.mul(x.sin()).neg(),
  tanh: (_x, y, g) => g.mul(y.square().neg().add(1)),
  sigmoid: (_x, y, g) => g.mul(y).mul(y.neg().add(1)),
  relu: (x, _y, g) => g.mul(x.gt(0)),
  floor: zeroGrad,
  ceil: zeroGrad,
  round: zeroGrad,
  reciprocal: (_x, y, g) => g.mul(y.square()).neg(),
  square: (x, _y, g) => g.mul(x).mul(2),
} satisfies Record<string, Grad>;
export type UnaryOp = keyof typeof unaryGrads;
const intUnary = new Set<UnaryOp>(['neg', 'abs', 'sign', 'relu', 'square', 'floor', 'ceil', 'round']);

const unaryDefs = Object.fromEntries(
  Object.entries(unaryGrads).map(([name, grad]) => [
    name,
    {
      name,
      forward: ([x]) => {
        const out = Tensor.empty(x.shape, x.dtype, x.device);
        runKernel('unary', [x], [out], attrsFor(name));
        return out;
      },
      backward: ({ inputs: [x], output }, g) => [(grad as Grad)(x, output, g)],
    } as OpDef<void>,
  ]),
) as Record<UnaryOp, OpDef<void>>;

export function unary(name: UnaryOp, x: Tensor): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(`${name}: expected a Tensor, got ${typeof x}`);
  if (x.dtype === 'bool' || (x.dtype === 'int32' && !intUnary.has(name))) {
    // torch promotes integers to float for transcendental ops
    const f = cast(x, x.dtype === 'bool' && intUnary.has(name) ? 'int32' : 'float32');
    const r = apply(unaryDefs[name], [f], undefined);
    releaseTemporaries(r, [f]);
    return r;
  }
  return apply(unaryDefs[name], [x], undefined);
}
export const neg = (x: Tensor) => unary('neg', x);
export const abs = (x: Tensor) => unary('abs', x);
export const sign = (x: Tensor) => unary('sign', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const sin = (x: Tensor) => unary('sin', x);
export const cos = (x: Tensor) => unary('cos', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const relu = (x: Tensor) => unary('relu', x);
export const floor = (x: Tensor) => unary('floor', x);
export const ceil = (x: Tensor) => unary('ceil', x);
export const round = (x: Tensor) => unary('round', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
export const square = (x: Tensor) => unary('square', x);

// ---- cast --------------------------------------------------------------------------------
const castDef: OpDef<DType> = {
  name: 'cast',
  forward: ([x], dtype) => {
    const out = Tensor.empty(x.shape, dtype, x.device);
    runKernel('copy', [x], [out]);
    return out;
  },
  backward: ({ inputs: [x] }, g) => [x.dtype === 'float32' ? g : null],
};
export function cast(x: Tensor, dtype: DType): Tensor {
  if (!['float32', 'int32', 'bool'].includes(dtype)) throw new DTypeError(`unknown dtype '${String(dtype)}'`);
  return apply(castDef, [x], dtype);
}

// ---- binary ------------------------------------------------------------------------------
type BGrad = (a: Tensor, b: Tensor, y: Tensor, g: Tensor) => (Tensor | null)[];
const tie = (a: Tensor, b: Tensor, win: 'gt' | 'lt') => a[win](b).float().add(a.eq(b).float().mul(0.5));
const binaryGrads = {
  add: (_a, _b, _y, g) => [g, g],
  sub: (_a, _b, _y, g) => [g, g.neg()],
  mul: (a, b, _y, g) => [g.mul(b), g.mul(a)],
  div: (_a, b, y, g) => [g.div(b), g.mul(y).div(b).neg()],
  // torch's conventions: no gradient where the exponent is 0 (base) or the base is 0 (exponent)
  pow: (a, b, y, g) => [
    where(b.eq(0), 0, g.mul(b).mul(a.pow(b.sub(1)))),
    where(a.eq(0).minimum(b.ge(0)), 0, g.mul(y).mul(a.log())),
  ],
  maximum: (a, b, _y, g) => [g.mul(tie(a, b, 'gt')), g.mul(tie(b, a, 'gt'))],
  minimum: (a, b, _y, g) => [g.mul(tie(a, b, 'lt')), g.mul(tie(b, a, 'lt'))],
} satisfies Record<string, BGrad>;
type ArithOp = keyof typeof binaryGrads;
const compareOps = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
type CompareOp = (typeof compareOps)[number];
export type BinaryOp = ArithOp | CompareOp;

function binaryDef(name: BinaryOp): OpDef<void> {
  const isCompare = (compareOps as readonly string[]).includes(name);
  const grad = (binaryGrads as Record<string, BGrad>)[name];
  const attrs = attrsFor(name);
  return {
    name,
    forward: ([a, b]) => {
      // same-shaped operands (the common case) need no broadcast views
      const same = sameShape(a.shape, b.shape);
      const shape = same ? a.shape : broadcastShapes(a.shape, b.shape);
      const out = Tensor.empty(shape, isCompare ? 'bool' : a.dtype, a.device);
      const ea = same ? a : expand(a, shape as number[]), eb = same ? b : expand(b, shape as number[]);
      runKernel('binary', [ea, eb], [out], attrs);
      if (ea !== a) ea.dispose();
      if (eb !== b) eb.dispose();
      return out;
    },
    backward: isCompare ? undefined : ({ inputs: [a, b], output }, g) => grad(a, b, output, g),
  };
}
const binaryDefs = Object.fromEntries([...Object.keys(binaryGrads), ...compareOps].map((n) => [n, binaryDef(n as BinaryOp)])) as Record<BinaryOp, OpDef<void>>;

function operandDType(x: TensorLike, other: TensorLike): DType {
  if (x instanceof Tensor) return x.dtype;
  if (typeof x === 'boolean') return 'bool';
  if (!Number.isInteger(x)) return 'float32';
  // an integer literal adopts the tensor's dtype, so int32 tensors stay int32
  return other instanceof Tensor && other.dtype !== 'bool' ? other.dtype : 'int32';
}

function toTensor(x: TensorLike, dtype: DType, name: string, device: Device): Tensor {
  if (x instanceof Tensor) return x.dtype === dtype ? x : cast(x, dtype);
  if (typeof x !== 'number' && typeof x !== 'boolean') throw new ArgumentError(`${name}: operands must be tensors or numbers, got ${typeof x}`);
  return scalar(x, { dtype, device });
}

export function binary(name: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new ArgumentError(`${name}: at least one operand must be a Tensor`);
  let dtype = promote(operandDType(a, b), operandDType(b, a));
  if (name === 'div' || name === 'pow') dtype = 'float32';  // true division, like torch
  else if (dtype === 'bool' && !(compareOps as readonly string[]).includes(name) && name !== 'maximum' && name !== 'minimum') dtype = 'int32';
  const device = (a instanceof Tensor ? a : (b as Tensor)).device;  // a number joins the tensor's device
  const ta = toTensor(a, dtype, name, device), tb = toTensor(b, dtype, name, device);
  const out = apply(binaryDefs[name], [ta, tb], undefined);
  if (ta !== a || tb !== b) releaseTemporaries(out, [ta, tb].filter((t) => t !== a && t !== b));
  return out;
}
export const add = (a: TensorLike, b: TensorLike) => binary('add', a, b);
export const sub = (a: TensorLike, b: TensorLike) => binary('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike) => binary('mul', a, b);
export const div = (a: TensorLike, b: TensorLike) => binary('div', a, b);
export const pow = (a: TensorLike, b: TensorLike) => binary('pow', a, b);
export const maximum = (a: TensorLike, b: TensorLike) => binary('maximum', a, b);
export const minimum = (a: TensorLike, b: TensorLike) => binary('minimum', a, b);
export const eq = (a: TensorLike, b: TensorLike) => binary('eq', a, b);
export const ne = (a: TensorLike, b: TensorLike) => binary('ne', a, b);
export const lt = (a: TensorLike, b: TensorLike) => binary('lt', a, b);
export const le = (a: TensorLike, b: TensorLike) => binary('le', a, b);
export const gt = (a: TensorLike, b: TensorLike) => binary('gt', a, b);
export const ge = (a: TensorLike, b: TensorLike) => binary('ge', a, b);

// ---- where -------------------------------------------------------------------------------
const whereDef: OpDef<void> = {
  name: 'where',
  forward: ([c, a, b]) => {
    const shape = broadcastShapes(c.shape, a.shape, b.shape);
    const out = Tensor.empty(shape, a.dtype, a.device);
    const views = [c, a, b].map((t) => expand(t, shape));
    runKernel('where', views, [out]);
    views.forEach((v) => v.dispose());
    return out;
  },
  backward: ({ inputs: [c] }, g) => [null, where(c, g, 0), where(c, 0, g)],
};

/** Elementwise cond ? a : b, broadcasting all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (!(cond instanceof Tensor)) throw new ArgumentError('where: the condition must be a Tensor');
  const dtype = promote(operandDType(a, b), operandDType(b, a));
  const c = cond.dtype === 'bool' ? cond : cast(cond, 'bool');
  const ta = toTensor(a, dtype, 'where', cond.device), tb = toTensor(b, dtype, 'where', cond.device);
  const out = apply(whereDef, [c, ta, tb], undefined);
  releaseTemporaries(out, [c, ta, tb].filter((t) => t !== cond && t !== a && t !== b));
  return out;
}

/** Limits values to [min, max]; the gradient flows where x is inside (boundaries included). */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  let r = x;
  for (const [bound, test] of [[min, 'lt'], [max, 'gt']] as const) {
    if (bound === undefined) continue;
    const outside = r[test](bound);
    const next = where(outside, bound, r);
    releaseTemporaries(next, r === x ? [outside] : [outside, r]);
    r = next;
  }
  return r === x ? x.clone() : r;
}

// Checks the float64 reference itself: every VJP against central finite differences on fresh random
// inputs, and hand-computed forward values for the semantics that are easy to get wrong.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/reference.test.ts
import {
  BinaryOp, RefTensor, Rng, UNARY_OPS, UnaryOp, amax, amin, argmax, argmin, assertClose, binary,
  broadcastShapes, cat, closeness, expand, finiteDiffVjp, flatten, fromNested, gather, indexSelect,
  logSoftmax, make, matmul, max, mean, min, numel, permute, prod, rand, randint, randn,
  reshape, scalar, scatterAdd, slice, softmax, squeeze, stack, sum, sumToShape, tensor, toNested,
  transpose, unary, unsqueeze, vjp, where, zeros,
} from './reference';

import { BASE_SEED, rngFor } from './seed';

/** A jest test with its own seeded RNG; a failure names the seed to rerun with. */
function seeded(name: string, body: (rng: Rng) => void): void {
  test(name, () => {
    const rng = rngFor(name);
    try {
      body(rng);
    } catch (e) {
      if (e instanceof Error) e.message = `[rerun with REF_SEED=${BASE_SEED}] ${e.message}`;
      throw e;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Gradient checks

const RTOL = 1e-6;
const ATOL = 1e-8;
const EPS = 1e-6;

const covered = new Set<string>();

/** f and its VJP; `differentiable` marks which inputs are perturbed (index tensors are not). */
interface GradCase {
  op: string;
  label: string;
  inputs: (rng: Rng) => RefTensor[];
  f: (xs: RefTensor[]) => RefTensor;
  back: (xs: RefTensor[], g: RefTensor) => RefTensor[];
  differentiable?: boolean[];
}

function gradCase(c: GradCase): void {
  covered.add(c.op); // at declaration time, so the coverage test does not depend on test order
  seeded(`vjp ${c.op} ${c.label}`, (rng) => {
    const xs = c.inputs(rng);
    const out = c.f(xs);
    const g = randn(out.shape, rng);
    const differentiable = c.differentiable ?? xs.map(() => true);
    const numeric = finiteDiffVjp(c.f, xs, g, EPS, differentiable);
    const analytic = c.back(xs, g);
    const diffIdx = differentiable.flatMap((d, i) => (d ? [i] : []));
    expect(analytic.length).toBe(diffIdx.length);
    diffIdx.forEach((inputIdx, k) => {
      expect(analytic[k].shape).toEqual(xs[inputIdx].shape);
      const problem = closeness(analytic[k], numeric[inputIdx], RTOL, ATOL);
      if (problem !== null) throw new Error(`${c.op} ${c.label}: gradient of input ${inputIdx}: ${problem}`);
    });
  });
}

/** Random values with |v| in [lo, hi) and random sign: keeps inputs away from kinks at 0. */
function awayFromZero(shape: number[], rng: Rng, lo = 0.2, hi = 2): RefTensor {
  return make(shape, () => (rng.uniform() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rng.uniform()));
}

/** Values whose fractional part stays in [0.15, 0.35]: far from floor/ceil/round discontinuities. */
function awayFromSteps(shape: number[], rng: Rng): RefTensor {
  return make(shape, () => rng.int(-3, 3) + 0.15 + 0.2 * rng.uniform());
}

/** Normal values, resampled until all are at least `gap` apart (no near-ties for max/min). */
function distinct(shape: number[], rng: Rng, gap = 1e-3): RefTensor {
  for (;;) {
    const x = randn(shape, rng);
    const sorted = Array.from(x.data).sort((p, q) => p - q);
    if (sorted.every((v, i) => i === 0 || v - sorted[i - 1] >= gap)) return x;
  }
}

const UNARY_SHAPES: number[][] = [[], [1], [3], [2, 3], [1, 5], [3, 1, 7]];

function unaryInput(op: UnaryOp, shape: number[], rng: Rng): RefTensor {
  switch (op) {
    case 'log': case 'sqrt': case 'rsqrt': return rand(shape, rng, 0.3, 3);
    case 'abs': case 'relu': case 'sign': case 'reciprocal': return awayFromZero(shape, rng);
    case 'floor': case 'ceil': case 'round': return awayFromSteps(shape, rng);
    default: return randn(shape, rng);
  }
}

describe('VJPs match finite differences', () => {
  for (const op of UNARY_OPS) {
    for (const shape of UNARY_SHAPES) {
      gradCase({
        op: `unary.${op}`, label: `[${shape}]`,
        inputs: (rng) => [unaryInput(op, shape, rng)],
        f: ([x]) => unary(op, x),
        back: ([x], g) => vjp.unary(op, x, g),
      });
    }
  }

  const binaryShapes: [number[], number[]][] = [
    [[], []], [[3], []], [[], [2, 3]], [[2, 3], [3]], [[3, 1], [1, 5]], [[2, 1, 5], [3, 1]],
    [[1], [7]], [[2, 3], [2, 3]],
  ];
  const binaryInputs = (op: BinaryOp, sa: number[], sb: number[], rng: Rng): RefTensor[] => {
    switch (op) {
      case 'div': return [randn(sa, rng), awayFromZero(sb, rng, 0.5, 2)];
      case 'pow': return [rand(sa, rng, 0.5, 2), rand(sb, rng, -2, 2)];
      case 'maximum': case 'minimum': {
        for (;;) { // resample until no broadcast pair is a near-tie
          const a = randn(sa, rng);
          const b = randn(sb, rng);
          if (binary('sub', a, b).data.every((d) => Math.abs(d) > 1e-3)) return [a, b];
        }
      }
      default: return [randn(sa, rng), randn(sb, rng)];
    }
  };
  for (const op of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'] as BinaryOp[]) {
    for (const [sa, sb] of binaryShapes) {
      gradCase({
        op: `binary.${op}`, label: `[${sa}] [${sb}]`,
        inputs: (rng) => binaryInputs(op, sa, sb, rng),
        f: ([a, b]) => binary(op, a, b),
        back: ([a, b], g) => vjp.binary(op, a, b, g),
      });
    }
  }
  // pow with negative bases and integer exponents: d/da is finite (d/db would be NaN, as in torch).
  gradCase({
    op: 'binary.pow', label: 'negative base, integer exponent (wrt base)',
    inputs: (rng) => [awayFromZero([2, 3], rng), randint([3], rng, -2, 4)],
    f: ([a, b]) => binary('pow', a, b),
    back: ([a, b], g) => [vjp.binary('pow', a, b, g)[0]],
    differentiable: [true, false],
  });

  for (const [sc, sa, sb] of [[[], [], []], [[3, 1], [1, 5], []], [[2, 3], [3], [2, 1]], [[4], [1], [1]]] as number[][][]) {
    gradCase({
      op: 'where', label: `[${sc}] [${sa}] [${sb}]`,
      inputs: (rng) => [randint(sc, rng, 0, 2), randn(sa, rng), randn(sb, rng)],
      f: ([c, a, b]) => where(c, a, b),
      back: ([c, a, b], g) => vjp.where(c, a, b, g),
      differentiable: [false, true, true],
    });
  }

  const reduceCases: [number[], number[] | undefined, boolean][] = [
    [[], undefined, false], [[], [0], true], [[3], [0], false], [[2, 3], [1], true], [[2, 3], [-1], false],
    [[3, 1, 5], [0, 2], false], [[3, 1, 5], [1], true], [[2, 3, 4], [-1, 0], true], [[2, 3, 4], undefined, false],
    [[2, 3, 4], undefined, true], [[1, 7], [], false],
  ];
  for (const [shape, dims, keepDim] of reduceCases) {
    const label = `[${shape}] dims=${dims ? `[${dims}]` : 'all'} keepDim=${keepDim}`;
    gradCase({
      op: 'sum', label, inputs: (rng) => [randn(shape, rng)],
      f: ([x]) => sum(x, dims, keepDim), back: ([x], g) => vjp.sum(x, dims, keepDim, g),
    });
    gradCase({
      op: 'mean', label, inputs: (rng) => [randn(shape, rng)],
      f: ([x]) => mean(x, dims, keepDim), back: ([x], g) => vjp.mean(x, dims, keepDim, g),
    });
    gradCase({
      op: 'prod', label, inputs: (rng) => [awayFromZero(shape, rng, 0.5, 1.5)],
      f: ([x]) => prod(x, dims, keepDim), back: ([x], g) => vjp.prod(x, dims, keepDim, g),
    });
    gradCase({
      op: 'amax', label, inputs: (rng) => [distinct(shape, rng)],
      f: ([x]) => amax(x, dims, keepDim), back: ([x], g) => vjp.amax(x, dims, keepDim, g),
    });
    gradCase({
      op: 'amin', label, inputs: (rng) => [distinct(shape, rng)],
      f: ([x]) => amin(x, dims, keepDim), back: ([x], g) => vjp.amin(x, dims, keepDim, g),
    });
  }
  gradCase({
    op: 'prod', label: 'with zeros (exact product-of-others gradient)',
    inputs: (rng) => [make([3, 4], ([i, j]) => (i === j || (i === 1 && j === 3) ? 0 : rng.normal()))],
    f: ([x]) => prod(x, [1], false), back: ([x], g) => vjp.prod(x, [1], false, g),
  });

  const maxCases: [number[], number | undefined, boolean][] = [
    [[], undefined, false], [[], 0, false], [[5], undefined, false], [[5], 0, true], [[2, 3], 1, false],
    [[2, 3], -2, true], [[3, 1, 5], 1, false], [[3, 1, 5], undefined, true], [[2, 3, 4], 2, false],
  ];
  for (const [shape, dim, keepDim] of maxCases) {
    const label = `[${shape}] dim=${dim ?? 'all'} keepDim=${keepDim}`;
    gradCase({
      op: 'max', label, inputs: (rng) => [distinct(shape, rng)],
      f: ([x]) => max(x, dim, keepDim), back: ([x], g) => vjp.max(x, dim, keepDim, g),
    });
    gradCase({
      op: 'min', label, inputs: (rng) => [distinct(shape, rng)],
      f: ([x]) => min(x, dim, keepDim), back: ([x], g) => vjp.min(x, dim, keepDim, g),
    });
  }

  const matmulShapes: [number[], number[]][] = [
    [[3], [3]], [[3], [3, 5]], [[2, 3], [3]], [[2, 3], [3, 5]], [[1, 1], [1, 1]], [[4, 2, 3], [3, 5]],
    [[2, 3], [4, 3, 5]], [[2, 1, 2, 3], [3, 3, 1]], [[5, 1, 2, 3], [4, 3, 2]], [[3], [2, 3, 4]],
    [[2, 4, 3], [3]], [[1, 2, 3], [7, 3, 1]],
  ];
  for (const [sa, sb] of matmulShapes) {
    gradCase({
      op: 'matmul', label: `[${sa}] @ [${sb}]`,
      inputs: (rng) => [randn(sa, rng), randn(sb, rng)],
      f: ([a, b]) => matmul(a, b), back: ([a, b], g) => vjp.matmul(a, b, g),
    });
  }

  const one = (op: string, label: string, shape: number[], f: (x: RefTensor) => RefTensor,
    back: (x: RefTensor, g: RefTensor) => RefTensor[]): void =>
    gradCase({ op, label, inputs: (rng) => [randn(shape, rng)], f: ([x]) => f(x), back: ([x], g) => back(x, g) });

  for (const [shape, target] of [[[2, 3], [3, 2]], [[2, 3], [-1]], [[], [1, 1]], [[3, 1, 5], [5, -1]], [[7], [7, 1]]] as number[][][]) {
    one('reshape', `[${shape}] -> [${target}]`, shape, (x) => reshape(x, target), (x, g) => vjp.reshape(x, target, g));
  }
  for (const [shape, d0, d1] of [[[2, 3, 4], 0, 2], [[2, 3, 4], -1, -2], [[3, 5], 0, 1], [[], 0, -1], [[1, 5], 1, 1]] as [number[], number, number][]) {
    one('transpose', `[${shape}] ${d0},${d1}`, shape, (x) => transpose(x, d0, d1), (x, g) => vjp.transpose(x, d0, d1, g));
  }
  for (const [shape, dims] of [[[2, 3, 4], [2, 0, 1]], [[2, 3, 4], [1, -1, 0]], [[3, 1, 5], [0, 1, 2]], [[], []], [[5, 3], [1, 0]]] as number[][][]) {
    one('permute', `[${shape}] [${dims}]`, shape, (x) => permute(x, dims), (x, g) => vjp.permute(x, dims, g));
  }
  for (const [shape, target] of [[[3, 1], [2, 3, 5]], [[], [2, 3]], [[1], [-1]], [[1, 5], [4, -1]], [[2, 1, 3], [2, 7, 3]]] as number[][][]) {
    one('expand', `[${shape}] -> [${target}]`, shape, (x) => expand(x, target), (x, g) => vjp.expand(x, target, g));
  }
  const sliceCases: [number[], number, number | undefined, number | undefined, number][] = [
    [[7, 3], 0, 1, 6, 2], [[7, 3], -1, -2, undefined, 1], [[5], 0, undefined, undefined, 3],
    [[2, 9], 1, -100, 100, 4], [[3, 5], 1, 4, 2, 1],
  ];
  for (const [shape, dim, start, end, step] of sliceCases) {
    one('slice', `[${shape}] dim=${dim} ${start}:${end}:${step}`, shape,
      (x) => slice(x, dim, start, end, step), (x, g) => vjp.slice(x, dim, start, end, step, g));
  }
  const catCases: [number[][], number][] = [
    [[[2, 3], [4, 3], [1, 3]], 0], [[[2, 1], [2, 4]], -1], [[[5]], 0], [[[2, 3, 1], [2, 3, 2]], 2],
  ];
  for (const [shapes, dim] of catCases) {
    gradCase({
      op: 'cat', label: `${shapes.map((s) => `[${s}]`).join(' ')} dim=${dim}`,
      inputs: (rng) => shapes.map((s) => randn(s, rng)),
      f: (xs) => cat(xs, dim), back: (xs, g) => vjp.cat(xs, dim, g),
    });
  }
  const stackCases: [number[], number, number][] = [[[2, 3], 3, 1], [[2, 3], 2, -1], [[], 4, 0], [[5], 2, 0]];
  for (const [shape, count, dim] of stackCases) {
    gradCase({
      op: 'stack', label: `${count}x[${shape}] dim=${dim}`,
      inputs: (rng) => Array.from({ length: count }, () => randn(shape, rng)),
      f: (xs) => stack(xs, dim), back: (xs, g) => vjp.stack(xs, dim, g),
    });
  }
  for (const [shape, dim] of [[[1, 3, 1], undefined], [[1, 3, 1], 0], [[1, 3, 1], [0, 2]], [[1, 3, 1], 1], [[], undefined]] as [number[], number | number[] | undefined][]) {
    one('squeeze', `[${shape}] dim=${JSON.stringify(dim)}`, shape, (x) => squeeze(x, dim), (x, g) => vjp.squeeze(x, dim, g));
  }
  for (const [shape, dim] of [[[3, 5], 0], [[3, 5], -1], [[], 0], [[2, 3], 1]] as [number[], number][]) {
    one('unsqueeze', `[${shape}] dim=${dim}`, shape, (x) => unsqueeze(x, dim), (x, g) => vjp.unsqueeze(x, dim, g));
  }
  for (const [shape, s, e] of [[[2, 3, 4], 1, 2], [[2, 3, 4], 0, -1], [[], 0, -1], [[3, 1, 5], 0, 1]] as [number[], number, number][]) {
    one('flatten', `[${shape}] ${s}..${e}`, shape, (x) => flatten(x, s, e), (x, g) => vjp.flatten(x, s, e, g));
  }

  const gatherCases: [number[], number, number[]][] = [[[3, 4], 0, [2, 4]], [[3, 4], 1, [2, 2]], [[5], 0, [7]], [[2, 3, 4], -1, [2, 3, 6]]];
  for (const [shape, dim, idxShape] of gatherCases) {
    gradCase({
      op: 'gather', label: `[${shape}] dim=${dim} index [${idxShape}]`,
      inputs: (rng) => [randn(shape, rng), randint(idxShape, rng, 0, shape[(dim + shape.length) % shape.length])],
      f: ([x, i]) => gather(x, dim, i), back: ([x, i], g) => vjp.gather(x, dim, i, g),
      differentiable: [true, false],
    });
  }
  const scatterCases: [number[], number, number[], number[]][] = [
    [[3, 5], 0, [2, 3], [2, 4]], [[3, 5], 1, [3, 7], [3, 7]], [[4], 0, [6], [6]], [[2, 3, 4], 1, [2, 5, 4], [2, 5, 4]],
  ];
  for (const [shape, dim, idxShape, srcShape] of scatterCases) {
    gradCase({
      op: 'scatterAdd', label: `[${shape}] dim=${dim} index [${idxShape}] src [${srcShape}]`,
      inputs: (rng) => [randn(shape, rng), randint(idxShape, rng, 0, shape[dim]), randn(srcShape, rng)],
      f: ([x, i, s]) => scatterAdd(x, dim, i, s), back: ([x, i, s], g) => vjp.scatterAdd(x, dim, i, s, g),
      differentiable: [true, false, true],
    });
  }
  const indexSelectCases: [number[], number, number][] = [[[4, 3], 0, 5], [[4, 3], -1, 2], [[6], 0, 9], [[2, 5, 3], 1, 4]];
  for (const [shape, dim, count] of indexSelectCases) {
    gradCase({
      op: 'indexSelect', label: `[${shape}] dim=${dim} ${count} indices`,
      inputs: (rng) => [randn(shape, rng), randint([count], rng, 0, shape[(dim + shape.length) % shape.length])],
      f: ([x, i]) => indexSelect(x, dim, i), back: ([x, i], g) => vjp.indexSelect(x, dim, i, g),
      differentiable: [true, false],
    });
  }

  for (const [shape, dim] of [[[5], 0], [[2, 3], 1], [[3, 1, 4], -1], [[3, 1, 4], 0], [[3, 1, 4], 1], [[], 0]] as [number[], number][]) {
    one('softmax', `[${shape}] dim=${dim}`, shape, (x) => softmax(x, dim), (x, g) => vjp.softmax(x, dim, g));
    one('logSoftmax', `[${shape}] dim=${dim}`, shape, (x) => logSoftmax(x, dim), (x, g) => vjp.logSoftmax(x, dim, g));
  }
});

test('every vjp entry, unary op and differentiable binary op has a finite-difference check', () => {
  const expected = [
    ...Object.keys(vjp).filter((k) => k !== 'unary' && k !== 'binary'),
    ...UNARY_OPS.map((op) => `unary.${op}`),
    ...['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'].map((op) => `binary.${op}`),
  ];
  expect(expected.filter((name) => !covered.has(name))).toEqual([]);
});

// ---------------------------------------------------------------------------------------------
// The checking machinery itself must be able to fail.

describe('finite differences and closeness', () => {
  seeded('finiteDiffVjp matches a known gradient (d/dx sum(g * x^3) = 3 g x^2)', (rng) => {
    const x = randn([2, 3], rng);
    const g = randn([2, 3], rng);
    const cube = (t: RefTensor): RefTensor => ({ shape: t.shape, data: t.data.map((v) => v ** 3) });
    const [numeric] = finiteDiffVjp(([t]) => cube(t), [x], g);
    const exact = { shape: x.shape, data: x.data.map((v, i) => 3 * g.data[i] * v * v) };
    assertClose(numeric, exact, 1e-7, 1e-9);
    // An index-like input marked non-differentiable is never perturbed and gets zeros.
    const [, gIdx] = finiteDiffVjp(([t]) => cube(t), [x, scalar(2)], g, 1e-6, [true, false]);
    expect(Array.from(gIdx.data)).toEqual([0]);
  });

  seeded('a wrong VJP is caught (mul gradients swapped)', (rng) => {
    const a = randn([2, 3], rng);
    const b = randn([2, 3], rng);
    const g = randn([2, 3], rng);
    const [na, nb] = finiteDiffVjp(([p, q]) => binary('mul', p, q), [a, b], g);
    const [ga, gb] = vjp.binary('mul', a, b, g);
    expect(closeness(ga, na, RTOL, ATOL)).toBeNull();
    expect(closeness(gb, na, RTOL, ATOL)).not.toBeNull();
    expect(closeness(ga, nb, RTOL, ATOL)).not.toBeNull();
  });

  test('closeness rejects NaN, shape mismatch and small errors beyond tolerance', () => {
    expect(closeness(tensor([NaN], [1]), tensor([NaN], [1]), 1, 1)).not.toBeNull();
    expect(closeness(tensor([NaN], [1]), tensor([NaN], [1]), 1, 1, true)).toBeNull();
    expect(closeness(tensor([1], [1]), tensor([1], []), 1, 1)).not.toBeNull();
    expect(closeness(tensor([1 + 2e-6], [1]), tensor([1], [1]), 1e-6, 0)).not.toBeNull();
    expect(closeness(tensor([1 + 5e-7], [1]), tensor([1], [1]), 1e-6, 0)).toBeNull();
    expect(closeness(tensor([Infinity], [1]), tensor([Infinity], [1]), 0, 0)).toBeNull();
    expect(closeness(tensor([-Infinity], [1]), tensor([Infinity], [1]), 0, 0)).not.toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-computed forward values (and a few hand-computed gradients for torch's conventions).

const T = fromNested;
const arange = (n: number): RefTensor => make([n], ([i]) => i);

describe('forward values', () => {
  test('matmul: 2-D, dot, 1-D promotion, batched broadcasting', () => {
    expect(toNested(matmul(T([[1, 2], [3, 4]]), T([[5, 6], [7, 8]])))).toEqual([[19, 22], [43, 50]]);
    const dot = matmul(T([1, 2, 3]), T([4, 5, 6]));
    expect(dot.shape).toEqual([]);
    expect(dot.data[0]).toBe(32);
    expect(toNested(matmul(T([1, 2]), T([[1, 2], [3, 4]])))).toEqual([7, 10]);
    expect(toNested(matmul(T([[1, 2], [3, 4]]), T([1, 2])))).toEqual([5, 11]);
    const batched = matmul(make([2, 1, 2, 3], () => 1), make([3, 3, 1], ([b, k]) => b + k));
    expect(batched.shape).toEqual([2, 3, 2, 1]);
    expect(toNested(batched)).toEqual([[[[3], [3]], [[6], [6]], [[9], [9]]], [[[3], [3]], [[6], [6]], [[9], [9]]]]);
    expect(matmul(T([1, 2, 3]), make([4, 3, 5], () => 1)).shape).toEqual([4, 5]);
    expect(() => matmul(T([[1, 2]]), T([[1, 2]]))).toThrow();
    expect(() => matmul(scalar(1), T([1]))).toThrow();
  });

  test('argmax/argmin: first occurrence, flattened index, keepDim', () => {
    expect(argmax(T([1, 3, 3, 2])).data[0]).toBe(1);
    expect(argmin(T([2, 0, 5, 0])).data[0]).toBe(1);
    const x = T([[1, 5, 5], [7, 0, 7]]);
    expect(toNested(argmax(x, 1))).toEqual([1, 0]);
    expect(toNested(argmax(x, 0))).toEqual([1, 0, 1]);
    expect(toNested(argmin(x, -1, true))).toEqual([[0], [1]]);
    expect(argmax(x).shape).toEqual([]);
    expect(argmax(x).data[0]).toBe(3);
    expect(argmax(x, undefined, true).shape).toEqual([1, 1]);
    expect(argmax(T([1, NaN, 3])).data[0]).toBe(1); // NaN is the maximum in torch
  });

  test('max/min/amax/amin values and shapes', () => {
    const x = T([[1, 5, 2], [7, 0, 3]]);
    expect(max(x).data[0]).toBe(7);
    expect(toNested(max(x, 1))).toEqual([5, 7]);
    expect(toNested(min(x, 0, true))).toEqual([[1, 0, 2]]);
    expect(toNested(amax(x, [0, 1], true))).toEqual([[7]]);
    expect(toNested(amin(x, [-1]))).toEqual([1, 0]);
    expect(toNested(sum(x, [0]))).toEqual([8, 5, 5]);
    expect(toNested(mean(x, [1], true))).toEqual([[8 / 3], [10 / 3]]);
    expect(prod(x, [1]).data).toEqual(Float64Array.from([10, 0]));
    expect(sum(scalar(4), [0]).data[0]).toBe(4);
  });

  test('round is half-to-even; sign, relu and other unaries', () => {
    const r = unary('round', T([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -0.4]));
    expect(Array.from(r.data)).toEqual([0, 2, 2, -0, -2, -2, 2, 3, -0]);
    expect(Array.from(unary('sign', T([-2, 0, 3, NaN])).data)).toEqual([-1, 0, 1, 0]); // torch: sign(NaN) = 0
    expect(Number.isNaN(unary('relu', T([NaN])).data[0])).toBe(true);
    expect(Array.from(unary('relu', T([-1, 0, 2])).data)).toEqual([0, 0, 2]);
    expect(Array.from(unary('floor', T([-1.5, 1.5])).data)).toEqual([-2, 1]);
    expect(Array.from(unary('ceil', T([-1.5, 1.5])).data)).toEqual([-1, 2]);
    expect(Array.from(unary('rsqrt', T([4])).data)).toEqual([0.5]);
    expect(unary('sigmoid', T([-1000, 0, 1000])).data).toEqual(Float64Array.from([0, 0.5, 1]));
  });

  test('broadcasting binary ops and comparisons', () => {
    expect(broadcastShapes([3, 1], [1, 2], [])).toEqual([3, 2]);
    expect(() => broadcastShapes([2], [3])).toThrow();
    expect(toNested(binary('add', T([[1], [2], [3]]), T([10, 20])))).toEqual([[11, 21], [12, 22], [13, 23]]);
    expect(toNested(binary('lt', T([1, 2, 3]), scalar(2)))).toEqual([1, 0, 0]);
    expect(toNested(binary('ge', T([1, 2, 3]), scalar(2)))).toEqual([0, 1, 1]);
    expect(toNested(binary('pow', T([2, -2, 0]), T([3, 2, 0])))).toEqual([8, 4, 1]);
    expect(toNested(binary('maximum', T([1, 5]), T([3, 2])))).toEqual([3, 5]);
    expect(toNested(where(T([[1], [0]]), T([1, 2]), scalar(-1)))).toEqual([[1, 2], [-1, -1]]);
    expect(toNested(sumToShape(T([[1, 2], [3, 4]]), [1, 2]))).toEqual([[4, 6]]);
  });

  test('softmax rows sum to 1, known values, stable for large inputs', () => {
    const p = softmax(T([1, 2, 3]), 0);
    assertClose(p, T([0.09003057317038046, 0.24472847105479767, 0.6652409557748219]), 1e-12, 0);
    const rows = softmax(make([4, 5], ([i, j]) => i * j - 3), 1);
    for (const s of sum(rows, [1]).data) expect(Math.abs(s - 1)).toBeLessThan(1e-12);
    assertClose(logSoftmax(T([1000, 1000]), 0), T([-Math.LN2, -Math.LN2]), 1e-12, 0);
    assertClose(softmax(T([[1000], [0]]), 0), T([[1], [0]]), 0, 1e-300);
    expect(softmax(scalar(5), 0).data[0]).toBe(1);
  });

  test('slice with steps, negative and clamped bounds', () => {
    const x = arange(10);
    expect(toNested(slice(x, 0, 1, 8, 3))).toEqual([1, 4, 7]);
    expect(toNested(slice(x, 0, -3))).toEqual([7, 8, 9]);
    expect(toNested(slice(x, 0, undefined, undefined, 4))).toEqual([0, 4, 8]);
    expect(toNested(slice(x, 0, 5, 100))).toEqual([5, 6, 7, 8, 9]);
    expect(slice(x, 0, 8, 2).shape).toEqual([0]);
    expect(toNested(slice(T([[1, 2, 3], [4, 5, 6]]), -1, 1))).toEqual([[2, 3], [5, 6]]);
    expect(() => slice(x, 0, 0, 5, 0)).toThrow();
  });

  test('gather, scatterAdd, indexSelect: torch documentation examples', () => {
    expect(toNested(gather(T([[1, 2], [3, 4]]), 1, T([[0, 0], [1, 0]])))).toEqual([[1, 1], [4, 3]]);
    const src = make([2, 5], () => 1);
    expect(toNested(scatterAdd(zeros([3, 5]), 0, T([[0, 1, 2, 0, 0]]), src)))
      .toEqual([[1, 0, 0, 1, 1], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0]]);
    expect(toNested(scatterAdd(zeros([3, 5]), 0, T([[0, 1, 2, 0, 0], [0, 1, 2, 2, 2]]), src)))
      .toEqual([[2, 0, 0, 1, 1], [0, 2, 0, 0, 0], [0, 0, 2, 1, 1]]);
    const x = make([3, 4], ([i, j]) => 10 * i + j);
    expect(toNested(indexSelect(x, 0, T([0, 2])))).toEqual([[0, 1, 2, 3], [20, 21, 22, 23]]);
    expect(toNested(indexSelect(x, 1, T([0, 2])))).toEqual([[0, 2], [10, 12], [20, 22]]);
    expect(() => gather(x, 0, T([[3]]))).toThrow();
    expect(() => indexSelect(x, 0, T([-1]))).toThrow();
  });

  test('movement ops: shapes and element order', () => {
    const x = make([2, 3], ([i, j]) => 10 * i + j);
    expect(toNested(transpose(x, 0, 1))).toEqual([[0, 10], [1, 11], [2, 12]]);
    const y = make([2, 3, 4], ([i, j, k]) => 100 * i + 10 * j + k);
    const p = permute(y, [2, 0, 1]);
    expect(p.shape).toEqual([4, 2, 3]);
    expect(p.data[numel([4, 2, 3]) - 1]).toBe(123);
    expect(p.data[1]).toBe(10); // p[0][0][1] = y[0][1][0]
    expect(reshape(y, [4, -1]).shape).toEqual([4, 6]);
    expect(() => reshape(y, [5, -1])).toThrow();
    expect(toNested(expand(T([[1], [2]]), [-1, 3]))).toEqual([[1, 1, 1], [2, 2, 2]]);
    expect(expand(scalar(3), [2, 2]).shape).toEqual([2, 2]);
    expect(() => expand(T([1, 2]), [3])).toThrow();
    expect(toNested(cat([x, T([[7, 8, 9]])], 0))).toEqual([[0, 1, 2], [10, 11, 12], [7, 8, 9]]);
    expect(toNested(cat([T([[1], [2]]), T([[3, 4], [5, 6]])], -1))).toEqual([[1, 3, 4], [2, 5, 6]]);
    expect(toNested(stack([T([1, 2]), T([3, 4])], 1))).toEqual([[1, 3], [2, 4]]);
    expect(stack([scalar(1), scalar(2)], 0).shape).toEqual([2]);
    expect(squeeze(make([1, 3, 1], () => 0)).shape).toEqual([3]);
    expect(squeeze(make([1, 3, 1], () => 0), 1).shape).toEqual([1, 3, 1]);
    expect(squeeze(make([1, 3, 1], () => 0), [0, -1]).shape).toEqual([3]);
    expect(unsqueeze(x, -1).shape).toEqual([2, 3, 1]);
    expect(flatten(y, 1).shape).toEqual([2, 12]);
    expect(flatten(scalar(1)).shape).toEqual([1]);
    expect(() => transpose(x, 0, 2)).toThrow();
  });

  test('gradient conventions: ties, kinks, zero bases', () => {
    const x = T([1, 3, 3]);
    const g1 = T([1]);
    expect(toNested(vjp.max(x, 0, true, g1)[0])).toEqual([0, 1, 0]); // max(dim): the first index
    expect(toNested(vjp.max(x, undefined, false, scalar(1))[0])).toEqual([0, 0.5, 0.5]); // x.max(): split
    expect(toNested(vjp.amax(x, [0], false, scalar(1))[0])).toEqual([0, 0.5, 0.5]);
    expect(toNested(vjp.amin(T([2, 2, 5]), undefined, false, scalar(6))[0])).toEqual([3, 3, 0]);
    const [ga, gb] = vjp.binary('maximum', T([2, 1]), T([2, 4]), T([1, 1]));
    expect(toNested(ga)).toEqual([0.5, 0]);
    expect(toNested(gb)).toEqual([0.5, 1]);
    expect(toNested(vjp.unary('relu', T([-1, 0, 1]), T([1, 1, 1]))[0])).toEqual([0, 0, 1]);
    expect(toNested(vjp.unary('abs', T([-1, 0, 1]), T([1, 1, 1]))[0])).toEqual([-1, 0, 1]);
    const [pa, pb] = vjp.binary('pow', T([0, 0, 2]), T([2, 0, 3]), T([1, 1, 1]));
    expect(toNested(pa)).toEqual([0, 0, 12]);
    expect(toNested(pb)).toEqual([0, 0, 8 * Math.log(2)]);
    expect(Number.isNaN(vjp.binary('pow', T([-2]), T([2]), T([1]))[1].data[0])).toBe(true);
    expect(toNested(vjp.prod(T([2, 0, 3]), undefined, false, scalar(1))[0])).toEqual([0, 6, 0]);
    expect(() => vjp.binary('lt', T([1]), T([2]), T([1]))).toThrow();
    expect(() => vjp.sum(T([1, 2]), undefined, false, T([1, 1]))).toThrow(); // wrong gradient shape
  });
});

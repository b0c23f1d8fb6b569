// Every native op against the float64 reference, on fresh random inputs each run: scalars, size-1
// dims, odd sizes, broadcasting and non-contiguous views (transposed, stepped, expanded).
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/ops.test.ts
import * as tf from '../ts';
import * as R from './reference';
import { RefTensor, Rng } from './reference';
import { expectClose, expectEqual, f32, fromRef, nonContiguous, seeded, toRef, expectNoLeaks } from './helpers';

type Layout = 'contiguous' | 'transpose' | 'step' | 'expand';
const LAYOUTS: Layout[] = ['contiguous', 'transpose', 'step', 'expand'];

/** r as a tf tensor in the given layout ('expand': a size-1 dim broadcast to r's shape, when r
 *  repeats along dim 0; otherwise built from a [1, ...] source and expanded, so values change). */
function asLayout(r: RefTensor, layout: Layout, dtype: tf.DType = 'float32'): tf.Tensor {
  const t = fromRef(r, { dtype });
  if (layout === 'contiguous') return t;
  if (layout === 'expand') throw new Error('use expandedInput for the expand layout');
  return nonContiguous(t, layout);
}

/** An input whose values repeat along the first dim, delivered as an expanded (stride-0) view;
 *  returns the tf view and the matching reference. */
function expandedInput(shape: number[], gen: (s: number[]) => RefTensor, dtype: tf.DType = 'float32'): [tf.Tensor, RefTensor] {
  if (shape.length === 0) { const r = toRef(fromRef(gen([]), { dtype })); return [fromRef(r, { dtype }), r]; }
  const row = toRef(fromRef(gen([1, ...shape.slice(1)]), { dtype }));
  const t = fromRef(row, { dtype }).expand(shape);
  return [t, R.expand(row, shape)];
}

function input(shape: number[], layout: Layout, gen: (s: number[]) => RefTensor, dtype: tf.DType = 'float32'): [tf.Tensor, RefTensor] {
  if (layout === 'expand') return expandedInput(shape, gen, dtype);
  // round-trip through float32 (or int32) so the reference sees exactly the values the kernel sees
  const r = toRef(fromRef(gen(shape), { dtype }));
  return [asLayout(r, layout, dtype), r];
}

/** Values with |v| in [lo, hi) and a random sign. */
function awayFromZero(shape: number[], rng: Rng, lo = 0.2, hi = 2): RefTensor {
  return R.make(shape, () => (rng.uniform() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rng.uniform()));
}
/** Normal values with exact halves (k + 0.5) and integers mixed in, to hit rounding edge cases. */
function withEdges(shape: number[], rng: Rng): RefTensor {
  return R.make(shape, () => {
    const u = rng.uniform();
    if (u < 0.2) return rng.int(-4, 4) + 0.5;
    if (u < 0.3) return rng.int(-4, 4);
    return 3 * rng.normal();
  });
}
/** Small integers as floats: many exact ties for comparisons, maximum and minimum. */
const smallInts = (shape: number[], rng: Rng) => R.randint(shape, rng, -3, 4);

// ---- unary -------------------------------------------------------------------------------
const TRANSCENDENTAL = new Set(['exp', 'log', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid']);
function unaryDomain(op: R.UnaryOp, rng: Rng): (s: number[]) => RefTensor {
  switch (op) {
    case 'log': case 'sqrt': case 'rsqrt': return (s) => R.rand(s, rng, 0.01, 10);
    case 'reciprocal': return (s) => awayFromZero(s, rng, 0.05, 5);
    case 'exp': return (s) => R.rand(s, rng, -10, 10);
    case 'sin': case 'cos': return (s) => R.rand(s, rng, -6, 6);
    case 'tanh': case 'sigmoid': return (s) => R.rand(s, rng, -8, 8);
    case 'floor': case 'ceil': case 'round': case 'abs': case 'sign': case 'relu': return (s) => withEdges(s, rng);
    default: return (s) => R.randn(s, rng);
  }
}

const UNARY_SHAPES = [[], [1], [7], [3, 13], [2, 1, 5], [4, 1, 13, 3]];

describe('unary ops', () => {
  for (const op of R.UNARY_OPS) {
    for (const layout of LAYOUTS) {
      seeded(`${op} ${layout}`, (rng) => {
        const gen = unaryDomain(op, rng);
        for (const shape of UNARY_SHAPES) {
          const [x, xr] = input(shape, layout, gen);
          const y = tf[op](x);
          expect(y.dtype).toBe('float32');
          // transcendentals: a few ulps; the rest are correctly rounded, so exactly fround(ref)
          const rtol = TRANSCENDENTAL.has(op) ? 2e-6 : 0;
          const atol = TRANSCENDENTAL.has(op) ? 1e-6 : 0;
          const ref = R.unary(op, xr);
          expectClose(y, TRANSCENDENTAL.has(op) ? ref : f32(ref), rtol, atol, `${op} [${shape}] ${layout}`);
          // the method form is the same op
          expectEqual((x as any)[op](), toRef(y), `${op} method`);
        }
      });
    }
  }

  seeded('round is half-to-even and keeps -0', () => {
    const x = tf.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, -0.4]);
    expect(Array.from(x.round().dataSync())).toEqual([0, 2, 2, -0, -2, -2, 0, -0]);
    expect(Object.is(x.round().dataSync()[7], -0)).toBe(true);
  });

  seeded('NaN and infinities propagate like torch', () => {
    const x = tf.tensor([NaN, Infinity, -Infinity, 0]);
    const xr = toRef(x);
    for (const op of R.UNARY_OPS) {
      if (op === 'log' || op === 'sqrt' || op === 'rsqrt') continue;  // domain errors checked below
      expectClose(tf[op](x), R.unary(op, xr), 0, 0, op);
    }
    const pos = tf.tensor([0, Infinity, -1, NaN]);
    for (const op of ['log', 'sqrt', 'rsqrt'] as const) expectClose(tf[op](pos), R.unary(op, toRef(pos)), 0, 0, op);
  });

  seeded('int32 unary ops stay int32 (neg, abs, sign, relu, square); others promote to float32', (rng) => {
    for (const layout of ['contiguous', 'transpose', 'step'] as Layout[]) {
      const [x, xr] = input([5, 7], layout, (s) => R.randint(s, rng, -1000, 1000), 'int32');
      for (const op of ['neg', 'abs', 'sign', 'relu', 'square', 'floor', 'ceil', 'round'] as const) {
        const y = tf[op](x);
        expect(y.dtype).toBe('int32');
        expectEqual(y, R.unary(op, xr), `int32 ${op} ${layout}`);
      }
      for (const op of ['exp', 'sqrt', 'sin', 'sigmoid'] as const) {
        const y = tf[op](x.abs().mul(0.001));  // float now; keep exp finite
        expect(y.dtype).toBe('float32');
      }
      const y = tf.sqrt(x.abs());
      expect(y.dtype).toBe('float32');
      expectClose(y, R.unary('sqrt', R.unary('abs', xr)), 1e-6, 1e-6, 'int32 sqrt promotes');
    }
  });
});

// ---- binary ------------------------------------------------------------------------------
const BINARY_SHAPES: [number[], number[]][] = [
  [[7], [7]], [[3, 1, 5], [4, 5]], [[], [2, 3]], [[2, 3], []], [[], []], [[13, 1], [1, 7]],
  [[1], [13]], [[2, 1, 5], [3, 1]], [[4, 13], [4, 13]], [[1, 1, 7], [2, 3, 7]],
];

function binaryDomain(op: R.BinaryOp, rng: Rng, side: 0 | 1): (s: number[]) => RefTensor {
  switch (op) {
    case 'div': return side === 0 ? (s) => R.randn(s, rng) : (s) => awayFromZero(s, rng, 0.1, 3);
    case 'pow': return side === 0 ? (s) => R.rand(s, rng, 0.1, 3) : (s) => R.rand(s, rng, -3, 3);
    case 'add': case 'sub': case 'mul': return (s) => R.randn(s, rng);
    default: return (s) => (rng.uniform() < 0.5 ? smallInts(s, rng) : R.randn(s, rng));  // ties and non-ties
  }
}
const COMPARE = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);
// +, -, *, / are correctly rounded (compared exactly with the rounded reference); pow is a few ulps
const binaryTol: Partial<Record<R.BinaryOp, [number, number]>> = { pow: [4e-6, 1e-6] };

describe('binary ops', () => {
  for (const op of R.BINARY_OPS) {
    for (const [la, lb] of [['contiguous', 'contiguous'], ['transpose', 'step'], ['expand', 'transpose'], ['step', 'expand']] as Layout[][]) {
      seeded(`${op} ${la}×${lb}`, (rng) => {
        for (const [sa, sb] of BINARY_SHAPES) {
          const [a, ar] = input(sa, la, binaryDomain(op, rng, 0));
          const [b, br] = input(sb, lb, binaryDomain(op, rng, 1));
          const y = tf[op](a, b);
          const [rtol, atol] = binaryTol[op] ?? [0, 0];
          const what = `${op} [${sa}] [${sb}] ${la}×${lb}`;
          expect(y.dtype).toBe(COMPARE.has(op) ? 'bool' : 'float32');
          expectClose(y, f32(R.binary(op, ar, br)), rtol, atol, what);
          expectEqual((a as any)[op](b), toRef(y), `${what} (method)`);
        }
      });
    }
  }

  seeded('pow: negative bases with integer exponents, zero bases, x^0 = 1', () => {
    const a = tf.tensor([-2, -1.5, -3, 0, 0, 0, 2, NaN, -2]);
    const b = tf.tensor([3, 2, -1, 0, 2, -1, 0.5, 0, 0.5]);
    expectClose(a.pow(b), R.binary('pow', toRef(a), toRef(b)), 1e-6, 0, 'pow edges');
  });

  seeded('maximum/minimum propagate NaN; comparisons with NaN are false (ne true)', () => {
    const a = tf.tensor([NaN, 1, NaN, -Infinity]);
    const b = tf.tensor([1, NaN, NaN, 0]);
    for (const op of R.BINARY_OPS) {
      if (op === 'pow' || op === 'div') continue;
      expectClose(tf[op](a, b), R.binary(op, toRef(a), toRef(b)), 0, 0, op);
    }
  });

  seeded('int32 arithmetic stays int32; div promotes to float32', (rng) => {
    for (const [sa, sb] of BINARY_SHAPES) {
      for (const [la, lb] of [['contiguous', 'contiguous'], ['transpose', 'expand'], ['step', 'step']] as Layout[][]) {
        const [a, ar] = input(sa, la, (s) => R.randint(s, rng, -1000, 1000), 'int32');
        const [b, br] = input(sb, lb, (s) => R.randint(s, rng, -1000, 1000), 'int32');
        const what = `[${sa}] [${sb}] ${la}×${lb}`;
        for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum'] as const) {
          const y = tf[op](a, b);
          expect(y.dtype).toBe('int32');
          expectEqual(y, R.binary(op, ar, br), `int32 ${op} ${what}`);
        }
        for (const op of ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const) {
          const y = tf[op](a, b);
          expect(y.dtype).toBe('bool');
          expectEqual(y, R.binary(op, ar, br), `int32 ${op} ${what}`);
        }
        const bNZ = tf.where(b.eq(0), 7, b);  // no division by zero
        const brNZ = R.where(R.binary('eq', br, R.scalar(0)), R.scalar(7), br);
        const q = a.div(bNZ);
        expect(q.dtype).toBe('float32');
        expectEqual(q, f32(R.binary('div', ar, brNZ)), `int32 div ${what}`);
        expect(tf.neg(a).dtype).toBe('int32');
        expectEqual(tf.neg(a), R.unary('neg', ar), `int32 neg ${what}`);
        expectEqual(tf.abs(a), R.unary('abs', ar), `int32 abs ${what}`);
      }
    }
  });

  seeded('mixed dtypes promote: int32 with float32 gives float32', (rng) => {
    const ir = R.randint([3, 4], rng, -50, 50), fr = R.randn([4], rng);
    const i = fromRef(ir, { dtype: 'int32' }), f = fromRef(fr);
    for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum'] as const) {
      const y = tf[op](i, f);
      expect(y.dtype).toBe('float32');
      expectClose(y, R.binary(op, ir, toRef(f)), 1e-6, 1e-6, `int32 ${op} float32`);
      expectClose(tf[op](f, i), R.binary(op, toRef(f), ir), 1e-6, 1e-6, `float32 ${op} int32`);
    }
  });

  seeded('scalar number operands', (rng) => {
    const xr = toRef(fromRef(R.randn([3, 5], rng)));
    const x = nonContiguous(fromRef(xr));
    const S = R.scalar;
    expectEqual(x.add(2), f32(R.binary('add', xr, S(2))), 'x+2');
    expectEqual(x.mul(0.5), f32(R.binary('mul', xr, S(0.5))), 'x*0.5');
    expectEqual(x.sub(1.25), f32(R.binary('sub', xr, S(1.25))), 'x-1.25');
    expectEqual(tf.sub(3, x), f32(R.binary('sub', S(3), xr)), '3-x');
    expectEqual(tf.div(1, x), f32(R.binary('div', S(1), xr)), '1/x');
    expectEqual(x.div(4), f32(R.binary('div', xr, S(4))), 'x/4');
    expectClose(x.abs().pow(2), R.binary('pow', R.unary('abs', xr), S(2)), 1e-6, 0, '|x|^2');
    expectClose(tf.pow(2, x), R.binary('pow', S(2), xr), 1e-6, 0, '2^x');
    expectEqual(x.gt(0), R.binary('gt', xr, S(0)), 'x>0');
    expectEqual(x.maximum(0), R.binary('maximum', xr, S(0)), 'maximum(x,0)');

    const ir = R.randint([4, 3], rng, -100, 100);
    const i = fromRef(ir, { dtype: 'int32' });
    const i2 = i.add(2);
    expect(i2.dtype).toBe('int32');
    expectEqual(i2, R.binary('add', ir, S(2)), 'int32+2');
    expect(i.mul(3).dtype).toBe('int32');
    expectEqual(tf.sub(5, i), R.binary('sub', S(5), ir), '5-int32');
    const ih = i.mul(0.5);  // a fractional literal promotes
    expect(ih.dtype).toBe('float32');
    expectEqual(ih, f32(R.binary('mul', ir, S(0.5))), 'int32*0.5');
    const id = i.div(2);
    expect(id.dtype).toBe('float32');
    expectEqual(id, f32(R.binary('div', ir, S(2))), 'int32/2');
    expect(i.eq(3).dtype).toBe('bool');
  });

  test('shapes that do not broadcast throw ShapeError', () => {
    expect(() => tf.add(tf.zeros([2, 3]), tf.zeros([4]))).toThrow(tf.ShapeError);
    expect(() => tf.mul(tf.zeros([3, 1, 5]), tf.zeros([2, 5, 1]).transpose(1, 2).expand([2, 4, 5]))).toThrow(tf.ShapeError);
  });
});

describe('where', () => {
  const cases: number[][][] = [
    [[7], [7], [7]], [[3, 1], [1, 5], []], [[2, 3], [3], [2, 1]], [[4], [1], [1]], [[], [2, 3], [2, 3]],
    [[2, 1, 13], [1, 4, 13], [4, 1]],
  ];
  for (const [lc, la, lb] of [['contiguous', 'contiguous', 'contiguous'], ['transpose', 'step', 'expand'], ['step', 'expand', 'transpose']] as Layout[][]) {
    seeded(`where ${lc}/${la}/${lb}`, (rng) => {
      for (const [sc, sa, sb] of cases) {
        const [c, cr] = input(sc, lc, (s) => R.randint(s, rng, 0, 2), 'bool');
        const [a, ar] = input(sa, la, (s) => R.randn(s, rng));
        const [b, br] = input(sb, lb, (s) => R.randn(s, rng));
        const what = `where [${sc}] [${sa}] [${sb}]`;
        expectEqual(tf.where(c, a, b), R.where(cr, ar, br), what);
        expectEqual(a.where(c, b), R.where(cr, ar, br), `${what} (method)`);
        expectEqual(tf.where(c, a, 0), R.where(cr, ar, R.scalar(0)), `${what} scalar b`);
        expectEqual(tf.where(c, -1.5, b), R.where(cr, R.scalar(-1.5), br), `${what} scalar a`);
      }
    });
  }
  seeded('where with int32 operands and a float32 condition', (rng) => {
    const cr = R.randint([3, 4], rng, 0, 2), ar = R.randint([3, 4], rng, -9, 9), br = R.randint([4], rng, -9, 9);
    const y = tf.where(fromRef(cr), fromRef(ar, { dtype: 'int32' }), fromRef(br, { dtype: 'int32' }));
    expect(y.dtype).toBe('int32');
    expectEqual(y, R.where(cr, ar, br), 'where int32');
  });
});

describe('clamp and cast', () => {
  seeded('clamp matches min(max(x, lo), hi)', (rng) => {
    const [x, xr] = input([5, 7], 'transpose', (s) => R.randn(s, rng));
    const S = R.scalar;
    expectEqual(x.clamp(-0.5, 0.5), R.binary('minimum', R.binary('maximum', xr, S(-0.5)), S(0.5)), 'clamp both');
    expectEqual(x.clamp(0), R.binary('maximum', xr, S(0)), 'clamp min');
    expectEqual(x.clamp(undefined, 0.25), R.binary('minimum', xr, S(0.25)), 'clamp max');
  });
  seeded('casts truncate toward zero and map nonzero to true', (rng) => {
    const [x, xr] = input([4, 13], 'step', (s) => R.rand(s, rng, -50, 50));
    const i = x.int();
    expect(i.dtype).toBe('int32');
    expectEqual(i, R.make(xr.shape, (idx) => Math.trunc(R.get(xr, idx))), 'float -> int32');
    expectEqual(x.bool(), R.binary('ne', xr, R.scalar(0)), 'float -> bool');
    expectEqual(i.float(), R.make(xr.shape, (idx) => Math.trunc(R.get(xr, idx))), 'int32 -> float');
  });
});

// ---- reductions --------------------------------------------------------------------------
const REDUCE_CASES: [number[], number | number[] | undefined, boolean][] = [
  [[], undefined, false], [[], 0, true], [[7], undefined, false], [[7], 0, true], [[13], -1, false],
  [[3, 13], 1, false], [[3, 13], 0, true], [[3, 13], -1, true], [[3, 13], [0, 1], false],
  [[2, 1, 5], 1, false], [[2, 1, 5], [0, 2], true], [[4, 3, 7], [-1, 0], false], [[4, 3, 7], [2, 1], true],
  [[4, 3, 7], undefined, true], [[2, 3, 4, 5], [1, 3], false], [[2, 3, 4, 5], [0, -2], true], [[1, 7], [], false],
  [[64, 33], 0, false], [[5, 1000], 1, false],
];
const dimList = (d: number | number[] | undefined) => (d === undefined ? undefined : Array.isArray(d) ? d : [d]);

describe('reductions', () => {
  for (const layout of LAYOUTS) {
    seeded(`sum/mean/prod/max/min ${layout}`, (rng) => {
      for (const [shape, dim, keepDim] of REDUCE_CASES) {
        const what = `[${shape}] dim=${JSON.stringify(dim)} keepDim=${keepDim} ${layout}`;
        const [x, xr] = input(shape, layout, (s) => R.randn(s, rng));
        const dims = dimList(dim);
        // the kernel accumulates in double; the float32 result is then within a few ulps
        expectClose(x.sum(dim, keepDim), R.sum(xr, dims, keepDim), 1e-6, 1e-6, `sum ${what}`);
        expectClose(x.mean(dim, keepDim), R.mean(xr, dims, keepDim), 1e-6, 1e-7, `mean ${what}`);
        expectEqual(x.max(dim, keepDim), R.amax(xr, dims, keepDim), `max ${what}`);
        expectEqual(x.min(dim, keepDim), R.amin(xr, dims, keepDim), `min ${what}`);
        expectEqual(tf.max(x, dim, keepDim), R.amax(xr, dims, keepDim), `tf.max ${what}`);
        // prod: values near ±1 so long products stay in range
        const [p, pr] = input(shape, layout, (s) => awayFromZero(s, rng, 0.8, 1.25));
        expectClose(p.prod(dim, keepDim), R.prod(pr, dims, keepDim), 1e-5, 1e-7, `prod ${what}`);
        expectClose(tf.prod(p, dim, keepDim), R.prod(pr, dims, keepDim), 1e-5, 1e-7, `tf.prod ${what}`);
      }
    });
  }

  seeded('int32 reductions are exact and stay int32; bool sums count', (rng) => {
    for (const [shape, dim, keepDim] of REDUCE_CASES) {
      const [x, xr] = input(shape, 'transpose', (s) => R.randint(s, rng, -100, 100), 'int32');
      const dims = dimList(dim);
      const what = `[${shape}] dim=${JSON.stringify(dim)}`;
      for (const [name, ref] of [['sum', R.sum], ['max', R.amax], ['min', R.amin]] as const) {
        const y = (x as any)[name](dim, keepDim) as tf.Tensor;
        expect(y.dtype).toBe('int32');
        expectEqual(y, ref(xr, dims, keepDim), `int32 ${name} ${what}`);
      }
      const m = x.mean(dim, keepDim);
      expect(m.dtype).toBe('float32');
      expectClose(m, R.mean(xr, dims, keepDim), 1e-6, 1e-6, `int32 mean ${what}`);
      const b = x.gt(0);
      expectEqual(b.sum(dim, keepDim), R.sum(R.binary('gt', xr, R.scalar(0)), dims, keepDim), `bool sum ${what}`);
    }
  });

  seeded('sum of many elements accumulates accurately', (rng) => {
    const xr = toRef(fromRef(R.rand([1 << 20], rng, 0, 1)));
    const x = fromRef(xr);
    expectClose(x.sum(), R.sum(xr), 1e-6, 0, 'sum 1M');
    expectClose(x.reshape([1024, 1024]).sum(0), R.sum(R.reshape(xr, [1024, 1024]), [0]), 1e-6, 0, 'sum columns');
  });

  seeded('max/min/prod propagate NaN', () => {
    const x = tf.tensor([[1, NaN, 3], [4, 5, 6]]);
    const xr = toRef(x);
    expectClose(x.max(1), R.amax(xr, [1]), 0, 0, 'max NaN');
    expectClose(x.min(), R.amin(xr), 0, 0, 'min NaN');
    expectClose(x.sum(1), R.sum(xr, [1]), 0, 0, 'sum NaN');
    expectClose(x.prod(0), R.prod(xr, [0]), 0, 0, 'prod NaN');
  });

  for (const layout of LAYOUTS) {
    seeded(`argmax/argmin ${layout}`, (rng) => {
      const cases: [number[], number | undefined, boolean][] = [
        [[7], undefined, false], [[7], 0, true], [[3, 13], 1, false], [[3, 13], 0, true], [[3, 13], undefined, true],
        [[2, 1, 5], -1, false], [[4, 3, 7], 1, true], [[4, 3, 7], undefined, false], [[], undefined, false], [[], 0, false],
      ];
      for (const [shape, dim, keepDim] of cases) {
        for (const gen of [(s: number[]) => R.randn(s, rng), (s: number[]) => smallInts(s, rng)]) {  // distinct, then ties
          const [x, xr] = input(shape, layout, gen);
          const what = `[${shape}] dim=${dim} keepDim=${keepDim} ${layout}`;
          const am = x.argmax(dim, keepDim);
          expect(am.dtype).toBe('int32');
          expectEqual(am, R.argmax(xr, dim, keepDim), `argmax ${what}`);
          expectEqual(x.argmin(dim, keepDim), R.argmin(xr, dim, keepDim), `argmin ${what}`);
          expectEqual(tf.argmax(x, dim, keepDim), R.argmax(xr, dim, keepDim), `tf.argmax ${what}`);
        }
      }
    });
  }

  test('reduction argument errors', () => {
    const x = tf.zeros([2, 3]);
    expect(() => x.sum(2)).toThrow(tf.IndexError);
    expect(() => x.sum([0, -2])).toThrow(tf.ArgumentError);
    expect(() => tf.zeros([0, 3]).max(0)).toThrow(tf.ShapeError);
    expect(() => tf.zeros([0]).argmax()).toThrow(tf.ShapeError);
    expect(tf.zeros([0, 3]).sum(0).toArray()).toEqual([0, 0, 0]);
  });
});

// ---- matmul ------------------------------------------------------------------------------
/**
 * Tolerance for a float32 product with K-term dot products, from the standard error bound for
 * recursive summation: |C - C_ref| <= gamma_K (|A| |B|), gamma_K ≈ K·u, u = 2^-24. We allow
 * K·eps = 2·K·u elementwise against |A||B| (any summation order, FMA or not, meets it), plus a tiny
 * atol. Checking against |A||B| rather than |C| keeps it valid where C cancels to ~0.
 */
function expectMatmulClose(y: tf.Tensor, ar: RefTensor, br: RefTensor, what: string): void {
  const ref = R.matmul(ar, br);
  const bound = R.matmul(R.unary('abs', ar), R.unary('abs', br));
  const K = ar.shape[ar.shape.length - 1];
  const tol = K * 2 ** -23;
  const actual = toRef(y);
  expect(actual.shape).toEqual(ref.shape);
  for (let i = 0; i < ref.data.length; i++) {
    const err = Math.abs(actual.data[i] - ref.data[i]);
    if (!(err <= tol * bound.data[i] + 1e-6))
      throw new Error(`${what}: element ${i}: actual ${actual.data[i]} vs expected ${ref.data[i]} (bound ${tol * bound.data[i]})`);
  }
}

describe('matmul', () => {
  const cases: [number[], number[]][] = [
    [[3, 4], [4, 5]], [[1, 1], [1, 1]], [[7], [7]], [[7], [7, 3]], [[3, 7], [7]], [[13], [2, 13, 5]], [[2, 5, 13], [13]],
    [[2, 1, 5, 7], [3, 7, 4]], [[4, 3, 6], [6, 2]], [[3, 6], [4, 6, 2]], [[1, 3, 5], [2, 5, 1]], [[37, 53], [53, 71]],
    [[2, 17, 33], [2, 33, 9]], [[1, 1, 1], [1, 1, 1]], [[65, 1], [1, 67]],
  ];
  for (const [la, lb] of [['contiguous', 'contiguous'], ['transpose', 'transpose'], ['step', 'transpose'], ['expand', 'step']] as Layout[][]) {
    seeded(`matmul ${la}×${lb}`, (rng) => {
      for (const [sa, sb] of cases) {
        const [a, ar] = input(sa, la, (s) => R.randn(s, rng));
        const [b, br] = input(sb, lb, (s) => R.randn(s, rng));
        const what = `[${sa}]×[${sb}] ${la}×${lb}`;
        expectMatmulClose(tf.matmul(a, b), ar, br, what);
        expectMatmulClose(a.matmul(b), ar, br, `${what} (method)`);
      }
    });
  }

  seeded('matmul with a .T operand (the transposed view, no copy)', (rng) => {
    const ar = toRef(fromRef(R.randn([53, 37], rng))), br = toRef(fromRef(R.randn([71, 53], rng)));
    const a = fromRef(ar), b = fromRef(br);
    expectMatmulClose(a.T.matmul(b.T), R.transpose(ar, 0, 1), R.transpose(br, 0, 1), 'Aᵀ·Bᵀ');
    expectMatmulClose(a.transpose(0, 1).matmul(fromRef(R.randn([53, 3], rng)).mul(0).add(1)), R.transpose(ar, 0, 1), R.ones([53, 3]), 'Aᵀ·1');
  });

  seeded('matmul large 256×300×200', (rng) => {
    const ar = toRef(fromRef(R.randn([256, 300], rng))), br = toRef(fromRef(R.randn([300, 200], rng)));
    expectMatmulClose(fromRef(ar).matmul(fromRef(br)), ar, br, '256×300×200');
    // and with both operands transposed views
    const at = nonContiguous(fromRef(ar)), bt = nonContiguous(fromRef(br), 'step');
    expectMatmulClose(at.matmul(bt), ar, br, '256×300×200 strided');
  });

  test('matmul errors', () => {
    expect(() => tf.matmul(tf.zeros([2, 3]), tf.zeros([4, 2]))).toThrow(tf.ShapeError);
    expect(() => tf.matmul(tf.scalar(1), tf.zeros([1]))).toThrow(tf.ShapeError);
    expect(() => tf.matmul(tf.zeros([2, 3], { dtype: 'int32' }), tf.zeros([3, 2]))).toThrow(tf.DTypeError);
    expect(() => tf.matmul(tf.zeros([2, 2, 3]), tf.zeros([3, 3, 2]))).toThrow(tf.ShapeError);
  });
});

// ---- movement ----------------------------------------------------------------------------
describe('movement ops', () => {
  for (const layout of LAYOUTS) {
    seeded(`reshape/view/transpose/permute/flatten/squeeze/unsqueeze ${layout}`, (rng) => {
      const [x, xr] = input([2, 3, 4, 5], layout, (s) => R.randn(s, rng));
      expectEqual(x.reshape([6, -1]), R.reshape(xr, [6, -1]), 'reshape -1');
      expectEqual(x.reshape([-1]), R.reshape(xr, [-1]), 'reshape flat');
      expectEqual(x.reshape([5, 4, 3, 2]), R.reshape(xr, [5, 4, 3, 2]), 'reshape');
      expectEqual(x.transpose(1, 3), R.transpose(xr, 1, 3), 'transpose');
      expectEqual(x.transpose(-1, 0), R.transpose(xr, -1, 0), 'transpose neg');
      expectEqual(x.permute([2, 0, 3, 1]), R.permute(xr, [2, 0, 3, 1]), 'permute');
      expectEqual(x.permute([-1, 1, 0, 2]), R.permute(xr, [-1, 1, 0, 2]), 'permute neg');
      expectEqual(x.T, R.permute(xr, [3, 2, 1, 0]), '.T');
      expectEqual(x.flatten(), R.flatten(xr), 'flatten');
      expectEqual(x.flatten(1, 2), R.flatten(xr, 1, 2), 'flatten 1..2');
      expectEqual(x.flatten(-2), R.flatten(xr, -2), 'flatten -2..');
      expectEqual(x.unsqueeze(0), R.unsqueeze(xr, 0), 'unsqueeze 0');
      expectEqual(x.unsqueeze(-1), R.unsqueeze(xr, -1), 'unsqueeze -1');
      expectEqual(x.unsqueeze(2).squeeze(2), xr, 'unsqueeze then squeeze');
      expectEqual(x.contiguous(), xr, 'contiguous');
      expect(x.contiguous().isContiguous).toBe(true);
      expectEqual(x.clone(), xr, 'clone');
      // results of views of views, then read (dataSync makes them contiguous)
      expectEqual(x.transpose(0, 2).reshape([-1, 5]), R.reshape(R.transpose(xr, 0, 2), [-1, 5]), 'transpose then reshape');
      expectEqual(x.permute([3, 1, 2, 0]).flatten(0, 1).contiguous(), R.flatten(R.permute(xr, [3, 1, 2, 0]), 0, 1), 'permute→flatten→contiguous');
      if (x.isContiguous) expectEqual(x.view([4, 30]), R.reshape(xr, [4, 30]), 'view');
      else expect(() => x.view([4, 30])).toThrow(tf.ShapeError);
      const [y, yr] = input([3, 1, 5, 1], layout === 'expand' ? 'contiguous' : layout, (s) => R.randn(s, rng));
      expectEqual(y.squeeze(), R.squeeze(yr), 'squeeze all');
      expectEqual(y.squeeze(1), R.squeeze(yr, 1), 'squeeze 1');
      expectEqual(y.squeeze(0), R.squeeze(yr, 0), 'squeeze non-1 dim keeps it');
      expectEqual(y.squeeze([1, -1]), R.squeeze(yr, [1, -1]), 'squeeze list');
      expectEqual(y.flatten(), R.flatten(yr), 'flatten with unit dims');
      const s = tf.scalar(3.5);
      expectEqual(s.flatten(), R.flatten(toRef(s)), 'flatten scalar');
      expectEqual(s.unsqueeze(0), R.unsqueeze(toRef(s), 0), 'unsqueeze scalar');
      expectEqual(s.reshape([1, 1]), R.reshape(toRef(s), [1, 1]), 'reshape scalar');
    });

    seeded(`expand/slice/select ${layout}`, (rng) => {
      const [x, xr] = input([3, 1, 5], layout, (s) => R.randn(s, rng));
      expectEqual(x.expand([2, 3, 4, 5]), R.expand(xr, [2, 3, 4, 5]), 'expand');
      expectEqual(x.expand([-1, 7, -1]), R.expand(xr, [-1, 7, -1]), 'expand -1');
      expectEqual(x.expandAs(tf.zeros([3, 6, 5])), R.expand(xr, [3, 6, 5]), 'expandAs');
      expectEqual(tf.scalar(2).expand([2, 3]), R.expand(R.scalar(2), [2, 3]), 'expand scalar');
      expect(() => x.expand([3, 2, 4])).toThrow(tf.ShapeError);

      const [z, zr] = input([7, 13, 4], layout, (s) => R.randn(s, rng));
      const sliceCases: [number, number | undefined, number | undefined, number][] = [
        [0, 1, 5, 1], [1, 2, undefined, 3], [1, undefined, undefined, 2], [-1, -3, undefined, 1], [0, -100, 100, 4],
        [2, 1, 3, 1], [1, 5, 2, 1], [0, 6, 7, 1], [1, 0, 13, 5],
      ];
      for (const [d, s0, e, st] of sliceCases) {
        const what = `slice(${d}, ${s0}, ${e}, ${st}) ${layout}`;
        expectEqual(z.slice(d, s0, e, st), R.slice(zr, d, s0, e, st), what);
        // a slice of a slice: strides multiply
        expectEqual(z.slice(d, s0, e, st).slice(1, 1, undefined, 2), R.slice(R.slice(zr, d, s0, e, st), 1, 1, undefined, 2), `${what} twice`);
      }
      for (const [d, i] of [[0, 0], [0, 6], [1, -1], [2, 3], [-1, -4]]) {
        const sel = R.squeeze(R.slice(zr, d, i < 0 ? i + zr.shape[d < 0 ? d + 3 : d] : i, (i < 0 ? i + zr.shape[d < 0 ? d + 3 : d] : i) + 1), d);
        expectEqual(z.select(d, i), sel, `select(${d}, ${i}) ${layout}`);
      }
      expect(() => z.select(0, 7)).toThrow(tf.IndexError);
      expect(() => z.slice(0, 0, 3, 0)).toThrow(tf.ArgumentError);
    });

    seeded(`cat/stack ${layout}`, (rng) => {
      for (const dim of [0, 1, 2, -1]) {
        const shapes = [[2, 3, 5], [2, 3, 5], [2, 3, 5]].map((s) => s.map((v, i) => (i === (dim + 3) % 3 ? v + 2 * i : v)));
        shapes[1][(dim + 3) % 3] = 1;
        const parts = shapes.map((s, k) => input(s, k === 1 ? 'contiguous' : layout, (sh) => R.randn(sh, rng)));
        expectEqual(tf.cat(parts.map((p) => p[0]), dim), R.cat(parts.map((p) => p[1]), dim), `cat dim ${dim} ${layout}`);
      }
      const same = [0, 1, 2].map(() => input([4, 1, 3], layout, (sh) => R.randn(sh, rng)));
      for (const dim of [0, 1, 3, -1, -4]) expectEqual(tf.stack(same.map((p) => p[0]), dim), R.stack(same.map((p) => p[1]), dim), `stack dim ${dim} ${layout}`);
      const ints = [0, 1].map(() => input([2, 3], layout, (sh) => R.randint(sh, rng, -9, 9), 'int32'));
      const ci = tf.cat(ints.map((p) => p[0]), 1);
      expect(ci.dtype).toBe('int32');
      expectEqual(ci, R.cat(ints.map((p) => p[1]), 1), 'cat int32');
      expectEqual(tf.stack([tf.scalar(1), tf.scalar(2)]), R.stack([R.scalar(1), R.scalar(2)], 0), 'stack scalars');
      expect(() => tf.cat([tf.zeros([2, 3]), tf.zeros([3, 3])], 1)).toThrow(tf.ShapeError);
      expect(() => tf.stack([tf.zeros([2]), tf.zeros([3])])).toThrow(tf.ShapeError);
    });
  }

  seeded('views share storage: no copies for transpose/permute/expand/slice/reshape of contiguous', (rng) => {
    const x = fromRef(R.randn([4, 6], rng));
    for (const v of [x.transpose(0, 1), x.permute([1, 0]), x.unsqueeze(0).expand([3, 4, 6]), x.slice(1, 1, 5, 2), x.reshape([24]), x.select(0, 2)])
      expect(v.storage).toBe(x.storage);
    expect(x.transpose(0, 1).contiguous().storage).not.toBe(x.storage);
    expect(x.contiguous().storage).toBe(x.storage);
  });
});

// ---- indexing ----------------------------------------------------------------------------
describe('gather / scatterAdd / indexSelect', () => {
  for (const layout of ['contiguous', 'transpose', 'step'] as Layout[]) {
    seeded(`gather ${layout}`, (rng) => {
      const [x, xr] = input([5, 7, 3], layout, (s) => R.randn(s, rng));
      for (const dim of [0, 1, 2, -1]) {
        const d = (dim + 3) % 3;
        const ishape = [4, 6, 3].map((s, i) => (i === d ? 9 : Math.min(s, xr.shape[i])));
        const [idx, ir] = input(ishape, layout, (s) => R.randint(s, rng, 0, xr.shape[d]), 'int32');
        expectEqual(x.gather(dim, idx), R.gather(xr, dim, ir), `gather dim ${dim} ${layout}`);
        expectEqual(tf.gather(x, dim, idx), R.gather(xr, dim, ir), `tf.gather dim ${dim}`);
      }
      expect(() => x.gather(0, tf.zeros([2, 2, 2]))).toThrow(tf.DTypeError);
    });

    seeded(`scatterAdd ${layout}`, (rng) => {
      const [x, xr] = input([5, 7, 3], layout, (s) => R.randn(s, rng));
      for (const dim of [0, 1, 2, -2]) {
        const d = (dim + 3) % 3;
        const ishape = [4, 6, 3].map((s, i) => (i === d ? 11 : s));  // index longer than x along dim: duplicates
        const [idx, ir] = input(ishape, layout, (s) => R.randint(s, rng, 0, xr.shape[d]), 'int32');
        const [src, sr] = input([6, 11, 3].map((s, i) => Math.max(s, ishape[i])), layout, (s) => R.randn(s, rng));
        expectClose(x.scatterAdd(dim, idx, src), R.scatterAdd(xr, dim, ir, sr), 1e-6, 1e-6, `scatterAdd dim ${dim} ${layout}`);
        // x is untouched (out of place)
        expectEqual(x, xr, 'scatterAdd input unchanged');
      }
    });

    seeded(`indexSelect ${layout}`, (rng) => {
      const [x, xr] = input([5, 7, 3], layout, (s) => R.randn(s, rng));
      for (const dim of [0, 1, 2, -1]) {
        const d = (dim + 3) % 3;
        const [idx, ir] = input([8], layout, (s) => R.randint(s, rng, 0, xr.shape[d]), 'int32');
        expectEqual(x.indexSelect(dim, idx), R.indexSelect(xr, dim, ir), `indexSelect dim ${dim} ${layout}`);
        const i0 = tf.scalar(xr.shape[d] - 1, { dtype: 'int32' });
        expectEqual(tf.indexSelect(x, dim, i0), R.indexSelect(xr, dim, toRef(i0)), `indexSelect 0-d index dim ${dim}`);
      }
    });
  }
  test('out-of-range indices throw IndexError instead of reading out of bounds', () => {
    const x = tf.zeros([3, 4]);
    expect(() => x.gather(0, tf.tensor([[3]], undefined, { dtype: 'int32' }))).toThrow(tf.IndexError);
    expect(() => x.gather(1, tf.tensor([[-1]], undefined, { dtype: 'int32' }))).toThrow(tf.IndexError);
    expect(() => x.indexSelect(0, tf.tensor([0, 3], undefined, { dtype: 'int32' }))).toThrow(tf.IndexError);
    expect(() => x.scatterAdd(1, tf.tensor([[4]], undefined, { dtype: 'int32' }), tf.ones([1, 1]))).toThrow(tf.IndexError);
  });
});

// ---- creation ----------------------------------------------------------------------------
describe('creation', () => {
  test('tensor from nested arrays, typed arrays and numbers', () => {
    const a = tf.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(a.shape).toEqual([2, 3]);
    expect(a.dtype).toBe('float32');
    expectEqual(a, R.fromNested([[1, 2, 3], [4, 5, 6]]));
    expect(a.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const f = tf.tensor(new Float32Array([1.5, -2, 3.25, 0.1, 5, 6]), [3, 2]);
    expect(f.shape).toEqual([3, 2]);
    expectEqual(f, R.tensor(Float32Array.of(1.5, -2, 3.25, 0.1, 5, 6), [3, 2]));
    const i = tf.tensor(new Int32Array([1, -2, 2147483647]));
    expect(i.dtype).toBe('int32');
    expect(Array.from(i.dataSync())).toEqual([1, -2, 2147483647]);
    const b = tf.tensor([[true, false], [false, true]]);
    expect(b.dtype).toBe('bool');
    expect(b.toArray()).toEqual([[true, false], [false, true]]);
    const s = tf.tensor(2.5);
    expect(s.shape).toEqual([]);
    expect(s.item()).toBe(2.5);
    const ii = tf.tensor([[1, 2]], undefined, { dtype: 'int32' });
    expect(ii.dtype).toBe('int32');
    expect(ii.toArray()).toEqual([[1, 2]]);
    expect(tf.tensor([]).shape).toEqual([0]);
    expect(() => tf.tensor([[1, 2], [3]])).toThrow(tf.ShapeError);
    expect(() => tf.tensor([1, 2, 3], [2, 2])).toThrow(tf.ShapeError);
    expect(() => tf.tensor([1.5], undefined, { dtype: 'int32' })).toThrow(tf.ValueError);
  });

  test('zeros / ones / full / eye / like', () => {
    for (const shape of [[], [1], [7], [3, 13], [2, 1, 5]]) {
      expectEqual(tf.zeros(shape), R.zeros(shape), `zeros [${shape}]`);
      expectEqual(tf.ones(shape), R.ones(shape), `ones [${shape}]`);
      expectEqual(tf.full(shape, -2.5), R.full(shape, -2.5), `full [${shape}]`);
      const fi = tf.full(shape, 7, { dtype: 'int32' });
      expect(fi.dtype).toBe('int32');
      expectEqual(fi, R.full(shape, 7), `full int32 [${shape}]`);
    }
    expectEqual(tf.eye(3), R.make([3, 3], ([i, j]) => (i === j ? 1 : 0)), 'eye 3');
    expectEqual(tf.eye(3, 5), R.make([3, 5], ([i, j]) => (i === j ? 1 : 0)), 'eye 3×5');
    expectEqual(tf.eye(4, 2), R.make([4, 2], ([i, j]) => (i === j ? 1 : 0)), 'eye 4×2');
    const x = tf.zeros([2, 3], { dtype: 'int32' });
    expect(tf.onesLike(x).dtype).toBe('int32');
    expectEqual(tf.fullLike(tf.zeros([2, 2]), 3), R.full([2, 2], 3));
    expect(tf.full([2], true).dtype).toBe('bool');
  });

  test('arange and linspace', () => {
    const a = tf.arange(5);
    expect(a.dtype).toBe('int32');
    expect(Array.from(a.dataSync())).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(tf.arange(2, 11, 3).dataSync())).toEqual([2, 5, 8]);
    expect(Array.from(tf.arange(5, 0, -2).dataSync())).toEqual([5, 3, 1]);
    expect(tf.arange(3, 3).shape).toEqual([0]);
    const f = tf.arange(0, 1, 0.1);
    expect(f.dtype).toBe('float32');
    expect(f.shape).toEqual([10]);
    expectClose(f, R.make([10], ([i]) => i * 0.1), 1e-6, 1e-7, 'arange float');
    expect(tf.arange(0, 5, 1, { dtype: 'float32' }).dtype).toBe('float32');
    const l = tf.linspace(-1, 2, 7);
    expectClose(l, R.make([7], ([i]) => -1 + (3 * i) / 6), 1e-6, 1e-7, 'linspace');
    expect(l.dtype).toBe('float32');
    expectClose(tf.linspace(3, 3, 1), R.tensor([3], [1]), 0, 0, 'linspace 1');
    expect(tf.linspace(0, 1, 0).shape).toEqual([0]);
    expect(() => tf.arange(0, 1, 0)).toThrow(tf.ValueError);
  });
});

// ---- random ------------------------------------------------------------------------------
describe('random', () => {
  const N = 100_000;
  test('rand is uniform in [0, 1) with mean ≈ 0.5 and variance ≈ 1/12', () => {
    const v = tf.rand([N]).dataSync();
    let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
    for (const x of v) { s += x; s2 += x * x; lo = Math.min(lo, x); hi = Math.max(hi, x); }
    const mean = s / N, variance = s2 / N - mean * mean;
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    // standard error of the mean: 0.289/sqrt(N) ≈ 9e-4; allow ~10 sigma
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.005);
    // no bucket of a 10-bin histogram is badly off (expected N/10 each)
    const bins = new Array(10).fill(0);
    for (const x of v) bins[Math.floor(x * 10)]++;
    for (const b of bins) expect(Math.abs(b - N / 10)).toBeLessThan(N / 100);
  });

  test('randn has mean ≈ 0 and std ≈ 1 (100k samples)', () => {
    const v = tf.randn([N]).dataSync();
    let s = 0, s2 = 0, s4 = 0;
    for (const x of v) { s += x; s2 += x * x; s4 += x ** 4; }
    const mean = s / N, std = Math.sqrt(s2 / N - mean * mean);
    expect(v.every(Number.isFinite)).toBe(true);
    expect(Math.abs(mean)).toBeLessThan(0.02);  // SE 0.0032
    expect(Math.abs(std - 1)).toBeLessThan(0.02);  // SE ≈ 0.0022
    expect(Math.abs(s4 / N - 3)).toBeLessThan(0.15);  // kurtosis of a normal; SE ≈ 0.03
    const within1 = v.filter((x) => Math.abs(x) < 1).length / N;
    expect(Math.abs(within1 - 0.6827)).toBeLessThan(0.01);
  });

  test('manualSeed makes draws reproducible; different seeds differ', () => {
    tf.manualSeed(1234);
    const a = tf.randn([1000]).dataSync(), b = tf.rand([3, 5]).dataSync(), c = tf.randint(0, 10, [50]).dataSync();
    tf.manualSeed(1234);
    expect(tf.randn([1000]).dataSync()).toEqual(a);
    expect(tf.rand([3, 5]).dataSync()).toEqual(b);
    expect(tf.randint(0, 10, [50]).dataSync()).toEqual(c);
    tf.manualSeed(1235);
    const d = tf.randn([1000]).dataSync();
    expect(d.filter((x, i) => x === a[i]).length).toBeLessThan(5);
    // successive draws without reseeding differ
    tf.manualSeed(1234);
    const e1 = tf.rand([100]).dataSync(), e2 = tf.rand([100]).dataSync();
    expect(e1.filter((x, i) => x === e2[i]).length).toBeLessThan(3);
    tf.manualSeed(Math.floor(Math.random() * 2 ** 31));
  });

  test('randint stays in [low, high) and hits every value', () => {
    for (const [lo, hi] of [[0, 10], [-5, 3], [7, 8], [-1000, 1000]]) {
      const t = tf.randint(lo, hi, [20_000]);
      expect(t.dtype).toBe('int32');
      const v = Array.from(t.dataSync());
      expect(Math.min(...v)).toBeGreaterThanOrEqual(lo);
      expect(Math.max(...v)).toBeLessThan(hi);
      if (hi - lo <= 10) expect(new Set(v).size).toBe(hi - lo);
    }
  });

  test('uniform and normal take their parameters', () => {
    const u = Array.from(tf.uniform([N], -3, 5).dataSync());
    expect(u.every((x) => x >= -3 && x < 5)).toBe(true);
    expect(Math.abs(u.reduce((s, x) => s + x, 0) / N - 1)).toBeLessThan(0.05);
    const n = Array.from(tf.normal([N], 10, 0.5).dataSync());
    const mean = n.reduce((s, x) => s + x, 0) / N;
    expect(Math.abs(mean - 10)).toBeLessThan(0.01);
    const std = Math.sqrt(n.reduce((s, x) => s + (x - mean) ** 2, 0) / N);
    expect(Math.abs(std - 0.5)).toBeLessThan(0.01);
  });
});

// ---- leaks -------------------------------------------------------------------------------
describe('no leaks', () => {
  seeded('every op family frees its temporaries (tensors, buffers and native bytes)', (rng) => {
    const a = fromRef(R.randn([3, 1, 5], rng)), b = nonContiguous(fromRef(R.randn([4, 5], rng)));
    const i = fromRef(R.randint([3, 4], rng, 0, 3), { dtype: 'int32' });
    const nativeBefore = tf.memory().native;
    const ops: [string, () => unknown][] = [
      ['unary', () => a.exp().sigmoid()], ['binary', () => a.add(b).mul(2)], ['int scalar', () => i.add(2)],
      ['div int', () => i.div(3)], ['compare', () => a.gt(b)], ['where', () => tf.where(a.gt(0), a, b)],
      ['sum', () => a.sum([0, 2], true)], ['mean', () => b.mean(1)], ['argmax', () => b.argmax()],
      ['prod', () => b.prod(0)], ['matmul', () => b.matmul(b.T)], ['matmul 1-D', () => b.select(0, 1).matmul(b.T)],
      ['reshape', () => b.reshape([-1])], ['cat', () => tf.cat([b, b], 1)], ['stack', () => tf.stack([b, b])],
      ['select', () => b.select(1, 2)], ['clamp', () => b.clamp(-0.1, 0.1)], ['gather', () => b.gather(1, i.slice(0, 0, 3))],
      ['indexSelect', () => b.indexSelect(1, i.select(0, 0))], ['scatterAdd', () => b.scatterAdd(1, i, tf.ones([3, 4]))],
    ];
    for (const [name, op] of ops) {
      expectNoLeaks(() => { tf.scope(() => { op(); }); });
      const m = tf.memory().native;
      if (m.buffers > nativeBefore.buffers) throw new Error(`${name}: native buffers ${nativeBefore.buffers} -> ${m.buffers}`);
    }
  });
});

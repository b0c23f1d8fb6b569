// Autograd against the float64 reference VJPs (themselves checked by finite differences in
// reference.test.ts): for every differentiable op, loss = sum(op(inputs) * G) with a random G, then
// each input's .grad must match vjp.<op>(inputs, G). Inputs come contiguous, transposed, stepped
// and expanded; broadcasting must come back in each input's shape. Then the engine's rules: fan-out,
// chains, noGrad, detach, accumulation, retainGraph and backward's argument checks.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/grad.test.ts
import * as tf from '../ts';
import * as R from './reference';
import { RefTensor, Rng, vjp } from './reference';
import * as elementwiseOps from '../ts/ops/elementwise';
import * as reduceOps from '../ts/ops/reduce';
import * as movementOps from '../ts/ops/movement';
import * as linalgOps from '../ts/ops/linalg';
import * as indexingOps from '../ts/ops/indexing';
import { expectClose, fromRef, nonContiguous, seeded, toRef, cudaUsable } from './helpers';

// float32 forward and backward against float64: a few ulps per op, more where backward sums
const RTOL = 1e-4;
const ATOL = 1e-5;

type Layout = 'contiguous' | 'transpose' | 'step' | 'expand';
const LAYOUTS: Layout[] = ['contiguous', 'transpose', 'step', 'expand'];

interface Input { t: tf.Tensor; ref: RefTensor; grad: boolean }

/** A leaf tensor in the given layout; its reference holds exactly its (float32) values. 'expand':
 *  a [1, ...] base broadcast along dim 0 (stride 0), itself the leaf that requires grad. */
function leaf(shape: number[], layout: Layout, gen: (s: number[]) => RefTensor, opts: { grad?: boolean; dtype?: tf.DType } = {}): Input {
  const grad = opts.grad ?? true;
  const dtype = opts.dtype ?? 'float32';
  const requiresGrad = grad && dtype === 'float32';
  if (layout === 'expand' && shape.length > 0) {
    const row = toRef(fromRef(gen([1, ...shape.slice(1)]), { dtype }));
    const t = fromRef(row, { dtype }).expand(shape);
    if (requiresGrad) t.requiresGrad_(true);
    return { t, ref: R.expand(row, shape), grad };
  }
  const ref = toRef(fromRef(gen(shape), { dtype }));
  const base = fromRef(ref, { dtype });
  const t = layout === 'contiguous' || layout === 'expand' ? base : nonContiguous(base, layout);
  if (requiresGrad) t.requiresGrad_(true);
  return { t, ref, grad };
}

const covered = new Set<string>();

/**
 * loss = sum(f(inputs) * G); backward; every input with grad=true must get .grad equal (within
 * tolerance) to back(refs, G)[k] (one reference gradient per such input, in order), in its shape.
 * Inputs with grad=false (indices, conditions) must get no .grad.
 */
function checkGrads(
  what: string, rng: Rng, ins: Input[], f: (ts: tf.Tensor[]) => tf.Tensor,
  back: (refs: RefTensor[], g: RefTensor) => RefTensor[], tol: [number, number] = [RTOL, ATOL],
): void {
  const y = f(ins.map((i) => i.t));
  expect(y.requiresGrad).toBe(ins.some((i) => i.grad));
  const G = R.randn(y.shape, rng);
  const Gr = toRef(fromRef(G));
  const loss = y.mul(fromRef(Gr)).sum();
  expect(loss.shape).toEqual([]);
  loss.backward();
  const expected = back(ins.map((i) => i.ref), Gr);
  const withGrad = ins.filter((i) => i.grad);
  expect(expected.length).toBe(withGrad.length);
  withGrad.forEach((inp, k) => {
    const label = `${what}: grad of input ${ins.indexOf(inp)}`;
    if (inp.t.grad === null) throw new Error(`${label} is null`);
    expect(inp.t.grad.shape).toEqual([...inp.t.shape]);
    expect(inp.t.grad.dtype).toBe('float32');
    expectClose(inp.t.grad, expected[k], tol[0], tol[1], label);
  });
  for (const inp of ins) if (!inp.grad) expect(inp.t.grad).toBeNull();
}

function gradTest(op: string, label: string, body: (rng: Rng) => void): void {
  covered.add(op);
  seeded(`grad ${op} ${label}`, body);
}

// ---- input domains (kept away from kinks, steps and ties where the derivative jumps) ----------
function awayFromZero(shape: number[], rng: Rng, lo = 0.2, hi = 2): RefTensor {
  return R.make(shape, () => (rng.uniform() < 0.5 ? -1 : 1) * (lo + (hi - lo) * rng.uniform()));
}
function awayFromSteps(shape: number[], rng: Rng): RefTensor {
  return R.make(shape, () => rng.int(-3, 3) + 0.15 + 0.2 * rng.uniform());
}
function unaryDomain(op: R.UnaryOp, rng: Rng): (s: number[]) => RefTensor {
  switch (op) {
    case 'log': case 'sqrt': case 'rsqrt': return (s) => R.rand(s, rng, 0.3, 3);
    case 'abs': case 'relu': case 'sign': case 'reciprocal': return (s) => awayFromZero(s, rng);
    case 'floor': case 'ceil': case 'round': return (s) => awayFromSteps(s, rng);
    default: return (s) => R.randn(s, rng);
  }
}
const randnGen = (rng: Rng) => (s: number[]) => R.randn(s, rng);

// ---- elementwise -------------------------------------------------------------------------
describe('elementwise gradients', () => {
  const shapes = [[], [1], [7], [3, 13], [2, 1, 5]];
  for (const op of R.UNARY_OPS) {
    for (const layout of LAYOUTS) {
      gradTest(op, layout, (rng) => {
        for (const shape of shapes) {
          const x = leaf(shape, layout, unaryDomain(op, rng));
          checkGrads(`${op} [${shape}] ${layout}`, rng, [x], ([t]) => tf[op](t), ([r], g) => vjp.unary(op, r, g));
        }
      });
    }
  }
  test('relu and abs have zero gradient at 0 (torch)', () => {
    const x = tf.tensor([0, -0, 1, -1], undefined, { requiresGrad: true });
    x.relu().add(x.abs()).sum().backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([0, 0, 2, -1]);
  });

  const binaryShapes: [number[], number[]][] = [
    [[7], [7]], [[3, 1, 5], [4, 5]], [[], [2, 3]], [[2, 3], []], [[], []], [[13, 1], [1, 7]], [[1], [13]], [[2, 1, 5], [3, 1]],
  ];
  const binaryDomain = (op: string, rng: Rng, sa: number[], sb: number[]): [(s: number[]) => RefTensor, (s: number[]) => RefTensor] => {
    switch (op) {
      case 'div': return [randnGen(rng), (s) => awayFromZero(s, rng, 0.5, 2)];
      case 'pow': return [(s) => R.rand(s, rng, 0.5, 2), (s) => R.rand(s, rng, -2, 2)];
      default: return [randnGen(rng), randnGen(rng)];
    }
  };
  for (const op of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'] as const) {
    for (const [la, lb] of [['contiguous', 'contiguous'], ['transpose', 'step'], ['expand', 'transpose'], ['step', 'expand']] as Layout[][]) {
      gradTest(op, `${la}×${lb}`, (rng) => {
        for (const [sa, sb] of binaryShapes) {
          const [ga, gb] = binaryDomain(op, rng, sa, sb);
          const a = leaf(sa, la, ga), b = leaf(sb, lb, gb);
          // maximum/minimum: keep broadcast pairs apart so no near-tie flips a branch
          if ((op === 'maximum' || op === 'minimum') && R.binary('sub', a.ref, b.ref).data.some((d) => Math.abs(d) < 1e-3)) continue;
          checkGrads(`${op} [${sa}] [${sb}] ${la}×${lb}`, rng, [a, b], ([p, q]) => tf[op](p, q), ([p, q], g) => vjp.binary(op, p, q, g));
          // only one side requiring grad
          const a2 = leaf(sa, la, ga), b2 = leaf(sb, lb, gb, { grad: false });
          checkGrads(`${op} [${sa}] [${sb}] (a only)`, rng, [a2, { ...b2, ref: b2.ref }], ([p, q]) => tf[op](p, q), ([p, q], g) => [vjp.binary(op, p, q, g)[0]]);
        }
      });
    }
  }
  gradTest('maximum', 'exact ties split the gradient in half (torch)', (rng) => {
    const a = leaf([4, 5], 'contiguous', (s) => R.randint(s, rng, -2, 3)), b = leaf([5], 'transpose', (s) => R.randint(s, rng, -2, 3));
    checkGrads('maximum ties', rng, [a, b], ([p, q]) => p.maximum(q), ([p, q], g) => vjp.binary('maximum', p, q, g));
    const c = leaf([4, 5], 'step', (s) => R.randint(s, rng, -2, 3)), d = leaf([4, 1], 'contiguous', (s) => R.randint(s, rng, -2, 3));
    checkGrads('minimum ties', rng, [c, d], ([p, q]) => p.minimum(q), ([p, q], g) => vjp.binary('minimum', p, q, g));
  });
  gradTest('pow', 'torch conventions: zero exponent, zero base, negative base', (rng) => {
    const a = leaf([6], 'contiguous', () => R.tensor([0, 0, 2, -1.5, 0.5, -2], [6]));
    const b = leaf([6], 'contiguous', () => R.tensor([0, 2, 0, 2, 3, 3], [6]));
    checkGrads('pow edges', rng, [a, b], ([p, q]) => p.pow(q), ([p, q], g) => vjp.binary('pow', p, q, g));
    const x = leaf([3, 4], 'transpose', randnGen(rng));
    checkGrads('pow scalar exponent', rng, [x], ([t]) => t.pow(3), ([r], g) => [vjp.binary('pow', r, R.scalar(3), g)[0]]);
    const e = leaf([3, 4], 'step', randnGen(rng));
    checkGrads('pow scalar base', rng, [e], ([t]) => tf.pow(2, t), ([r], g) => [vjp.binary('pow', R.scalar(2), r, g)[1]]);
  });
  gradTest('mul', 'scalar-number operands', (rng) => {
    const x = leaf([3, 5], 'transpose', randnGen(rng));
    const S = R.scalar;
    checkGrads('x*0.5+2-x/4', rng, [x], ([t]) => t.mul(0.5).add(2).sub(t.div(4)), ([r], g) => [R.binary('mul', g, S(0.25))]);
    const y = leaf([3, 5], 'step', (s) => awayFromZero(s, rng));
    checkGrads('3-1/y', rng, [y], ([t]) => tf.sub(3, tf.div(1, t)), ([r], g) => vjp.binary('div', S(1), r, R.unary('neg', g)).slice(1));
  });

  for (const layouts of [['contiguous', 'contiguous', 'contiguous'], ['transpose', 'step', 'expand'], ['step', 'expand', 'transpose']] as Layout[][]) {
    gradTest('where', layouts.join('/'), (rng) => {
      const cases: number[][][] = [[[7], [7], [7]], [[3, 1], [1, 5], []], [[2, 3], [3], [2, 1]], [[4], [1], [1]], [[], [2, 3], [2, 3]]];
      for (const [sc, sa, sb] of cases) {
        const c = leaf(sc, layouts[0], (s) => R.randint(s, rng, 0, 2), { grad: false, dtype: 'bool' });
        const a = leaf(sa, layouts[1], randnGen(rng)), b = leaf(sb, layouts[2], randnGen(rng));
        checkGrads(`where [${sc}] [${sa}] [${sb}]`, rng, [c, a, b], ([p, q, r]) => tf.where(p, q, r), ([p, q, r], g) => vjp.where(p, q, r, g));
        const a2 = leaf(sa, layouts[1], randnGen(rng));
        checkGrads(`where scalar other`, rng, [{ ...c, t: c.t }, a2], ([p, q]) => tf.where(p, q, 0),
          ([p, q], g) => [vjp.where(p, q, R.scalar(0), g)[0]]);
      }
    });
  }

  gradTest('clamp', 'gradient flows inside [min, max], boundaries included', (rng) => {
    const x = leaf([5, 7], 'transpose', (s) => R.make(s, () => (rng.uniform() < 0.2 ? [-0.5, 0.5][rng.int(0, 2)] : 2 * rng.normal())));
    const inside = (r: RefTensor, lo: number, hi: number) => R.make(r.shape, (i) => (R.get(r, i) >= lo && R.get(r, i) <= hi ? 1 : 0));
    checkGrads('clamp(-0.5, 0.5)', rng, [x], ([t]) => t.clamp(-0.5, 0.5), ([r], g) => [R.binary('mul', g, inside(r, -0.5, 0.5))]);
    const y = leaf([5, 7], 'step', randnGen(rng));
    checkGrads('clamp(0)', rng, [y], ([t]) => t.clamp(0), ([r], g) => [R.binary('mul', g, inside(r, 0, Infinity))]);
  });

  gradTest('cast', 'float32 -> float32 passes the gradient; to int32/bool cuts the graph', (rng) => {
    const x = leaf([3, 4], 'transpose', randnGen(rng));
    checkGrads('cast float32', rng, [x], ([t]) => t.toDType('float32').mul(2), ([, ], g) => [R.binary('mul', g, R.scalar(2))]);
    const z = leaf([3, 4], 'contiguous', randnGen(rng));
    // like torch, int32/bool results never require grad, so nothing can flow back through them
    expect(z.t.int().requiresGrad).toBe(false);
    expect(z.t.bool().requiresGrad).toBe(false);
    expect(() => z.t.int().sum().backward()).toThrow(tf.ArgumentError);
    expect(z.t.grad).toBeNull();
    const y = z.t.mul(2).add(z.t.gt(0).float()).add(z.t.round().int().float());
    y.sum().backward();
    expectClose(z.t.grad!, R.full([3, 4], 2), 0, 0, 'grad through comparisons and int casts is zero');
  });
});

// ---- reductions --------------------------------------------------------------------------
describe('reduction gradients', () => {
  const cases: [number[], number | number[] | undefined, boolean][] = [
    [[], undefined, false], [[], 0, true], [[7], undefined, false], [[7], 0, true], [[3, 13], 1, false], [[3, 13], -1, true],
    [[3, 13], [0, 1], false], [[2, 1, 5], 1, false], [[2, 1, 5], [0, 2], true], [[4, 3, 7], [-1, 0], false],
    [[4, 3, 7], [2, 1], true], [[4, 3, 7], undefined, true], [[1, 7], [], false],
  ];
  const dimList = (d: number | number[] | undefined) => (d === undefined ? undefined : Array.isArray(d) ? d : [d]);
  for (const layout of LAYOUTS) {
    for (const op of ['sum', 'mean', 'prod', 'max', 'min'] as const) {
      gradTest(op, layout, (rng) => {
        for (const [shape, dim, keepDim] of cases) {
          const what = `${op} [${shape}] dim=${JSON.stringify(dim)} keepDim=${keepDim} ${layout}`;
          const gen = op === 'prod' ? (s: number[]) => awayFromZero(s, rng, 0.5, 1.5) : randnGen(rng);
          const x = leaf(shape, layout, gen);
          const dims = dimList(dim);
          // expanded inputs repeat values: max/min ties there are exact and split evenly
          const refVjp = { sum: vjp.sum, mean: vjp.mean, prod: vjp.prod, max: vjp.amax, min: vjp.amin }[op];
          checkGrads(what, rng, [x], ([t]) => t[op](dim, keepDim), ([r], g) => refVjp(r, dims, keepDim, g));
        }
      });
    }
  }
  gradTest('prod', 'with zeros: the exact product of the others', (rng) => {
    const x = leaf([3, 4], 'contiguous', (s) => R.make(s, ([i, j]) => (i === j || (i === 1 && j === 3) ? 0 : rng.normal())));
    checkGrads('prod zeros dim 1', rng, [x], ([t]) => t.prod(1), ([r], g) => vjp.prod(r, [1], false, g));
    const y = leaf([3, 4], 'transpose', (s) => R.make(s, ([i, j]) => (i === j || (i === 1 && j === 3) ? 0 : rng.normal())));
    checkGrads('prod zeros dim 0', rng, [y], ([t]) => t.prod(0, true), ([r], g) => vjp.prod(r, [0], true, g));
  });
  gradTest('max', 'ties among small integers are split evenly (amax semantics)', (rng) => {
    for (const [dim, keepDim] of [[undefined, false], [1, false], [0, true], [[0, 1], false]] as [number | number[] | undefined, boolean][]) {
      const x = leaf([4, 6], 'step', (s) => R.randint(s, rng, 0, 3));
      checkGrads(`max ties dim=${dim}`, rng, [x], ([t]) => t.max(dim, keepDim), ([r], g) => vjp.amax(r, dimList(dim), keepDim, g));
      const y = leaf([4, 6], 'transpose', (s) => R.randint(s, rng, 0, 3));
      checkGrads(`min ties dim=${dim}`, rng, [y], ([t]) => t.min(dim, keepDim), ([r], g) => vjp.amin(r, dimList(dim), keepDim, g));
    }
  });
  test('argmax/argmin have no gradient', () => {
    const x = tf.randn([3, 4], { requiresGrad: true });
    const i = x.argmax(1);
    expect(i.dtype).toBe('int32');
    expect(i.requiresGrad).toBe(false);
    expect(x.argmin().requiresGrad).toBe(false);
    expect(() => x.argmax().backward()).toThrow(tf.ArgumentError);
    expect(x.grad).toBeNull();
  });
});

// ---- matmul ------------------------------------------------------------------------------
describe('matmul gradients', () => {
  const cases: [number[], number[]][] = [
    [[3, 4], [4, 5]], [[1, 1], [1, 1]], [[7], [7]], [[7], [7, 3]], [[3, 7], [7]], [[13], [2, 13, 5]], [[2, 5, 13], [13]],
    [[2, 1, 5, 7], [3, 7, 4]], [[4, 3, 6], [6, 2]], [[3, 6], [4, 6, 2]], [[37, 53], [53, 71]],
  ];
  for (const [la, lb] of [['contiguous', 'contiguous'], ['transpose', 'transpose'], ['step', 'expand'], ['expand', 'step']] as Layout[][]) {
    gradTest('matmul', `${la}×${lb}`, (rng) => {
      for (const [sa, sb] of cases) {
        const a = leaf(sa, la, randnGen(rng)), b = leaf(sb, lb, randnGen(rng));
        // gradients are K-term dot products (K up to 71 here, or a summed batch): ~1e-6 relative each
        checkGrads(`matmul [${sa}]×[${sb}] ${la}×${lb}`, rng, [a, b], ([p, q]) => p.matmul(q), ([p, q], g) => vjp.matmul(p, q, g), [1e-4, 1e-4]);
      }
    });
  }
});

describe('linear gradients', () => {
  for (const bias of [true, false]) {
    gradTest('linear', bias ? 'with bias' : 'no bias', (rng) => {
      for (const xs of [[5, 7], [2, 3, 7], [7]]) {
        const x = leaf(xs, 'step', randnGen(rng)), w = leaf([4, 7], 'transpose', randnGen(rng)), b = leaf([4], 'contiguous', randnGen(rng));
        const ins = bias ? [x, w, b] : [x, w];
        const y = R.matmul(x.ref, R.transpose(w.ref, 0, 1));
        expectClose(tf.F.linear(x.t, w.t, bias ? b.t : null), bias ? R.binary('add', y, b.ref) : y, 1e-5, 1e-5, 'linear forward');
        checkGrads(`linear [${xs}]`, rng, ins, ([p, q, c]) => tf.F.linear(p, q, c), ([p, q], g) => {
          const [gx, gwt] = vjp.matmul(p, R.transpose(q, 0, 1), g);
          const gb = g.shape.length === 1 ? g : R.sum(g, g.shape.slice(0, -1).map((_, i) => i));  // all dims but the last
          return bias ? [gx, R.transpose(gwt, 0, 1), gb] : [gx, R.transpose(gwt, 0, 1)];
        }, [1e-4, 1e-4]);
      }
    });
  }
});

// ---- movement ----------------------------------------------------------------------------
describe('movement gradients', () => {
  for (const layout of LAYOUTS) {
    gradTest('reshape', layout, (rng) => {
      const x = leaf([2, 3, 4, 5], layout, randnGen(rng));
      checkGrads('reshape', rng, [x], ([t]) => t.reshape([6, -1]), ([r], g) => vjp.reshape(r, [6, -1], g));
    });
    gradTest('flatten', layout, (rng) => {
      const x = leaf([2, 3, 4, 5], layout, randnGen(rng));
      checkGrads('flatten 1..2', rng, [x], ([t]) => t.flatten(1, 2), ([r], g) => vjp.flatten(r, 1, 2, g));
      const y = leaf([2, 3, 4], layout, randnGen(rng));
      checkGrads('flatten', rng, [y], ([t]) => t.flatten(), ([r], g) => vjp.flatten(r, 0, -1, g));
    });
    gradTest('transpose', layout, (rng) => {
      const x = leaf([2, 3, 4, 5], layout, randnGen(rng));
      checkGrads('transpose', rng, [x], ([t]) => t.transpose(1, -1), ([r], g) => vjp.transpose(r, 1, -1, g));
      const y = leaf([3, 5], layout, randnGen(rng));
      checkGrads('.T', rng, [y], ([t]) => t.T, ([r], g) => vjp.transpose(r, 0, 1, g));
    });
    gradTest('permute', layout, (rng) => {
      const x = leaf([2, 3, 4, 5], layout, randnGen(rng));
      checkGrads('permute', rng, [x], ([t]) => t.permute([2, 0, 3, 1]), ([r], g) => vjp.permute(r, [2, 0, 3, 1], g));
    });
    gradTest('expand', layout, (rng) => {
      const x = leaf([3, 1, 5], layout, randnGen(rng));
      checkGrads('expand', rng, [x], ([t]) => t.expand([2, 3, 4, 5]), ([r], g) => vjp.expand(r, [2, 3, 4, 5], g));
      const y = leaf([1, 5], layout, randnGen(rng));
      checkGrads('expandAs', rng, [y], ([t]) => t.expandAs(tf.zeros([3, 5])), ([r], g) => vjp.expand(r, [3, 5], g));
    });
    gradTest('slice', layout, (rng) => {
      const cases: [number, number | undefined, number | undefined, number][] = [[0, 1, 5, 1], [1, 2, undefined, 3], [-1, -3, undefined, 1], [1, 5, 2, 1], [0, -100, 100, 4]];
      for (const [d, s, e, st] of cases) {
        const x = leaf([7, 13, 4], layout, randnGen(rng));
        checkGrads(`slice(${d}, ${s}, ${e}, ${st})`, rng, [x], ([t]) => t.slice(d, s, e, st), ([r], g) => vjp.slice(r, d, s, e, st, g));
      }
    });
    gradTest('select', layout, (rng) => {
      for (const [d, i] of [[0, 0], [1, -1], [2, 3]]) {
        const x = leaf([7, 13, 4], layout, randnGen(rng));
        const n = x.ref.shape[d];
        const j = i < 0 ? i + n : i;
        checkGrads(`select(${d}, ${i})`, rng, [x], ([t]) => t.select(d, i),
          ([r], g) => vjp.slice(r, d, j, j + 1, 1, R.unsqueeze(g, d)));
      }
    });
    gradTest('squeeze', layout, (rng) => {
      const x = leaf([3, 1, 5, 1], layout, randnGen(rng));
      checkGrads('squeeze', rng, [x], ([t]) => t.squeeze(), ([r], g) => vjp.squeeze(r, undefined, g));
      const y = leaf([3, 1, 5, 1], layout, randnGen(rng));
      checkGrads('squeeze 1', rng, [y], ([t]) => t.squeeze(1), ([r], g) => vjp.squeeze(r, 1, g));
    });
    gradTest('unsqueeze', layout, (rng) => {
      const x = leaf([3, 5], layout, randnGen(rng));
      checkGrads('unsqueeze', rng, [x], ([t]) => t.unsqueeze(1), ([r], g) => vjp.unsqueeze(r, 1, g));
    });
    gradTest('view', layout, (rng) => {
      const x = leaf([4, 6], 'contiguous', randnGen(rng));
      checkGrads('view', rng, [x], ([t]) => t.view([2, 12]), ([r], g) => vjp.reshape(r, [2, 12], g));
    });
    gradTest('contiguous', layout, (rng) => {
      const x = leaf([4, 6], layout, randnGen(rng));
      checkGrads('contiguous', rng, [x], ([t]) => t.contiguous(), ([], g) => [g]);
    });
    gradTest('clone', layout, (rng) => {
      const x = leaf([4, 6], layout, randnGen(rng));
      checkGrads('clone', rng, [x], ([t]) => t.clone(), ([], g) => [g]);
    });
    gradTest('toDevice', layout, (rng) => {
      // the other device where one is usable (a GPU, or the emulation), else the same-device identity
      const other = cudaUsable() ? (tf.getDefaultDevice() === 'cuda' ? 'cpu' : 'cuda') : tf.getDefaultDevice();
      const x = leaf([4, 6], layout, randnGen(rng));
      checkGrads('toDevice', rng, [x], ([t]) => t.to(other).mul(2).to(t.device), ([], g) => [{ shape: g.shape, data: g.data.map((v) => 2 * v) }]);
    });
    gradTest('cat', layout, (rng) => {
      for (const dim of [0, 1, -1]) {
        const d = (dim + 3) % 3;
        const shapes = [[2, 3, 5], [2, 3, 5], [2, 3, 5]].map((s, k) => s.map((v, i) => (i === d ? v + k : v)));
        const xs = shapes.map((s, k) => leaf(s, k === 1 ? 'contiguous' : layout, randnGen(rng)));
        checkGrads(`cat dim ${dim}`, rng, xs, (ts) => tf.cat(ts, dim), (rs, g) => vjp.cat(rs, dim, g));
      }
    });
    gradTest('stack', layout, (rng) => {
      for (const dim of [0, 1, -1]) {
        const xs = [0, 1, 2].map(() => leaf([4, 3], layout, randnGen(rng)));
        checkGrads(`stack dim ${dim}`, rng, xs, (ts) => tf.stack(ts, dim), (rs, g) => vjp.stack(rs, dim, g));
      }
    });
  }
});

// ---- indexing ----------------------------------------------------------------------------
describe('indexing gradients', () => {
  for (const layout of ['contiguous', 'transpose', 'step'] as Layout[]) {
    gradTest('gather', layout, (rng) => {
      for (const dim of [0, 1, -1]) {
        const d = (dim + 3) % 3;
        const x = leaf([5, 7, 3], layout, randnGen(rng));
        const ishape = [4, 6, 3].map((s, i) => (i === d ? 9 : s));  // repeats: gradients accumulate
        const idx = leaf(ishape, layout, (s) => R.randint(s, rng, 0, x.ref.shape[d]), { grad: false, dtype: 'int32' });
        checkGrads(`gather dim ${dim}`, rng, [x, idx], ([t, i]) => t.gather(dim, i), ([r, i], g) => vjp.gather(r, dim, i, g));
      }
    });
    gradTest('scatterAdd', layout, (rng) => {
      for (const dim of [0, 1, -1]) {
        const d = (dim + 3) % 3;
        const x = leaf([5, 7, 3], layout, randnGen(rng));
        const ishape = [4, 6, 3].map((s, i) => (i === d ? 11 : s));
        const idx = leaf(ishape, layout, (s) => R.randint(s, rng, 0, x.ref.shape[d]), { grad: false, dtype: 'int32' });
        const src = leaf(ishape, layout, randnGen(rng));
        checkGrads(`scatterAdd dim ${dim}`, rng, [x, idx, src], ([t, i, s]) => t.scatterAdd(dim, i, s),
          ([r, i, s], g) => vjp.scatterAdd(r, dim, i, s, g));
      }
    });
    gradTest('indexSelect', layout, (rng) => {
      for (const dim of [0, 1, -1]) {
        const d = (dim + 3) % 3;
        const x = leaf([5, 7, 3], layout, randnGen(rng));
        const idx = leaf([9], layout, (s) => R.randint(s, rng, 0, x.ref.shape[d]), { grad: false, dtype: 'int32' });
        checkGrads(`indexSelect dim ${dim}`, rng, [x, idx], ([t, i]) => t.indexSelect(dim, i), ([r, i], g) => vjp.indexSelect(r, dim, i, g));
        const x0 = leaf([5, 7, 3], layout, randnGen(rng));
        const i0 = leaf([], 'contiguous', () => R.scalar(1), { grad: false, dtype: 'int32' });
        checkGrads(`indexSelect 0-d index dim ${dim}`, rng, [x0, i0], ([t, i]) => t.indexSelect(dim, i), ([r, i], g) => vjp.indexSelect(r, dim, i, g));
      }
    });
  }
});

// ---- graph behaviour ---------------------------------------------------------------------
describe('autograd engine', () => {
  seeded('fan-out: the same tensor used twice accumulates both paths', (rng) => {
    const x = leaf([3, 5], 'transpose', randnGen(rng));
    // d/dx sum(x*x*G) = 2xG
    checkGrads('x.mul(x)', rng, [x], ([t]) => t.mul(t), ([r], g) => [R.binary('mul', R.binary('mul', r, g), R.scalar(2))]);
    const y = leaf([3, 5], 'step', randnGen(rng));
    // (x + x) * x = 2x^2: gradient 4xG
    checkGrads('x.add(x).mul(x)', rng, [y], ([t]) => t.add(t).mul(t), ([r], g) => [R.binary('mul', R.binary('mul', r, g), R.scalar(4))]);
    const z = leaf([4, 3], 'contiguous', randnGen(rng));
    // z^T z: z feeds both operands of matmul through views
    checkGrads('zᵀz', rng, [z], ([t]) => t.T.matmul(t), ([r], g) => {
      const [ga, gb] = vjp.matmul(R.transpose(r, 0, 1), r, g);
      return [R.binary('add', R.transpose(ga, 0, 1), gb)];
    });
    const w = leaf([6], 'contiguous', (s) => R.rand(s, rng, 0.5, 2));
    // a diamond: log(w) and exp(w) both feed the product
    checkGrads('log(w)*exp(w)', rng, [w], ([t]) => t.log().mul(t.exp()),
      ([r], g) => [R.binary('mul', g, R.binary('mul', R.unary('exp', r), R.binary('add', R.unary('reciprocal', r), R.unary('log', r))))]);
  });

  seeded('a small MLP: relu(x@W1 + b1)@W2 summed', (rng) => {
    const x = leaf([8, 5], 'contiguous', randnGen(rng));
    const W1 = leaf([5, 16], 'transpose', randnGen(rng)), b1 = leaf([16], 'contiguous', randnGen(rng));
    const W2 = leaf([16, 3], 'step', randnGen(rng));
    const out = x.t.matmul(W1.t).add(b1.t).relu().matmul(W2.t);
    const loss = out.sum();
    // reference forward and chained VJPs
    const h = R.matmul(x.ref, W1.ref), z = R.binary('add', h, b1.ref), a = R.unary('relu', z), o = R.matmul(a, W2.ref);
    expectClose(loss, R.sum(o), 1e-5, 1e-5, 'MLP loss');
    loss.backward();
    const [ga, gW2] = vjp.matmul(a, W2.ref, R.ones(o.shape));
    const [gz] = vjp.unary('relu', z, ga);
    const [gh, gb1] = vjp.binary('add', h, b1.ref, gz);
    const [gx, gW1] = vjp.matmul(x.ref, W1.ref, gh);
    expectClose(W2.t.grad!, gW2, RTOL, ATOL, 'W2.grad');
    expectClose(b1.t.grad!, gb1, RTOL, ATOL, 'b1.grad');
    expectClose(W1.t.grad!, gW1, RTOL, ATOL, 'W1.grad');
    expectClose(x.t.grad!, gx, RTOL, ATOL, 'x.grad');
    expect(out.isLeaf).toBe(false);
    expect(x.t.isLeaf).toBe(true);
    expect(out.grad).toBeNull();  // only leaves keep gradients
  });

  test('noGrad records nothing', () => {
    const x = tf.randn([3, 4], { requiresGrad: true });
    expect(tf.isGradEnabled()).toBe(true);
    const y = tf.noGrad(() => {
      expect(tf.isGradEnabled()).toBe(false);
      return x.mul(2).exp().sum();
    });
    expect(tf.isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(() => y.backward()).toThrow(tf.ArgumentError);
    expect(x.grad).toBeNull();
    // restored after a throw too
    expect(() => tf.noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(tf.isGradEnabled()).toBe(true);
    // tensors without requiresGrad record nothing either
    const z = tf.randn([2]).mul(3);
    expect(z.requiresGrad).toBe(false);
    expect(z.gradFn).toBeNull();
  });

  seeded('detach cuts the graph but shares values', (rng) => {
    const x = leaf([3, 4], 'contiguous', randnGen(rng));
    const d = x.t.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    expect(d.storage).toBe(x.t.storage);
    expect(d.mul(2).requiresGrad).toBe(false);
    // only the attached path contributes: d/dx sum(x * detach(x) * G) = detach(x) * G
    checkGrads('x * x.detach()', rng, [x], ([t]) => t.mul(t.detach()), ([r], g) => [R.binary('mul', r, g)]);
    const y = tf.randn([3], { requiresGrad: true });
    const w = y.mul(2);
    expect(() => w.requiresGrad_(false)).toThrow(tf.ArgumentError);  // not a leaf
    expect(w.detach().isLeaf).toBe(true);
  });

  seeded('gradients accumulate across backward calls until zeroGrad', (rng) => {
    const xr = toRef(fromRef(R.randn([4, 3], rng)));
    const x = fromRef(xr, { requiresGrad: true });
    x.mul(3).sum().backward();
    expectClose(x.grad!, R.full([4, 3], 3), 0, 0, 'first backward');
    x.square().sum().backward();
    expectClose(x.grad!, R.binary('add', R.full([4, 3], 3), R.binary('mul', xr, R.scalar(2))), 1e-6, 1e-6, 'accumulated');
    x.zeroGrad();
    expect(x.grad).toBeNull();
    x.sum().backward();
    expectClose(x.grad!, R.ones([4, 3]), 0, 0, 'after zeroGrad');
  });

  seeded('backward twice needs retainGraph', (rng) => {
    const xr = toRef(fromRef(R.randn([5], rng)));
    const x = fromRef(xr, { requiresGrad: true });
    const loss = x.exp().mul(x).sum();
    loss.backward();
    expect(() => loss.backward()).toThrow(/second time/);
    x.zeroGrad();
    const loss2 = x.exp().mul(x).sum();
    loss2.backward(undefined, { retainGraph: true });
    loss2.backward();  // the graph was kept once; this one frees it
    const once = R.binary('mul', R.unary('exp', xr), R.binary('add', xr, R.scalar(1)));
    expectClose(x.grad!, R.binary('mul', once, R.scalar(2)), 1e-5, 1e-6, 'two retained backwards add up');
    expect(() => loss2.backward()).toThrow(tf.ArgumentError);
  });

  seeded('backward on a non-scalar needs a gradient of the output shape', (rng) => {
    const xr = toRef(fromRef(R.randn([2, 3], rng)));
    const x = fromRef(xr, { requiresGrad: true });
    const y = x.sin();
    expect(() => y.backward()).toThrow(tf.ShapeError);
    expect(() => y.backward(tf.ones([3, 2]))).toThrow(tf.ShapeError);
    const gr = toRef(fromRef(R.randn([2, 3], rng)));
    y.backward(fromRef(gr));
    expectClose(x.grad!, vjp.unary('sin', xr, gr)[0], RTOL, ATOL, 'explicit gradient');
    // a one-element non-0-d output is implicitly seeded with 1, like torch
    const s = x.sum([0, 1], true);
    expect(s.shape).toEqual([1, 1]);
    x.zeroGrad();
    s.backward();
    expectClose(x.grad!, R.ones([2, 3]), 0, 0, 'keepDim scalar');
    expect(() => tf.ones([2]).backward()).toThrow(tf.ArgumentError);
  });

  test('only float32 tensors can require gradients', () => {
    expect(() => tf.zeros([2], { dtype: 'int32', requiresGrad: true })).toThrow(tf.ArgumentError);
    expect(() => tf.zeros([2], { dtype: 'bool' }).requiresGrad_()).toThrow(tf.ArgumentError);
  });

  test('comparisons produce no gradient path', () => {
    const x = tf.randn([4], { requiresGrad: true });
    const c = x.gt(0);
    expect(c.dtype).toBe('bool');
    expect(c.requiresGrad).toBe(false);
  });

  test('backward leaves only the leaf gradients alive', () => {
    const x = tf.randn([16, 8], { requiresGrad: true });
    const w = tf.randn([8, 4], { requiresGrad: true });
    const before = tf.memory();
    tf.scope(() => { x.matmul(w).relu().sum().mul(x.mean()).backward(); });
    const after = tf.memory();
    // two grads (x: 16×8, w: 8×4 floats) are all that remain
    expect(after.numTensors - before.numTensors).toBe(2);
    expect(after.numBytes - before.numBytes).toBe((16 * 8 + 8 * 4) * 4);
  });

  test('leaves that receive one formula result get gradients in buffers of their own', () => {
    // add's backward hands the same g to both operands; optimizers write .grad in place
    const a = tf.ones([3], { requiresGrad: true }), b = tf.ones([3], { requiresGrad: true });
    tf.scope(() => { a.add(b).sum().backward(); });
    expect(a.grad!.storage).not.toBe(b.grad!.storage);
    a.grad!.fill_(5);
    expect(Array.from(b.grad!.dataSync())).toEqual([1, 1, 1]);
    [a, b].forEach((t) => { t.zeroGrad(); t.dispose(); });
  });
});

// ---- coverage ----------------------------------------------------------------------------
describe('coverage', () => {
  /** Exported op functions that take part in autograd (each must have a gradTest above). */
  const DIFFERENTIABLE = [
    ...R.UNARY_OPS, 'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'where', 'clamp', 'cast',
    'sum', 'mean', 'prod', 'max', 'min', 'matmul', 'linear',
    'reshape', 'view', 'transpose', 'permute', 'expand', 'slice', 'select', 'squeeze', 'unsqueeze', 'flatten',
    'cat', 'stack', 'contiguous', 'clone', 'toDevice', 'gather', 'scatterAdd', 'indexSelect',
  ];
  /** Exported op functions with no gradient (or generic dispatchers covered through their ops). */
  const NOT_DIFFERENTIABLE = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'argmax', 'argmin', 'unary', 'binary'];

  test('every differentiable op has a gradient test', () => {
    const missing = DIFFERENTIABLE.filter((op) => !covered.has(op));
    expect(missing).toEqual([]);
    const api = { ...tf, ...tf.F } as Record<string, unknown>;  // top-level ops and tf.F
    for (const op of DIFFERENTIABLE) expect(typeof api[op]).toBe('function');
  });

  test('every function the op modules export is classified (new ops need a gradient test)', () => {
    const exported = [elementwiseOps, reduceOps, movementOps, linalgOps, indexingOps]
      .flatMap((m) => Object.entries(m).filter(([, v]) => typeof v === 'function').map(([k]) => k));
    const unclassified = exported.filter((k) => !DIFFERENTIABLE.includes(k) && !NOT_DIFFERENTIABLE.includes(k));
    expect(unclassified).toEqual([]);
  });
});

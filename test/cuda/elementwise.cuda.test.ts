// CUDA elementwise, activation, random and indexing kernels against the CPU kernels on the same
// inputs: every unary/binary op (float32 and int32, broadcast, transposed and misaligned views,
// sizes that leave vector tails), casts, where, fill, activations forward and backward, the
// random generator's bit identity, and index ops with duplicate and out-of-range indices.
import * as tf from '../../ts';
import { describeCuda } from '../helpers';
import { expectClose, expectEqual, seeded, toRef } from '../helpers';

type T = tf.Tensor;
const cu = (t: T): T => t.to('cuda');
const host = (t: T): T => t.to('cpu');

/** CPU and CUDA results of the same function on copies of the same inputs. */
function both(f: (...xs: T[]) => T, ...xs: T[]): [T, T] {
  const c = f(...xs);
  const g = f(...xs.map(cu));
  expect(g.device).toBe('cuda');
  return [c, host(g)];
}
function expectSame(f: (...xs: T[]) => T, xs: T[], rtol = 0, atol = 0, what = 'result'): void {
  const [c, g] = both(f, ...xs);
  expect(g.dtype).toBe(c.dtype);
  if (rtol === 0 && atol === 0) expectEqual(g, toRef(c), what);
  else expectClose(g, toRef(c), rtol, atol, what);
}

function randn(shape: number[], seed: number, scale = 1): T {
  tf.manualSeed(seed);
  return tf.randn(shape).mul(scale);
}
function randint(low: number, high: number, shape: number[], seed: number): T {
  tf.manualSeed(seed);
  return tf.randint(low, high, shape);
}

// Libdevice's expf/logf/sinf/cosf/tanhf/powf are within 2 ulp, glibc's within 1: a few float ulps.
const LOOSE = 4e-6;
const exactUnary = ['neg', 'abs', 'sign', 'sqrt', 'relu', 'floor', 'ceil', 'round', 'reciprocal', 'square', 'rsqrt'] as const;
const mathUnary = ['exp', 'log', 'sin', 'cos', 'tanh', 'sigmoid'] as const;
const intUnary = ['neg', 'abs', 'sign', 'relu', 'square'] as const;
const arith = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const;
const compares = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;

describeCuda('CUDA elementwise kernels match the CPU', () => {
  // 1<<22 + 3: the vectorised path plus a 3-element tail; 1000: fewer elements than one wave
  const sizes = [1, 3, 1000, (1 << 22) + 3];

  seeded('unary float32: IEEE ops bit-identical, libm ops within a few ulp', () => {
    for (const n of sizes) {
      const x = randn([n], 1, 3);
      const xs = x.mul(x.gt(0).float().mul(2).sub(1));  // some exact zeros and negatives
      for (const op of exactUnary) expectSame((a) => tf.unary(op, a), [xs], 0, 0, `${op} n=${n}`);
      for (const op of mathUnary) expectSame((a) => tf.unary(op, a), [op === 'log' ? xs.abs() : xs], LOOSE, 1e-6, `${op} n=${n}`);
    }
  });

  seeded('unary on special values: NaN, ±inf, ±0, halves for round', () => {
    const x = tf.tensor([NaN, Infinity, -Infinity, 0, -0, 0.5, 1.5, 2.5, -0.5, -2.5, 1e-40, -3.7]);
    for (const op of [...exactUnary, ...mathUnary]) expectSame((a) => tf.unary(op, a), [x], LOOSE, 0, op);
  });

  seeded('unary int32, including INT32_MIN wrap-around', () => {
    const x = tf.cat([randint(-1000000, 1000000, [(1 << 20) + 1], 2), tf.tensor([-2147483648, 2147483647, 0], [3], { dtype: 'int32' })]);
    for (const op of intUnary) expectSame((a) => tf.unary(op, a), [x], 0, 0, op);
    for (const op of ['floor', 'ceil', 'round'] as const) expectSame((a) => tf.unary(op, a), [x], 0, 0, op);
  });

  seeded('binary float32: same shape, broadcast, scalar, transposed, misaligned', () => {
    const n = (1 << 22) + 3;
    const a = randn([n], 3), b = randn([n], 4).add(0.1);
    for (const op of [...arith, ...compares]) expectSame((p, q) => tf.binary(op, p, q), [a, b], 0, 0, `${op} contiguous`);
    expectSame((p, q) => tf.pow(p.abs(), q), [a, b], LOOSE, 1e-6, 'pow');
    // misaligned: views starting 1 element in (not 16-byte aligned)
    for (const op of ['add', 'mul', 'div', 'maximum', 'lt'] as const)
      expectSame((p, q) => tf.binary(op, p.slice(0, 1, n - 1), q.slice(0, 2)), [a, b], 0, 0, `${op} misaligned`);
    expectSame((p) => p.slice(0, 3).exp(), [a], LOOSE, 1e-6, 'unary misaligned');
    // broadcast: row, column, scalar operands (stride 0)
    const m = randn([257, 129], 5), row = randn([129], 6), col = randn([257, 1], 7);
    for (const op of ['add', 'sub', 'mul', 'div', 'minimum', 'ge'] as const) {
      expectSame((p, q) => tf.binary(op, p, q), [m, row], 0, 0, `${op} row`);
      expectSame((p, q) => tf.binary(op, p, q), [col, m], 0, 0, `${op} col`);
      expectSame((p) => tf.binary(op, p, 0.75), [m], 0, 0, `${op} scalar`);
      expectSame((p) => tf.binary(op, 2.5, p), [m], 0, 0, `${op} scalar first`);
    }
    // transposed and 3-D permuted operands take the strided path
    const t = randn([129, 257], 8);
    expectSame((p, q) => p.add(q.transpose(0, 1)), [m, t], 0, 0, 'add transposed');
    const p3 = randn([6, 7, 8], 9), q3 = randn([8, 6, 7], 10);
    expectSame((p, q) => p.mul(q.permute([1, 2, 0])), [p3, q3], 0, 0, 'mul permuted');
  });

  seeded('binary NaN handling of maximum / minimum / comparisons', () => {
    const a = tf.tensor([NaN, 1, NaN, -0, 0, Infinity]), b = tf.tensor([1, NaN, NaN, 0, -0, -Infinity]);
    for (const op of [...arith, ...compares]) expectSame((p, q) => tf.binary(op, p, q), [a, b], 0, 0, op);
  });

  seeded('binary int32 (wrap-around) and bool', () => {
    const n = (1 << 20) + 5;
    const a = randint(-2147483648, 2147483647, [n], 11), b = randint(-50000, 50000, [n], 12);
    for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum', ...compares] as const)
      expectSame((p, q) => tf.binary(op, p, q), [a, b], 0, 0, `int32 ${op}`);
    expectSame((p) => p.add(7), [a], 0, 0, 'int32 + scalar');
    const ba = randint(0, 2, [1001], 13).bool(), bb = randint(0, 2, [1001], 14).bool();
    for (const op of ['maximum', 'minimum', 'eq', 'ne', 'lt', 'ge'] as const)
      expectSame((p, q) => tf.binary(op, p, q), [ba, bb], 0, 0, `bool ${op}`);
  });

  seeded('casts between float32, int32 and bool round and saturate as the CPU', () => {
    const f = tf.cat([randn([(1 << 20) + 3], 15, 1e3),
      tf.tensor([NaN, Infinity, -Infinity, 2147483648, -2147483904, 2147483520, -0.9, 0.9, -0, 1e-45])]);
    const i = tf.cat([randint(-2147483648, 2147483647, [100001], 16), tf.tensor([16777217, -16777217, 0], [3], { dtype: 'int32' })]);
    const b = randint(0, 2, [4099], 17).bool();
    for (const x of [f, i, b])
      for (const d of ['float32', 'int32', 'bool'] as const) expectSame((a) => a.toDType(d), [x], 0, 0, `${x.dtype}->${d}`);
    // strided and transposed copies (the tiled transpose path, edge tiles included)
    for (const [r, c] of [[1, 1], [33, 65], [1000, 3], [517, 1031]]) {
      const m = randn([r, c], 18);
      expectSame((a) => a.transpose(0, 1).contiguous(), [m], 0, 0, `transpose ${r}x${c}`);
      expectSame((a) => a.transpose(0, 1).toDType('int32'), [m.mul(100)], 0, 0, `transpose cast ${r}x${c}`);
    }
    const batch = randn([3, 70, 40], 19);
    expectSame((a) => a.permute([0, 2, 1]).contiguous(), [batch], 0, 0, 'batched transpose');
    expectSame((a) => a.permute([2, 0, 1]).contiguous(), [batch], 0, 0, 'permute');
    expectSame((a) => a.slice(1, 3, 60, 3).contiguous(), [batch], 0, 0, 'stepped slice');
  });

  seeded('where with broadcasting, every dtype', () => {
    const c = randint(0, 2, [300, 1], 20).bool();
    const a = randn([300, 257], 21), b = randn([257], 22);
    expectSame((cc, aa, bb) => tf.where(cc, aa, bb), [c, a, b], 0, 0, 'float32');
    expectSame((cc, aa, bb) => tf.where(cc, aa.int(), bb.int()), [c, a.mul(9), b.mul(9)], 0, 0, 'int32');
    expectSame((cc, aa, bb) => tf.where(cc, aa.gt(0), bb.gt(0)), [c, a, b], 0, 0, 'bool');
    expectSame((cc, aa) => tf.where(cc, aa, 0), [c, a], 0, 0, 'scalar branch');
  });

  seeded('fill (zeros, ones, full, eye) on the device', () => {
    for (const n of [0, 1, 5, (1 << 20) + 1]) {
      expectEqual(host(tf.zeros([n], { device: 'cuda' })), toRef(tf.zeros([n])), 'zeros');
      expectEqual(host(tf.ones([n], { dtype: 'int32', device: 'cuda' })), toRef(tf.ones([n], { dtype: 'int32' })), 'ones');
    }
    expectEqual(host(tf.eye(37, 41, { device: 'cuda' })), toRef(tf.eye(37, 41)), 'eye (strided fill)');
  });

  seeded('0-element tensors launch nothing', () => {
    const e = tf.zeros([0, 4], { device: 'cuda' });
    expect(host(e.add(1).exp().gt(0).int()).shape).toEqual([0, 4]);
    expect(host(tf.F.gelu(e)).shape).toEqual([0, 4]);
  });
});

describeCuda('CUDA activations match the CPU', () => {
  const fns: [string, (x: T) => T][] = [
    ['gelu', (x) => tf.F.gelu(x)],
    ['geluTanh', (x) => tf.F.gelu(x, { approximate: 'tanh' })],
    ['silu', (x) => tf.F.silu(x)],
    ['softplus', (x) => tf.F.softplus(x, { beta: 2, threshold: 5 })],
    ['leakyRelu', (x) => tf.F.leakyRelu(x, 0.1)],
    ['elu', (x) => tf.F.elu(x, 0.7)],
  ];

  seeded('forward and backward, contiguous, transposed and large', () => {
    for (const [name, f] of fns) {
      for (const shape of [[7], [65, 33], [(1 << 21) + 1]]) {
        const x = randn(shape, 30, 4);
        const src = shape.length === 2 ? x.transpose(0, 1) : x;
        expectSame(f, [src], 1e-5, 1e-6, `${name} forward ${shape}`);
        const g = randn(src.shape as number[], 31);
        const grads = [src, src.to('cuda')].map((xx) => {
          const leaf = xx.clone().requiresGrad_(true);
          f(leaf).backward(g.to(xx.device));
          return host(leaf.grad as T);
        });
        expectClose(grads[1], toRef(grads[0]), 1e-5, 1e-6, `${name} backward ${shape}`);
      }
    }
  });
});

describeCuda('CUDA random draws equal the CPU generator', () => {
  seeded('uniform and randint bit for bit, normal to the last float bit', () => {
    for (const n of [1, 1001, (1 << 20) + 7]) {
      for (const seed of [0, 12345, 2 ** 40 + 3]) {
        const draws = (device: 'cpu' | 'cuda') => {
          tf.manualSeed(seed);
          const u = tf.rand([n], { device }), r = tf.randint(-7, 100003, [n], { device });
          const w = tf.uniform([n], -3, 5, { device }), z = tf.randn([n], { device }), m = tf.normal([n], 2, 0.5, { device });
          return [u, r, w, z, m].map(host);
        };
        const [c, g] = [draws('cpu'), draws('cuda')];
        expect(tf.getRngState().offset).toBe(5 * n);
        for (let k = 0; k < 3; k++) expectEqual(g[k], toRef(c[k]), `draw ${k} n=${n} seed=${seed}`);
        for (let k = 3; k < 5; k++) {
          expectClose(g[k], toRef(c[k]), 1.2e-7, 1e-12, `normal ${k} n=${n} seed=${seed}`);
          const a = c[k].dataSync(), b = g[k].dataSync();
          let differ = 0;
          for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
          expect(differ).toBeLessThanOrEqual(Math.max(1, a.length * 1e-5));
        }
      }
    }
  });
});

describeCuda('CUDA index kernels match the CPU', () => {
  seeded('gather and scatterAdd with duplicate indices, transposed operands', () => {
    const x = randn([64, 300], 40);
    const idx1 = randint(0, 300, [64, 500], 41);  // along dim 1: many duplicates
    expectSame((a, i) => a.gather(1, i), [x, idx1], 0, 0, 'gather dim 1');
    const idx0 = randint(0, 64, [100, 300], 42);
    expectSame((a, i) => a.gather(0, i), [x, idx0], 0, 0, 'gather dim 0');
    expectSame((a, i) => a.transpose(0, 1).gather(0, i), [x, randint(0, 300, [7, 64], 43)], 0, 0, 'gather transposed');
    expectSame((a, i) => a.int().gather(1, i), [x.mul(100), idx1], 0, 0, 'gather int32');
    expectSame((a, i) => a.gt(0).gather(1, i), [x, idx1], 0, 0, 'gather bool');
    const src = randn([64, 500], 44);
    // atomics add duplicates in any order: float32 within rounding, int32 exactly
    expectSame((a, i, s) => tf.scatterAdd(a, 1, i, s), [x, idx1, src], 1e-5, 1e-5, 'scatterAdd float32');
    expectSame((a, i, s) => tf.scatterAdd(a.int(), 1, i, s.int()), [x.mul(100), idx1, src.mul(100)], 0, 0, 'scatterAdd int32');
  });

  seeded('indexSelect and its backward (indexAdd) with repeated rows', () => {
    const table = randn([1000, 96], 50);
    const ids = randint(0, 1000, [4096], 51);
    expectSame((t, i) => t.indexSelect(0, i), [table, ids], 0, 0, 'indexSelect rows');
    expectSame((t, i) => t.indexSelect(1, i), [table, randint(0, 96, [200], 52)], 0, 0, 'indexSelect columns');
    expectSame((t, i) => t.gt(0).indexSelect(0, i), [table, ids], 0, 0, 'indexSelect bool');
    const g = randn([4096, 96], 53);
    const grads = [table, table.to('cuda')].map((t) => {
      const leaf = t.clone().requiresGrad_(true);
      leaf.indexSelect(0, ids.to(t.device)).backward(g.to(t.device));
      return host(leaf.grad as T);
    });
    expectClose(grads[1], toRef(grads[0]), 1e-5, 1e-5, 'indexAdd');
  });

  seeded('out-of-range indices raise the CPU error and leave the output untouched', () => {
    const x = tf.zeros([4, 5], { device: 'cuda' });
    const bad = tf.tensor([[0, 1], [2, 5]], [2, 2], { dtype: 'int32', device: 'cuda' });
    const neg = tf.tensor([3, -1, 7], [3], { dtype: 'int32', device: 'cuda' });
    const msg = (f: () => unknown) => { try { f(); } catch (e) { return (e as Error).message; } return 'no error'; };
    expect(msg(() => x.gather(1, bad))).toBe(msg(() => host(x).gather(1, host(bad))));
    expect(msg(() => x.gather(1, bad))).toMatch(/index 5 is out of range for a dimension of size 5/);
    expect(msg(() => x.indexSelect(0, neg))).toMatch(/index -1 is out of range for a dimension of size 4/);
    expect(() => tf.scatterAdd(x, 1, bad, tf.ones([2, 2], { device: 'cuda' }))).toThrow(tf.IndexError);
    expect(host(x).toArray()).toEqual(host(tf.zeros([4, 5])).toArray());
  });
});

// CUDA reductions, softmax and losses against the CPU kernels on the same random inputs: every
// reduction over each dim, several dims and all, keepDim, transposed inputs, the split (full
// reduction) and row paths at sizes that are not multiples of their tiles, NaN and tie rules;
// softmax forward/backward on short (warp) and long (block) rows and strided dims; the class and
// binary losses with each option, forward and backward. The generic per-device suite
// (TF_TEST_DEVICE=cuda) covers the float64-reference checks; this file covers what it cannot.
import * as tf from '../../ts';
import { describeCuda, expectClose, seeded, toRef } from '../helpers';
import { Rng } from '../reference';

type DT = 'float32' | 'int32';

/** The same values as a CPU tensor and a CUDA tensor. */
function pair(shape: number[], gen: (i: number) => number, dtype: DT = 'float32', requiresGrad = false) {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = dtype === 'float32' ? Float32Array.from({ length: n }, (_, i) => gen(i)) : Int32Array.from({ length: n }, (_, i) => gen(i));
  const cpu = tf.tensor(values, shape, { dtype, requiresGrad });
  const cuda = tf.tensor(values, shape, { dtype, requiresGrad, device: 'cuda' });
  return { cpu, cuda };
}

function same(cuda: tf.Tensor, cpu: tf.Tensor, rtol: number, atol: number, what: string): void {
  expect(cuda.device).toBe('cuda');
  expect(cuda.dtype).toBe(cpu.dtype);
  expect([...cuda.shape]).toEqual([...cpu.shape]);
  expectClose(toRef(cuda), toRef(cpu), rtol, atol, what);
}

/** Uniform values in [shift − scale, shift + scale) from a hash of the index: big inputs without
 *  millions of rng calls (the seed still comes from the test's rng). */
function hashed(rng: Rng, scale = 1, shift = 0): (i: number) => number {
  const seed = rng.int(0, 1 << 30);
  return (i) => {
    let h = Math.imul(i ^ seed, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return ((h >>> 0) / 2 ** 31 - 1) * scale + shift;
  };
}

describeCuda('CUDA reductions vs CPU', () => {
  const ops = ['sum', 'prod', 'max', 'min'] as const;
  const shapes = [[7, 33, 5], [4, 1024], [3, 4097], [1, 31], [64, 32], [2, 3, 4, 5]];

  seeded('every reduction over each dim, pairs of dims and all, keepDim, contiguous and transposed', (rng) => {
    for (const shape of shapes) {
      // values near 1 keep products finite over thousands of elements
      const { cpu, cuda } = pair(shape, () => 1 + 0.01 * rng.normal());
      const dimSets: (number | number[] | undefined)[] = [undefined, ...shape.map((_, d) => d)];
      if (shape.length >= 2) dimSets.push([0, shape.length - 1]);
      if (shape.length >= 3) dimSets.push([1, 2], [0, 1, 2]);
      for (const layout of ['contiguous', 'transposed'] as const) {
        const xc = layout === 'contiguous' ? cpu : cpu.transpose(0, shape.length - 1);
        const xg = layout === 'contiguous' ? cuda : cuda.transpose(0, shape.length - 1);
        for (const dims of dimSets)
          for (const keepDim of [false, true]) {
            for (const op of ops) {
              const what = `${op} ${JSON.stringify(dims)} keepDim=${keepDim} [${shape}] ${layout}`;
              const exact = op === 'max' || op === 'min';
              same(xg[op](dims, keepDim), xc[op](dims, keepDim), exact ? 0 : 1e-6, exact ? 0 : 1e-6, what);
            }
            if (typeof dims === 'number')
              for (const op of ['argmax', 'argmin'] as const)
                same(xg[op](dims, keepDim), xc[op](dims, keepDim), 0, 0, `${op} ${dims} keepDim=${keepDim} [${shape}] ${layout}`);
          }
        for (const op of ['argmax', 'argmin'] as const) same(xg[op](), xc[op](), 0, 0, `${op} flat [${shape}] ${layout}`);
      }
    }
  });

  seeded('int32 reductions are exact, sums wrap like the CPU, argmax ties pick the first index', (rng) => {
    const { cpu, cuda } = pair([37, 129], () => rng.int(-3, 4), 'int32');
    for (const dims of [undefined, 0, 1] as const)
      for (const op of ['sum', 'max', 'min', 'argmax', 'argmin'] as const) {
        if (dims === undefined && (op === 'argmax' || op === 'argmin')) continue;
        same(cuda[op](dims as number), cpu[op](dims as number), 0, 0, `int32 ${op} ${dims}`);
      }
    same(cuda.argmax(), cpu.argmax(), 0, 0, 'int32 flat argmax (many ties)');
    const big = pair([5000], () => 2 ** 30, 'int32');
    same(big.cuda.sum(), big.cpu.sum(), 0, 0, 'int32 sum past 2^31 wraps');
    const small = pair([3, 40], () => rng.int(1, 3), 'int32');
    same(small.cuda.prod(1), small.cpu.prod(1), 0, 0, 'int32 prod');
    // ties in float: a row of equal maxima, and -0 before +0
    const ties = pair([4, 1000], (i) => (i % 7 === 3 ? 5 : i % 11 === 0 ? -0 : 0));
    for (const op of ['argmax', 'argmin', 'max', 'min'] as const)
      for (const dims of [0, 1]) same(ties.cuda[op](dims), ties.cpu[op](dims), 0, 0, `float ties ${op} ${dims}`);
  });

  seeded('NaN beats everything and the first NaN wins; sums and products propagate it', (rng) => {
    const nanAt = new Set([5, 77, 78, 4096 + 13, 3 * 4097 - 1]);
    const { cpu, cuda } = pair([3, 4097], (i) => (nanAt.has(i) ? NaN : rng.normal()));
    for (const op of ['sum', 'prod', 'max', 'min', 'argmax', 'argmin'] as const)
      for (const dims of [0, 1]) same(cuda[op](dims), cpu[op](dims), 1e-6, 1e-6, `NaN ${op} ${dims}`);
    same(cuda.argmax(), cpu.argmax(), 0, 0, 'NaN flat argmax');
    same(cuda.max(), cpu.max(), 0, 0, 'NaN full max');
  });

  seeded('rows of 1, 31, 32, 33, 1024 and 4097 elements (warp and block paths)', (rng) => {
    for (const n of [1, 31, 32, 33, 1024, 4097])
      for (const rows of [1, 3, 300]) {
        const { cpu, cuda } = pair([rows, n], hashed(rng));
        for (const op of ['sum', 'max', 'argmin'] as const) same(cuda[op](1), cpu[op](1), 1e-6, 1e-6, `${op} rows [${rows}, ${n}]`);
        same(cuda.sum(0), cpu.sum(0), 1e-6, 1e-6, `sum over dim 0 [${rows}, ${n}]`);
        // a row start that is not 16-byte aligned: slice off the first column
        if (n > 1) {
          const sc = cpu.slice(1, 1), sg = cuda.slice(1, 1);
          same(sg.sum(1), sc.sum(1), 1e-6, 1e-6, `unaligned rows [${rows}, ${n - 1}]`);
        }
      }
  });

  seeded('full reductions of 2^22 + 7 elements: split into chunks, deterministic', (rng) => {
    const n = (1 << 22) + 7;
    const { cpu, cuda } = pair([n], hashed(rng, 1, 0.25));
    const s1 = cuda.sum();
    same(s1, cpu.sum(), 1e-6, 1e-3, 'full sum');
    expect(cuda.sum().item()).toBe(s1.item());  // no atomics: the same bits every run
    same(cuda.max(), cpu.max(), 0, 0, 'full max');
    same(cuda.argmin(), cpu.argmin(), 0, 0, 'full argmin');
    const m = pair([4097, 1024], hashed(rng));
    same(m.cuda.sum(0), m.cpu.sum(0), 1e-6, 1e-5, 'sum over 4097 rows (strided, split)');
    same(m.cuda.T.sum(), m.cpu.T.sum(), 1e-6, 1e-2, 'full sum of a transposed matrix (generic, split)');
    same(m.cuda.argmax(0), m.cpu.argmax(0), 0, 0, 'argmax over 4097 rows');
    const w = pair([3, 1 << 20], hashed(rng));
    same(w.cuda.sum(1), w.cpu.sum(1), 1e-6, 1e-3, 'three long rows (split rows)');
    same(w.cuda.mean(1), w.cpu.mean(1), 1e-6, 1e-6, 'mean of three long rows');
  }, 120000);

  seeded('empty reductions: sum 0, prod 1, max raises', () => {
    const { cpu, cuda } = pair([3, 0], () => 0);
    same(cuda.sum(1), cpu.sum(1), 0, 0, 'empty sum');
    same(cuda.prod(1), cpu.prod(1), 0, 0, 'empty prod');
    same(cuda.sum(0), cpu.sum(0), 0, 0, 'sum to an empty output');
    expect(() => cuda.max(1)).toThrow(/cannot reduce an empty dimension/);
  });
});

describeCuda('CUDA softmax vs CPU', () => {
  seeded('forward and backward on short and long rows, every dim, log and not', (rng) => {
    for (const n of [1, 3, 4, 5, 31, 32, 33, 512, 513, 1024, 1025, 4097, 70000])
      for (const rows of n > 4097 ? [2] : [1, 7, 130]) {
        for (const log of [false, true]) {
          const { cpu, cuda } = pair([rows, n], hashed(rng, 6), 'float32', true);
          const g = pair([rows, n], hashed(rng));
          const fn = log ? tf.F.logSoftmax : tf.F.softmax;
          for (const dim of [1, 0]) {
            const what = `${log ? 'logSoftmax' : 'softmax'} [${rows}, ${n}] dim ${dim}`;
            const yc = fn(cpu, dim), yg = fn(cuda, dim);
            same(yg, yc, 1e-5, 1e-6, what);
            yc.backward(g.cpu);
            yg.backward(g.cuda);
            same(cuda.grad!, cpu.grad!, 1e-4, 1e-5, `${what} backward`);
            cpu.zeroGrad();
            cuda.zeroGrad();
          }
        }
      }
  }, 120000);

  seeded('strided and transposed dims: NCHW channels, a transposed matrix, a middle dim', (rng) => {
    const { cpu, cuda } = pair([4, 19, 6, 7], hashed(rng, 4));
    for (const dim of [0, 1, 2, 3]) same(tf.F.softmax(cuda, dim), tf.F.softmax(cpu, dim), 1e-5, 1e-6, `NCHW dim ${dim}`);
    const m = pair([300, 2000], hashed(rng));
    for (const dim of [0, 1]) {
      same(tf.F.softmax(m.cuda.T, dim), tf.F.softmax(m.cpu.T, dim), 1e-5, 1e-6, `transposed dim ${dim}`);
      same(tf.F.logSoftmax(m.cuda.T, dim), tf.F.logSoftmax(m.cpu.T, dim), 1e-5, 1e-5, `transposed log dim ${dim}`);
    }
    const s = pair([], () => 1.5);
    same(tf.F.softmax(s.cuda, 0), tf.F.softmax(s.cpu, 0), 0, 0, '0-d');
  });

  seeded('special values: -inf entries, all -inf rows, +inf and NaN rows give the CPU result', () => {
    for (const n of [5, 40, 2000]) {
      const { cpu, cuda } = pair([5, n], (i) => {
        const r = Math.floor(i / n), c = i % n;
        if (r === 0) return c === 0 ? -Infinity : c % 3;            // starts with -inf
        if (r === 1) return -Infinity;                              // all -inf: NaN
        if (r === 2) return c === n - 1 ? Infinity : 0;             // +inf: NaN
        if (r === 3) return c === 2 ? NaN : 1;                      // NaN: NaN
        return c % 2 ? -Infinity : c;
      });
      for (const log of [false, true]) {
        const fn = log ? tf.F.logSoftmax : tf.F.softmax;
        same(fn(cuda, 1), fn(cpu, 1), 1e-5, 1e-6, `special n=${n} log=${log}`);
      }
    }
  });
});

describeCuda('CUDA losses vs CPU', () => {
  const reductions = ['none', 'sum', 'mean'] as const;

  seeded('crossEntropy and nllLoss: weight, ignoreIndex, label smoothing, each reduction, fwd and bwd', (rng) => {
    for (const shape of [[64, 10], [5, 1000], [3, 5000], [3, 7, 4, 5], [9, 3]])  // warp, block, thread rows
      for (const weighted of [false, true])
        for (const eps of [0, 0.1])
          for (const reduction of reductions) {
            const C = shape[1];
            const tShape = [shape[0], ...shape.slice(2)];
            const ignoreIndex = C - 1;  // a valid class, also ignored
            const x = pair(shape, () => 2 * rng.normal(), 'float32', true);
            const t = pair(tShape, () => rng.int(0, C), 'int32');
            const w = weighted ? pair([C], () => 0.5 + rng.uniform()) : null;
            const what = `[${shape}] weight=${weighted} eps=${eps} ${reduction}`;
            const opts = (dev: 'cpu' | 'cuda') => ({ weight: w ? w[dev] : null, ignoreIndex, labelSmoothing: eps, reduction });
            const lc = tf.F.crossEntropy(x.cpu, t.cpu, opts('cpu'));
            const lg = tf.F.crossEntropy(x.cuda, t.cuda, opts('cuda'));
            same(lg, lc, 1e-5, 1e-5, `crossEntropy ${what}`);
            const g = pair(lc.shape as number[], () => rng.normal());
            lc.backward(g.cpu);
            lg.backward(g.cuda);
            same(x.cuda.grad!, x.cpu.grad!, 1e-5, 1e-6, `crossEntropy backward ${what}`);
            x.cpu.zeroGrad();
            x.cuda.zeroGrad();
            if (eps > 0) continue;
            const nopts = (dev: 'cpu' | 'cuda') => ({ weight: w ? w[dev] : null, ignoreIndex, reduction });
            const nc = tf.F.nllLoss(x.cpu, t.cpu, nopts('cpu'));
            const ng = tf.F.nllLoss(x.cuda, t.cuda, nopts('cuda'));
            same(ng, nc, 1e-6, 1e-6, `nllLoss ${what}`);
            nc.backward(g.cpu);
            ng.backward(g.cuda);
            same(x.cuda.grad!, x.cpu.grad!, 0, 0, `nllLoss backward ${what}`);
            x.cpu.zeroGrad();
            x.cuda.zeroGrad();
          }
  }, 120000);

  seeded('all targets ignored: mean is NaN, sum is 0; a transposed class dim', (rng) => {
    const x = pair([4, 6], hashed(rng));
    const t = pair([4], () => -100, 'int32');
    for (const reduction of reductions)
      same(tf.F.crossEntropy(x.cuda, t.cuda, { reduction }), tf.F.crossEntropy(x.cpu, t.cpu, { reduction }), 0, 0, `all ignored ${reduction}`);
    const xt = pair([12, 40], hashed(rng));  // viewed as [40, 12]: class dim strided
    const tt = pair([40], () => rng.int(0, 12), 'int32');
    same(tf.F.crossEntropy(xt.cuda.T, tt.cuda), tf.F.crossEntropy(xt.cpu.T, tt.cpu), 1e-5, 1e-6, 'transposed logits');
  });

  seeded('a target out of range raises the CPU kernel\'s IndexError before anything runs', () => {
    const x = pair([4, 3], () => 0);
    const bad = pair([4], (i) => [0, 1, 3, 0][i], 'int32');
    expect(() => tf.F.crossEntropy(x.cuda, bad.cuda)).toThrow(/target 3 \(sample 2\) is out of bounds for 3 classes/);
    expect(() => tf.F.nllLoss(x.cuda, bad.cuda)).toThrow(/nllLoss: target 3/);
    const neg = pair([1, 2], (i) => [0, -7][i], 'int32');
    expect(() => tf.F.crossEntropy(pair([1, 3, 2], () => 0).cuda, neg.cuda)).toThrow(/target -7 \(sample 0, position 1\)/);
  });

  seeded('binaryCrossEntropyWithLogits: weight, posWeight, each reduction; grads to every operand', (rng) => {
    for (const shape of [[33, 5], [1000, 17]])
      for (const withPos of [false, true])
        for (const reduction of reductions) {
          const x = pair(shape, () => 8 * rng.normal(), 'float32', true);
          const y = pair(shape, () => rng.uniform(), 'float32', true);
          const pw = withPos ? pair([shape[1]], () => 0.5 + 2 * rng.uniform(), 'float32', true) : null;
          const w = pair([shape[1]], () => rng.uniform());
          const opts = (dev: 'cpu' | 'cuda') => ({ weight: w[dev], posWeight: pw ? pw[dev] : null, reduction });
          const what = `[${shape}] posWeight=${withPos} ${reduction}`;
          const lc = tf.F.binaryCrossEntropyWithLogits(x.cpu, y.cpu, opts('cpu'));
          const lg = tf.F.binaryCrossEntropyWithLogits(x.cuda, y.cuda, opts('cuda'));
          same(lg, lc, 1e-5, 1e-5, `bce ${what}`);
          const g = pair(lc.shape as number[], () => rng.normal());
          lc.backward(g.cpu);
          lg.backward(g.cuda);
          same(x.cuda.grad!, x.cpu.grad!, 1e-5, 1e-6, `bce d/dx ${what}`);
          same(y.cuda.grad!, y.cpu.grad!, 1e-5, 1e-6, `bce d/dy ${what}`);
          if (pw) same(pw.cuda.grad!, pw.cpu.grad!, 1e-4, 1e-5, `bce d/dposWeight ${what}`);
        }
  });
});

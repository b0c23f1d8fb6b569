// CUDA matmul against the CPU kernel on the same random inputs, for each matmul precision: the
// tiled kernels' edge tiles (sizes not multiples of 128 / 32 / 8, K not a multiple of 4), the
// small-product kernel, batched broadcasting, transposed operands read in place, general strides
// (gathered), and the gradient (whose products use transposed views).
//
// Tolerance, elementwise against |A|·|B| (so it holds where C cancels to ~0):
//   float32 summation in any order: K·2^-23 for each of CPU and CUDA;
//   'high' rounds each input to TF32 (11 significant bits: relative 2^-11 each, 2^-10 a product);
//   'medium' to BF16 (8 significant bits: 2^-7 a product).
import * as tf from '../../ts';
import { describeCuda } from '../helpers';

type Precision = 'highest' | 'high' | 'medium';
const PRECISIONS: Precision[] = ['highest', 'high', 'medium'];
const inputError: Record<Precision, number> = { highest: 0, high: 2 ** -10 * 1.01, medium: 2 ** -7 * 1.01 };

/** Deterministic pseudo-random floats in [-1, 1) (no dependence on the RNG of either device). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
const cpuTensor = (shape: number[], seed: number) => tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape);

/**
 * Checks y (computed on CUDA at precision p from the CUDA copies of a and b) against the CPU
 * product: |y - cpu| <= (2·K·2^-23 + inputError[p]) · (|A|·|B|) + 1e-6 elementwise.
 */
function expectMatches(y: tf.Tensor, a: tf.Tensor, b: tf.Tensor, K: number, p: Precision, what: string): void {
  expect(y.device).toBe('cuda');
  tf.setMatmulPrecision('highest');
  const ref = a.matmul(b);
  const bound = a.abs().matmul(b.abs());
  const got = y.to('cpu');
  expect(got.shape).toEqual(ref.shape);
  const r = ref.dataSync() as Float32Array, g = got.dataSync() as Float32Array, m = bound.dataSync() as Float32Array;
  const tol = 2 * K * 2 ** -23 + inputError[p];
  for (let i = 0; i < r.length; i++) {
    const err = Math.abs(g[i] - r[i]);
    if (!(err <= tol * m[i] + 1e-6))
      throw new Error(`${what} (${p}): element ${i} of [${ref.shape}]: cuda ${g[i]} vs cpu ${r[i]} (allowed ${tol * m[i] + 1e-6})`);
  }
}

/** a·b on CUDA at precision p (a, b are CPU tensors; `view` makes the CUDA operands' views). */
function cudaMatmul(a: tf.Tensor, b: tf.Tensor, p: Precision, view?: (x: tf.Tensor, y: tf.Tensor) => [tf.Tensor, tf.Tensor]): tf.Tensor {
  let ca = a.to('cuda'), cb = b.to('cuda');
  if (view) [ca, cb] = view(ca, cb);
  tf.setMatmulPrecision(p);
  try {
    return ca.matmul(cb);
  } finally {
    tf.setMatmulPrecision('highest');
  }
}

describeCuda('CUDA matmul', () => {
  afterEach(() => tf.setMatmulPrecision('highest'));

  // [M, K, N]: one element, the small-product kernel (M·N·K <= 2^18 or M or N < 16), edge tiles
  // of every tiled kernel, exact tiles, and a size where all of them run many k tiles.
  const SIZES: [number, number, number][] = [
    [1, 1, 1], [7, 5, 13], [127, 65, 129], [256, 256, 256], [1000, 1000, 1000], [130, 37, 250], [64, 3, 3000],
  ];
  for (const p of PRECISIONS) {
    for (const [M, K, N] of SIZES) {
      test(`${M}x${K} · ${K}x${N} (${p})`, () => {
        tf.scope(() => {
          const a = cpuTensor([M, K], M * 7 + K), b = cpuTensor([K, N], N * 13 + K);
          expectMatches(cudaMatmul(a, b, p), a, b, K, p, `${M}x${K}x${N}`);
        });
      }, 60000);
    }

    test(`transposed operands read in place (${p})`, () => {
      tf.scope(() => {
        // a is stored [K, M] and b [N, K]; the product uses their .T views (no copy on either device)
        const [M, K, N] = [300, 257, 200];
        const at = cpuTensor([K, M], 1), bt = cpuTensor([N, K], 2);
        const a = at.T, b = bt.T;
        expectMatches(cudaMatmul(at, bt, p, (x, y) => [x.T, y.T]), a, b, K, p, 'aᵀ·bᵀ');
        const b2 = cpuTensor([K, N], 3);
        expectMatches(cudaMatmul(at, b2, p, (x, y) => [x.T, y]), a, b2, K, p, 'aᵀ·b');
        const a2 = cpuTensor([M, K], 4);
        expectMatches(cudaMatmul(a2, bt, p, (x, y) => [x, y.T]), a2, b, K, p, 'a·bᵀ');
      });
    }, 60000);

    test(`K not a multiple of 4, odd leading dims (${p})`, () => {
      tf.scope(() => {
        for (const [M, K, N] of [[150, 131, 140], [300, 6, 400], [600, 1, 500]] as [number, number, number][]) {
          const a = cpuTensor([M, K], K), b = cpuTensor([K, N], K + 1);
          expectMatches(cudaMatmul(a, b, p), a, b, K, p, `${M}x${K}x${N}`);
          // columns 1..K of a [M, K + 3] matrix: row stride K + 3 and a start 4 bytes past the
          // buffer's, so the bounds-checked (unaligned) loads run
          const wide = cpuTensor([M, K + 3], K + 2);
          const cut = (t: tf.Tensor) => t.slice(1, 1, K + 1);
          expectMatches(cudaMatmul(wide, b, p, (x, y) => [cut(x), y]), cut(wide), b, K, p, `${M}x${K}x${N} sliced a`);
          const aT = cpuTensor([K, M], K + 5);
          expectMatches(cudaMatmul(aT, b, p, (x, y) => [x.T, y]), aT.T, b, K, p, `${M}x${K}x${N} aᵀ`);
        }
      });
    }, 60000);

    test(`batched with broadcasting (${p})`, () => {
      tf.scope(() => {
        // [3, 1, M, K] · [4, K, N] -> [3, 4, M, N]: a repeats over dim 1 and b over dim 0 (stride 0)
        const a = cpuTensor([3, 1, 70, 45], 5), b = cpuTensor([4, 45, 150], 6);
        expectMatches(cudaMatmul(a, b, p), a, b, 45, p, 'batched broadcast');
        // a shared matrix times a batch (the linear-layer case), with a transposed batch operand
        const w = cpuTensor([160, 96], 7), x = cpuTensor([5, 96, 130], 8);
        expectMatches(cudaMatmul(w, x, p), w, x, 96, p, 'matrix · batch');
        // 16-byte-aligned batches (the vector loads) with b broadcast over dim 0
        const a4 = cpuTensor([2, 3, 128, 64], 19), b4 = cpuTensor([3, 64, 96], 20);
        expectMatches(cudaMatmul(a4, b4, p), a4, b4, 64, p, 'aligned batches');
        const xt = cpuTensor([5, 130, 96], 9);
        expectMatches(cudaMatmul(xt, w, p, (u, v) => [u, v.T]), xt, w.T, 96, p, 'batch · matrixᵀ');
      });
    }, 60000);

    test(`general strides are gathered (${p})`, () => {
      tf.scope(() => {
        // every other column of a [M, 2K] matrix: neither row-major nor transposed
        const [M, K, N] = [140, 90, 150];
        const wide = cpuTensor([M, K, 2], 10), b = cpuTensor([K, N], 11);
        const pick = (t: tf.Tensor) => t.select(2, 0);
        expectMatches(cudaMatmul(wide, b, p, (x, y) => [pick(x), y]), pick(wide), b, K, p, 'stepped a');
        const wideB = cpuTensor([K, N, 3], 12), a = cpuTensor([M, K], 13);
        expectMatches(cudaMatmul(a, wideB, p, (x, y) => [x, y.select(2, 1)]), a, wideB.select(2, 1), K, p, 'stepped b');
      });
    }, 60000);
  }

  test('many batches (more than one launch of 65535) and empty products', () => {
    tf.scope(() => {
      const a = cpuTensor([70000, 2, 3], 14), b = cpuTensor([70000, 3, 2], 15);
      expectMatches(cudaMatmul(a, b, 'highest'), a, b, 3, 'highest', '70000 batches');
      // K = 0 gives zeros; M = 0 or a 0-size batch gives an empty result
      const z = cudaMatmul(tf.zeros([4, 0]), tf.zeros([0, 5]), 'high').to('cpu');
      expect(Array.from(z.dataSync() as Float32Array)).toEqual(new Array(20).fill(0));
      expect(cudaMatmul(tf.zeros([0, 3]), tf.zeros([3, 5]), 'highest').shape).toEqual([0, 5]);
      expect(cudaMatmul(tf.zeros([0, 2, 3]), tf.zeros([3, 5]), 'medium').shape).toEqual([0, 2, 5]);
    });
  }, 60000);

  test('errors match the CPU kernel', () => {
    const a = tf.zeros([2, 3], { device: 'cuda' }), b = tf.zeros([4, 2], { device: 'cuda' });
    expect(() => tf.matmul(a, b)).toThrow(tf.ShapeError);
    a.dispose();
    b.dispose();
  });

  for (const p of PRECISIONS) {
    test(`gradient: backward products use transposed views (${p})`, () => {
      tf.scope(() => {
        const [M, K, N] = [150, 70, 130];
        const a = cpuTensor([M, K], 16), b = cpuTensor([K, N], 17), g = cpuTensor([M, N], 18);
        // dA = g·bᵀ and dB = aᵀ·g, each checked against the CPU product
        const ca = a.to('cuda'), cb = b.to('cuda');
        ca.requiresGrad = true;
        cb.requiresGrad = true;
        tf.setMatmulPrecision(p);
        const y = ca.matmul(cb);
        y.backward(g.to('cuda'));
        tf.setMatmulPrecision('highest');
        expect(ca.grad).not.toBeNull();
        expect(cb.grad).not.toBeNull();
        expectMatches(ca.grad!, g, b.T, N, p, 'dA');
        expectMatches(cb.grad!, a.T, g, M, p, 'dB');
      });
    }, 60000);
  }

  test('no device memory leaks', () => {
    const before = tf.memory();
    tf.scope(() => {
      const a = tf.randn([300, 200], { device: 'cuda' }), b = tf.randn([200, 100], { device: 'cuda' });
      for (const p of PRECISIONS) {
        tf.setMatmulPrecision(p);
        a.matmul(b).dispose();
        a.T.matmul(a).dispose();
      }
      tf.setMatmulPrecision('highest');
      tf.cuda.synchronize();
    });
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
  });
});

// CUDA normalisation kernels (cuda/norm.cu) against the CPU kernels on the same random inputs:
// layerNorm forward and backward for short and long rows (a warp per row up to 1024 elements, a
// block beyond; 1, 31, 32, 33, 1024, 1025, 4099), one and two normalised dims, with and without
// weight and bias, strided inputs, rows whose mean dwarfs their spread, many rows (the weight
// gradient's chunked partials); batchNorm train and eval for 2-, 3- and 4-D inputs, with running
// statistics compared after several steps, and channels large enough to split their reductions.
// Both sides accumulate statistics in double, so results agree to float32 rounding.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/cuda/norm.cuda.test.ts
import * as tf from '../../ts';
import * as R from '../reference';
import { RefTensor, Rng } from '../reference';
import { describeCuda, expectClose, expectEqual, seeded, toRef } from '../helpers';

const FWD: [number, number] = [1e-5, 1e-5];
const BWD: [number, number] = [1e-4, 1e-5];

type Device = 'cpu' | 'cuda';

/** The same values on both devices, as leaves (requiring grad when asked). */
function both(r: RefTensor, requiresGrad = false): [tf.Tensor, tf.Tensor] {
  const v = Float32Array.from(r.data);
  return [tf.tensor(v, [...r.shape], { requiresGrad }), tf.tensor(v, [...r.shape], { requiresGrad, device: 'cuda' })];
}

function same(cuda: tf.Tensor, cpu: tf.Tensor, tol: [number, number], what: string): void {
  expect(cuda.device).toBe('cuda');
  expect(cuda.shape).toEqual(cpu.shape);
  expectClose(cuda.to('cpu'), toRef(cpu), tol[0], tol[1], what);
}

/** Σ y·G on a device, backward. */
function backward(y: tf.Tensor, G: RefTensor, device: Device): void {
  y.mul(tf.tensor(Float32Array.from(G.data), [...G.shape], { device })).sum().backward();
}

describeCuda('CUDA layerNorm matches the CPU kernel', () => {
  const rowLengths = [1, 31, 32, 33, 1024, 1025, 4099];
  for (const n of rowLengths)
    for (const affine of [true, false])
      seeded(`rows of ${n}${affine ? ', weight and bias' : ''}: forward and gradients`, (rng) => {
        for (const rows of [3, 150]) {  // 150 rows: the weight gradient merges row chunks
          const xr = R.make([rows, n], () => 1.3 * rng.normal() + 0.4);
          const [xc, xg] = both(xr, true);
          const [wc, wg] = affine ? both(R.randn([n], rng), true) : [null, null];
          const [bc, bg] = affine ? both(R.randn([n], rng), true) : [null, null];
          const yc = tf.F.layerNorm(xc, n, wc, bc, 1e-5), yg = tf.F.layerNorm(xg, n, wg, bg, 1e-5);
          same(yg, yc, FWD, `forward [${rows}, ${n}]`);
          const G = R.randn([rows, n], rng);
          backward(yc, G, 'cpu');
          backward(yg, G, 'cuda');
          same(xg.grad!, xc.grad!, BWD, `input gradient [${rows}, ${n}]`);
          if (affine) {
            same(wg!.grad!, wc!.grad!, BWD, `weight gradient [${rows}, ${n}]`);
            same(bg!.grad!, bc!.grad!, BWD, `bias gradient [${rows}, ${n}]`);
          }
        }
      });

  seeded('two normalised dims, weight only, strided input, a large mean', (rng) => {
    const xr = R.make([2, 5, 6, 7], () => 1e4 + rng.normal());  // the mean dwarfs the spread
    const [xc, xg] = both(xr, true);
    const [wc, wg] = both(R.randn([6, 7], rng), true);
    const yc = tf.F.layerNorm(xc, [6, 7], wc), yg = tf.F.layerNorm(xg, [6, 7], wg);
    same(yg, yc, [2e-5, 2e-5], 'forward');
    const G = R.randn([2, 5, 6, 7], rng);
    backward(yc, G, 'cpu');
    backward(yg, G, 'cuda');
    same(xg.grad!, xc.grad!, BWD, 'input gradient');
    same(wg.grad!, wc.grad!, BWD, 'weight gradient');

    // a transposed view: the normalised block is not contiguous
    const tr = R.randn([4, 40, 9], rng);
    const [tc, tg] = both(tr, true);
    const [bc, bg] = both(R.randn([40], rng), true);
    const vc = tf.F.layerNorm(tc.transpose(1, 2), 40, null, bc), vg = tf.F.layerNorm(tg.transpose(1, 2), 40, null, bg);
    same(vg, vc, FWD, 'strided forward');
    const G2 = R.randn([4, 9, 40], rng);
    backward(vc, G2, 'cpu');
    backward(vg, G2, 'cuda');
    same(tg.grad!, tc.grad!, BWD, 'strided input gradient');
    same(bg.grad!, bc.grad!, BWD, 'strided bias gradient');
  });

  seeded('weight gradients are deterministic over many rows', (rng) => {
    const xr = R.randn([3000, 96], rng), G = R.randn([3000, 96], rng);
    const grads: tf.Tensor[] = [];
    for (let rep = 0; rep < 2; rep++) {
      const [, x] = both(xr, true);
      const [, w] = both(R.ones([96]), true);
      backward(tf.F.layerNorm(x, 96, w), G, 'cuda');
      grads.push(w.grad!.to('cpu'));
    }
    expectEqual(grads[1], toRef(grads[0]), 'weight gradient on the second run');
  });
});

describeCuda('CUDA batchNorm matches the CPU kernel', () => {
  // the last two have channels of 65536 and 69696 values: their reductions split across blocks
  const shapes = [[7, 3], [33, 37], [5, 4, 9], [3, 2, 5, 7], [2, 5, 1, 1], [16, 3, 64, 64], [64, 2, 33, 33]];
  for (const shape of shapes)
    for (const training of [true, false])
      seeded(`[${shape}] ${training ? 'train' : 'eval'}: forward, running stats and gradients`, (rng) => {
        const C = shape[1];
        const xr = R.make(shape, () => 1.5 * rng.normal() + 0.7);
        const [xc, xg] = both(xr, true);
        const [wc, wg] = both(R.randn([C], rng), true);
        const [bc, bg] = both(R.randn([C], rng), true);
        const [rmc, rmg] = both(R.randn([C], rng));
        const [rvc, rvg] = both(R.rand([C], rng, 0.5, 2));
        const opts = { training, momentum: 0.25, eps: 1e-5 };
        const yc = tf.F.batchNorm(xc, rmc, rvc, wc, bc, opts), yg = tf.F.batchNorm(xg, rmg, rvg, wg, bg, opts);
        same(yg, yc, FWD, 'forward');
        same(rmg, rmc, FWD, 'running mean');
        same(rvg, rvc, FWD, 'running var');
        const G = R.randn(shape, rng);
        backward(yc, G, 'cpu');
        backward(yg, G, 'cuda');
        // per-channel sums over up to 70K terms in a different order: a little more room
        const tol: [number, number] = [3e-4, 3e-5];
        same(xg.grad!, xc.grad!, tol, 'input gradient');
        same(wg.grad!, wc.grad!, tol, 'weight gradient');
        same(bg.grad!, bc.grad!, tol, 'bias gradient');
      });

  seeded('running statistics over several training steps, then eval; no affine; strided input', (rng) => {
    const C = 5;
    const [rmc, rmg] = both(R.zeros([C]));
    const [rvc, rvg] = both(R.ones([C]));
    for (let step = 0; step < 5; step++) {
      const [xc, xg] = both(R.make([6, C, 7, 3], () => 3 * rng.normal() + step));
      const yc = tf.F.batchNorm(xc, rmc, rvc, null, null, { training: true, momentum: 0.1 });
      const yg = tf.F.batchNorm(xg, rmg, rvg, null, null, { training: true, momentum: 0.1 });
      same(yg, yc, FWD, `step ${step} output`);
      same(rmg, rmc, FWD, `step ${step} running mean`);
      same(rvg, rvc, FWD, `step ${step} running var`);
    }
    const [xc, xg] = both(R.randn([3, 2, C, 4], rng), true);  // [N, H, C, W]: channels on dim 1 after the transpose
    const vc = xc.transpose(1, 2), vg = xg.transpose(1, 2);
    const yc = tf.F.batchNorm(vc, rmc, rvc), yg = tf.F.batchNorm(vg, rmg, rvg);
    same(yg, yc, FWD, 'eval on a strided view');
    const G = R.randn([3, C, 2, 4], rng);
    backward(yc, G, 'cpu');
    backward(yg, G, 'cuda');
    same(xg.grad!, xc.grad!, BWD, 'eval input gradient');
  });

  seeded('training without running statistics; a large channel mean', (rng: Rng) => {
    const xr = R.make([8, 3, 10], () => 5e3 + rng.normal());
    const [xc, xg] = both(xr, true);
    const yc = tf.F.batchNorm(xc, null, null, null, null, { training: true });
    const yg = tf.F.batchNorm(xg, null, null, null, null, { training: true });
    same(yg, yc, [2e-5, 2e-5], 'forward');
    const G = R.randn([8, 3, 10], rng);
    backward(yc, G, 'cpu');
    backward(yg, G, 'cuda');
    same(xg.grad!, xc.grad!, BWD, 'input gradient');
  });
});

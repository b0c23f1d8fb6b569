// CUDA fused attention (cuda/attention.cu) against the CPU kernel on the same inputs, forward and
// backward through autograd, for each matmul precision: sequence lengths that are and are not
// multiples of the 64-row tiles (1, 17, 64, 65, 300, and Tq != Tk), head sizes of each tiled
// kernel (padded to 32, 64, 128) and of the generic one (> 128), causal, bool and float masks
// broadcast from smaller shapes, fully masked rows, strided inputs, empty sizes, and the
// benchmark shape.
//
// Tolerances (values and gradients are O(1) for these inputs):
//   highest, high: both devices compute in float32 (high runs the float32 kernels too), in a
//     different order and with a different exp: 2e-4 relative + 5e-5 of the largest magnitude;
//   medium: the forward rounds q·scale, k, v and P to BF16 (8 significant bits, 2^-8 relative
//     each) with float32 accumulation: 3e-2; the backward runs in float32 but from the BF16
//     forward's output and log-sum-exp, so its gradients inherit that error: 5e-2.
import * as tf from '../../ts';
import { describeCuda } from '../helpers';

type Precision = 'highest' | 'high' | 'medium';
const PRECISIONS: Precision[] = ['highest', 'high', 'medium'];
const TOL: Record<Precision, { fwd: number; bwd: number; rel: number }> = {
  highest: { fwd: 5e-5, bwd: 5e-5, rel: 2e-4 },
  high: { fwd: 5e-5, bwd: 5e-5, rel: 2e-4 },
  medium: { fwd: 3e-2, bwd: 5e-2, rel: 3e-2 },
};

/** Deterministic pseudo-random floats in [-1, 1) times `amp` (independent of either device's RNG). */
function values(n: number, seed: number, amp = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 2 ** 31 - 1) * amp;
  }
  return out;
}
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

type MaskSpec =
  | { kind: 'none' }
  | { kind: 'causal' }
  | { kind: 'bool'; shape: number[] }   // true = may attend; ~1 in 4 false, row 0 fully masked
  | { kind: 'float'; shape: number[] }; // random additive, ~1 in 8 -inf

interface Spec {
  lead: number[];
  Tq: number;
  Tk: number;
  D: number;
  Dv: number;
  mask: MaskSpec;
  /** q, k, v given as the transpose of a [lead0, T, lead1, D] tensor (the BTHD layout) */
  strided?: boolean;
}

const label = (s: Spec) =>
  `lead [${s.lead}] Tq ${s.Tq} Tk ${s.Tk} D ${s.D} Dv ${s.Dv} ${s.mask.kind}` +
  `${'shape' in s.mask ? ` [${s.mask.shape}]` : ''}${s.strided ? ' strided' : ''}`;

/** The mask's values (CPU tensor) for a spec, or null. */
function maskTensor(s: Spec, seed: number): tf.Tensor | null {
  if (s.mask.kind === 'bool') {
    const shape = s.mask.shape, n = size(shape), r = values(n, seed);
    const cols = shape[shape.length - 1];
    // row 0 of each matrix (when the mask has rows) may attend nothing: output 0, gradient 0
    const rows = shape.length >= 2 ? shape[shape.length - 2] : 1;
    const v = Uint8Array.from(r, (x, i) => (shape.length >= 2 && Math.floor(i / cols) % rows === 0 ? 0 : x > -0.5 ? 1 : 0));
    return tf.tensor(v, shape, { dtype: 'bool' });
  }
  if (s.mask.kind === 'float') {
    const r = values(size(s.mask.shape), seed, 2);
    return tf.tensor(Float32Array.from(r, (x) => (x < -1.75 ? -Infinity : x)), s.mask.shape);
  }
  return null;
}

/** q, k, v, g on the CPU for a spec (g: the output gradient). */
function inputs(s: Spec, seed: number): tf.Tensor[] {
  const shapes = [[...s.lead, s.Tq, s.D], [...s.lead, s.Tk, s.D], [...s.lead, s.Tk, s.Dv], [...s.lead, s.Tq, s.Dv]];
  // amplitude 2: scores of a few units, so the softmax is neither flat nor one-hot
  return shapes.map((shape, i) => tf.tensor(values(size(shape), seed * 4 + i + 1, 2), shape));
}

/** Forward output and the gradients of q, k, v (for upstream g) on `device`, at `precision`. */
function attend(s: Spec, base: tf.Tensor[], mask: tf.Tensor | null, device: 'cpu' | 'cuda', precision: Precision): tf.Tensor[] {
  const [q, k, v] = base.slice(0, 3).map((x) => {
    if (!s.strided) return tf.tensor(x.dataSync() as Float32Array, [...x.shape], { device, requiresGrad: true });
    // the same values held as [lead0, T, lead1, D] and viewed back through a transpose
    const [l0, l1, T, D] = x.shape;
    const perm = x.transpose(1, 2).contiguous();
    const leaf = tf.tensor(perm.dataSync() as Float32Array, [l0, T, l1, D], { device, requiresGrad: true });
    return leaf;
  });
  const view = (t: tf.Tensor) => (s.strided ? t.transpose(1, 2) : t);
  const g = base[3].to(device);
  const m = mask ? mask.to(device) : null;
  tf.setMatmulPrecision(precision);
  try {
    const y = tf.F.scaledDotProductAttention(view(q), view(k), view(v), {
      isCausal: s.mask.kind === 'causal', attnMask: m,
    });
    y.mul(g).sum().backward();
    const grads = [q, k, v].map((t) => view(t.grad!).to('cpu'));
    return [y.to('cpu'), ...grads];
  } finally {
    tf.setMatmulPrecision('highest');
  }
}

function expectNear(got: tf.Tensor, want: tf.Tensor, abs: number, rel: number, what: string): void {
  expect(got.shape).toEqual(want.shape);
  const G = got.dataSync() as Float32Array, W = want.dataSync() as Float32Array;
  let scale = 0;
  for (const w of W) if (Number.isFinite(w)) scale = Math.max(scale, Math.abs(w));
  const tol = abs * Math.max(1, scale);
  for (let i = 0; i < W.length; i++) {
    if (Number.isNaN(W[i]) && Number.isNaN(G[i])) continue;
    if (!(Math.abs(G[i] - W[i]) <= tol + rel * Math.abs(W[i])))
      throw new Error(`${what}: element ${i} of [${want.shape}]: cuda ${G[i]} vs cpu ${W[i]} (allowed ${tol + rel * Math.abs(W[i])})`);
  }
}

function check(s: Spec, precision: Precision, seed: number): void {
  tf.scope(() => {
    const base = inputs(s, seed);
    const mask = maskTensor(s, seed + 7);
    const want = attend(s, base, mask, 'cpu', 'highest');
    const got = attend(s, base, mask, 'cuda', precision);
    const t = TOL[precision];
    ['out', 'dq', 'dk', 'dv'].forEach((what, i) =>
      expectNear(got[i], want[i], i === 0 ? t.fwd : t.bwd, t.rel, `${label(s)} (${precision}) ${what}`));
  });
}

describeCuda('CUDA attention', () => {
  afterEach(() => tf.setMatmulPrecision('highest'));

  // every T against every D (tile edges: 1, 17, 65, 300; exact tiles: 64), causal on odd pairs
  const TS = [1, 17, 64, 65, 300];
  const DS = [8, 16, 64, 80, 128];
  for (const p of PRECISIONS) {
    TS.forEach((T, ti) => {
      DS.forEach((D, di) => {
        const causal = (ti + di) % 2 === 1;
        const s: Spec = { lead: [2, 3], Tq: T, Tk: T, D, Dv: D, mask: { kind: causal ? 'causal' : 'none' } };
        test(label(s) + ` (${p})`, () => check(s, p, ti * 10 + di + 1), 60000);
      });
    });
  }

  // Tq != Tk, D != Dv, masks broadcast from smaller shapes, strided inputs, the generic kernels
  const SPECS: Spec[] = [
    { lead: [2, 3], Tq: 17, Tk: 300, D: 64, Dv: 64, mask: { kind: 'causal' } },
    { lead: [2, 3], Tq: 300, Tk: 65, D: 64, Dv: 64, mask: { kind: 'causal' } },
    { lead: [2, 3], Tq: 65, Tk: 130, D: 64, Dv: 32, mask: { kind: 'none' } },
    { lead: [2, 3], Tq: 65, Tk: 100, D: 16, Dv: 100, mask: { kind: 'none' } },
    { lead: [2, 3], Tq: 65, Tk: 129, D: 64, Dv: 64, mask: { kind: 'bool', shape: [65, 129] } },
    { lead: [2, 3], Tq: 65, Tk: 129, D: 64, Dv: 64, mask: { kind: 'bool', shape: [129] } },
    { lead: [2, 3], Tq: 70, Tk: 70, D: 128, Dv: 128, mask: { kind: 'bool', shape: [2, 1, 70, 70] } },
    { lead: [2, 3], Tq: 65, Tk: 129, D: 64, Dv: 64, mask: { kind: 'float', shape: [65, 129] } },
    { lead: [2, 3], Tq: 40, Tk: 33, D: 32, Dv: 32, mask: { kind: 'float', shape: [3, 40, 1] } },
    { lead: [2, 3], Tq: 65, Tk: 65, D: 64, Dv: 64, mask: { kind: 'causal' }, strided: true },
    { lead: [2, 3], Tq: 33, Tk: 70, D: 80, Dv: 80, mask: { kind: 'float', shape: [33, 70] }, strided: true },
    // generic (warp per row) kernels: head sizes above 128
    { lead: [2, 2], Tq: 33, Tk: 70, D: 160, Dv: 160, mask: { kind: 'none' } },
    { lead: [2, 2], Tq: 70, Tk: 70, D: 8, Dv: 300, mask: { kind: 'causal' } },
    { lead: [2, 2], Tq: 33, Tk: 70, D: 200, Dv: 24, mask: { kind: 'bool', shape: [33, 70] } },
    // a single row and key, and one batch entry
    { lead: [1], Tq: 1, Tk: 1, D: 1, Dv: 1, mask: { kind: 'none' } },
  ];
  for (const p of PRECISIONS)
    SPECS.forEach((s, i) => test(label(s) + ` (${p})`, () => check(s, p, 100 + i), 60000));

  test('empty sizes launch nothing and give the CPU results (zeros, empty)', () => tf.scope(() => {
    const cases: [number[], number[], number[]][] = [
      [[2, 0, 8], [2, 5, 8], [2, 5, 8]],    // Tq = 0
      [[2, 4, 8], [2, 0, 8], [2, 0, 8]],    // Tk = 0: output 0, gradient 0
      [[0, 4, 8], [0, 5, 8], [0, 5, 8]],    // batch 0
      [[2, 4, 0], [2, 5, 0], [2, 5, 8]],    // D = 0: uniform attention
    ];
    for (const shapes of cases) {
      const base = shapes.map((sh, i) => tf.tensor(values(size(sh), i + 1), sh));
      const run = (device: 'cpu' | 'cuda') => {
        const [q, k, v] = base.map((x) => tf.tensor(x.dataSync() as Float32Array, [...x.shape], { device, requiresGrad: true }));
        const y = tf.F.scaledDotProductAttention(q, k, v, { scale: 1 });  // D = 0 has no default scale
        y.sum().backward();
        return [y, q.grad!, k.grad!, v.grad!].map((t) => t.to('cpu'));
      };
      const want = run('cpu'), got = run('cuda');
      want.forEach((w, i) => expectNear(got[i], w, 1e-5, 1e-5, `[${shapes.map((s) => `[${s}]`)}] ${i}`));
    }
  }));

  // the benchmark shape (bench/run.ts cuda attention cases), forward and backward, causal and not
  for (const p of ['highest', 'medium'] as const)
    for (const causal of [false, true]) {
      // under the kernel emulator (TF_CUDA_EMULATED=1) fewer heads, the same sequence length and tiles
      const lead = process.env.TF_CUDA_EMULATED === '1' ? [1, 2] : [8, 16];
      const s: Spec = { lead, Tq: 1024, Tk: 1024, D: 64, Dv: 64, mask: { kind: causal ? 'causal' : 'none' } };
      test(label(s) + ` (${p})`, () => check(s, p, 999), 300000);
    }
});

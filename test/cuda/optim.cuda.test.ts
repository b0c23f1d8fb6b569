// Optimizers and gradient clipping on CUDA against the CPU kernels: the same parameters and
// gradients (created on the CPU, copied with .to('cuda')) go through 5 steps of every optimizer
// and option combination on both devices. The CUDA kernels perform the CPU's float32 operations
// in the same order with the _rn intrinsics (no FMA contraction), so parameters and state must
// be bit-identical after every step, for every layout (contiguous and float4-aligned, contiguous
// but misaligned, transposed, stepped, mixed) and size (empty, one element, a float4 tail, more
// elements than one grid covers). gradNorm sums in double in a different order, so the norms
// may differ by a rounding of the double sum to float32 (the inf-norm is exact).
// Rerun a failure with the seed it prints: REF_SEED=<seed> TF_TEST_DEVICE=cuda npx jest test/cuda/optim.cuda.test.ts
import * as tf from '../../ts';
import * as optim from '../../ts/optim';
import { runKernel } from '../../ts/ops/kernel';
import type { RefTensor, Rng } from '../reference';
import { describeCuda, expectClose, expectEqual, expectNoLeaks, expectThrows, seeded, toRef } from '../helpers';

type Kind = 'SGD' | 'Adam' | 'AdamW' | 'RMSprop';
type Opts = Record<string, number | boolean | number[]>;
type Device = 'cpu' | 'cuda';
/** contiguous: float4 path; offset: contiguous but 4 bytes past a 16-byte boundary (scalar path);
 *  transpose / step: strided path */
type Layout = 'contiguous' | 'offset' | 'transpose' | 'step';

const CONFIGS: [Kind, Opts][] = [
  ['SGD', { lr: 0.1 }],
  ['SGD', { lr: 0.05, momentum: 0.9 }],
  ['SGD', { lr: 0.05, momentum: 0.9, dampening: 0.3 }],
  ['SGD', { lr: 0.05, momentum: 0.9, weightDecay: 0.01 }],
  ['SGD', { lr: 0.05, momentum: 0.8, nesterov: true }],
  ['SGD', { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.1, maximize: true }],
  ['SGD', { lr: 0.2, weightDecay: 0.5, maximize: true }],
  ['SGD', { lr: 0.03, momentum: 0.5, dampening: -0.5, weightDecay: 0.2, maximize: true }],
  ['Adam', {}],
  ['Adam', { lr: 0.01, betas: [0.8, 0.95], eps: 1e-6 }],
  ['Adam', { lr: 0.01, weightDecay: 0.05 }],
  ['Adam', { lr: 0.02, amsgrad: true }],
  ['Adam', { lr: 0.02, amsgrad: true, maximize: true, weightDecay: 0.1 }],
  ['Adam', { lr: 0.01, betas: [0, 0] }],
  ['AdamW', {}],
  ['AdamW', { lr: 0.01, weightDecay: 0.1, amsgrad: true }],
  ['AdamW', { lr: 0.01, weightDecay: 0, maximize: true }],
  ['AdamW', { lr: 0.03, weightDecay: 0.3, amsgrad: true, maximize: true, betas: [0.5, 0.6] }],
  ['RMSprop', {}],
  ['RMSprop', { lr: 0.005, alpha: 0.9, weightDecay: 0.02 }],
  ['RMSprop', { lr: 0.005, momentum: 0.7 }],
  ['RMSprop', { lr: 0.01, centered: true }],
  ['RMSprop', { lr: 0.01, centered: true, momentum: 0.5, maximize: true, eps: 1e-4 }],
  ['RMSprop', { lr: 0.01, centered: true, momentum: 0.9, weightDecay: 0.1, alpha: 0.5 }],
];

function makeOptimizer(kind: Kind, params: tf.Tensor[], opts: Opts): optim.Optimizer<any> {  // eslint-disable-line @typescript-eslint/no-explicit-any
  switch (kind) {
    case 'SGD': return new optim.SGD(params, opts as never);
    case 'Adam': return new optim.Adam(params, opts as never);
    case 'AdamW': return new optim.AdamW(params, opts as never);
    case 'RMSprop': return new optim.RMSprop(params, opts as never);
  }
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const f32 = (n: number, rng: Rng, scale = 1) => Float32Array.from({ length: n }, () => scale * rng.normal());

/**
 * `data` (row-major over `shape`) as a tensor on `device` in `layout`. The buffer is built on the
 * CPU, copied with .to(device), and the layout made by views of the copy, so both devices get
 * exactly the same strides and offsets.
 */
function place(data: Float32Array, shape: number[], layout: Layout, device: Device): tf.Tensor {
  const nd = shape.length;
  const onDevice = (t: tf.Tensor): tf.Tensor => {
    const d = t.to(device);
    if (d !== t) t.dispose();
    return d;
  };
  if (layout === 'contiguous') return onDevice(tf.tensor(data, shape));
  if (layout === 'offset') {  // one element in: contiguous, not 16-byte aligned
    const big = new Float32Array(data.length + 1).fill(777);
    big.set(data, 1);
    const base = onDevice(tf.tensor(big, [big.length]));
    const sl = base.slice(0, 1);
    const r = sl.reshape([...shape]);
    if (r !== sl) sl.dispose();
    base.dispose();
    return r;
  }
  if (layout === 'transpose' && nd >= 2 && shape[nd - 1] > 1 && shape[nd - 2] > 1) {
    const src = tf.tensor(data, shape);
    const tv = src.transpose(-1, -2);
    const base = onDevice(tv.contiguous());
    const r = base.transpose(-1, -2);
    [src, tv, base].forEach((x) => x.dispose());
    return r;
  }
  // stepped (also the fallback of 'transpose' for < 2 dims): every second element of a buffer
  // with twice the last dim
  const last = nd === 0 ? 1 : shape[nd - 1];
  const bigShape = nd === 0 ? [2] : [...shape.slice(0, -1), 2 * last];
  const big = new Float32Array(numel(bigShape)).fill(12345);
  for (let i = 0; i < data.length; i++) big[2 * i + 1] = data[i];
  const base = onDevice(tf.tensor(big, bigShape));
  const sl = base.slice(-1, 1, undefined, 2);
  const r = nd === 0 ? sl.select(0, 0) : sl;
  if (r !== sl) sl.dispose();
  base.dispose();
  return r;
}

/** A leaf parameter on `device` (the model's parameters, created and then moved). */
function param(data: Float32Array, shape: number[], layout: Layout, device: Device): tf.Tensor {
  return place(data, shape, layout, device).requiresGrad_(true);
}
function setGrad(p: tf.Tensor, g: tf.Tensor | null): void {
  p.grad?.dispose();
  p.grad = g === null ? null : tf.keep(g);
}
/** A tensor's values on the host, whichever device it lives on. */
function host(t: tf.Tensor): RefTensor {
  if (t.device === 'cpu') return toRef(t);
  const c = t.to('cpu');
  try {
    return toRef(c);
  } finally {
    c.dispose();
  }
}

/** Runs the same 5 steps on CPU and CUDA copies of the params and compares them bit for bit. */
function compareSteps(rng: Rng, kind: Kind, opts: Opts, shapes: number[][], paramLayout: Layout, gradLayout: Layout): void {
  const init = shapes.map((s) => f32(numel(s), rng));
  const make = (device: Device) => shapes.map((s, i) => param(init[i], s, paramLayout, device));
  const cpu = make('cpu'), gpu = make('cuda');
  gpu.forEach((p) => expect(p.device).toBe('cuda'));
  const optCpu = makeOptimizer(kind, cpu, opts), optGpu = makeOptimizer(kind, gpu, opts);
  // step 2: tiny grads; step 3: grads whose squares are subnormal (the CUDA kernels keep
  // subnormals, as the CPU does)
  const scales = [1, 1, 1e-3, 1e-20, 3];
  for (let step = 0; step < scales.length; step++) {
    shapes.forEach((s, i) => {
      const g = f32(numel(s), rng, scales[step]);
      setGrad(cpu[i], place(g, s, gradLayout, 'cpu'));
      setGrad(gpu[i], place(g, s, gradLayout, 'cuda'));
    });
    optCpu.step();
    optGpu.step();
    shapes.forEach((s, i) => {
      const what = `${kind} ${JSON.stringify(opts)} step ${step} param ${i} ${JSON.stringify(s)}`;
      expect(gpu[i].device).toBe('cuda');
      expectEqual(host(gpu[i]), host(cpu[i]), what);
      const stC = optCpu.state.get(cpu[i])!, stG = optGpu.state.get(gpu[i])!;
      expect(Object.keys(stG).sort()).toEqual(Object.keys(stC).sort());
      for (const [k, v] of Object.entries(stC)) {
        if (typeof v === 'number') expect(stG[k]).toBe(v);
        else {
          expect((stG[k] as tf.Tensor).device).toBe('cuda');
          expectEqual(host(stG[k] as tf.Tensor), host(v as tf.Tensor), `${what} state ${k}`);
        }
      }
    });
  }
  [...cpu, ...gpu].forEach((p) => setGrad(p, null));
  optCpu.dispose();
  optGpu.dispose();
}

describeCuda('CUDA optimizers match the CPU kernels bit for bit', () => {
  // [7]: one float4 and a tail of 3; [4099]: many float4s and a tail; [] a 0-d param;
  // [0]: nothing to launch
  const SHAPES = [[7], [3, 5], [1], [2, 3, 4], [19, 1, 3], [4099], [], [0]];
  const LAYOUTS: [Layout, Layout][] = [
    ['contiguous', 'contiguous'], ['offset', 'offset'], ['transpose', 'transpose'], ['step', 'step'],
    ['transpose', 'contiguous'], ['contiguous', 'step'],
  ];
  for (const [kind, opts] of CONFIGS)
    for (const [pl, gl] of LAYOUTS)
      seeded(`${kind} ${JSON.stringify(opts)} param ${pl} grad ${gl}`, (rng) => compareSteps(rng, kind, opts, SHAPES, pl, gl));

  // more elements than one grid covers (grid-stride loops), on each path
  const BIG = [[1 << 22, 1], [3, 1000003]];
  for (const i of [1, 11, 15, 22])
    for (const [pl, gl] of [['contiguous', 'contiguous'], ['offset', 'offset'], ['transpose', 'step']] as [Layout, Layout][]) {
      const [kind, opts] = CONFIGS[i];
      seeded(`large: ${kind} ${JSON.stringify(opts)} param ${pl} grad ${gl}`, (rng) => compareSteps(rng, kind, opts, BIG, pl, gl), 120_000);
    }

  seeded('non-finite grads spread the same way on both devices', (rng) => {
    for (const [kind, opts] of [CONFIGS[1], CONFIGS[11], CONFIGS[22]]) {
      const init = f32(9, rng);
      const cpu = param(init, [9], 'contiguous', 'cpu'), gpu = param(init, [9], 'contiguous', 'cuda');
      const oc = makeOptimizer(kind, [cpu], opts), og = makeOptimizer(kind, [gpu], opts);
      for (let step = 0; step < 3; step++) {
        const g = f32(9, rng);
        g[step] = NaN;
        g[3 + step] = step % 2 ? -Infinity : Infinity;
        setGrad(cpu, place(g, [9], 'contiguous', 'cpu'));
        setGrad(gpu, place(g, [9], 'contiguous', 'cuda'));
        oc.step();
        og.step();
        expectEqual(host(gpu), host(cpu), `${kind} step ${step}`);
      }
      [cpu, gpu].forEach((p) => setGrad(p, null));
      oc.dispose();
      og.dispose();
    }
  });

  seeded('a CUDA optimizer leaves nothing behind once disposed', (rng) => {
    const p = tf.keep(param(f32(33, rng), [33], 'contiguous', 'cuda'));
    expectNoLeaks(() => {
      const opt = new optim.Adam([p], { lr: 0.1, amsgrad: true });
      for (let i = 0; i < 3; i++) {
        setGrad(p, place(f32(33, rng), [33], 'contiguous', 'cuda'));
        opt.step();
      }
      setGrad(p, null);
      opt.dispose();
    });
    p.dispose();
  });
});

describeCuda('CUDA gradient clipping matches the CPU', () => {
  // [1 << 20]: more elements than the 1024 blocks of partial sums cover; [0]: an empty grad (norm 0)
  const SHAPES = [[7], [3, 5], [1], [1 << 20], [0], [3, 100001]];
  for (const normType of [2, 1, 3, 0.5, Infinity])
    for (const maxNorm of [0.5, 1e9])
      seeded(`clipGradNorm p=${normType} maxNorm=${maxNorm}`, (rng) => {
        const gs = SHAPES.map((s) => f32(numel(s), rng, 2));
        const layouts: Layout[] = ['contiguous', 'transpose', 'offset', 'contiguous', 'contiguous', 'step'];
        const make = (device: Device) => SHAPES.map((s, i) => {
          const p = param(new Float32Array(numel(s)), s, 'contiguous', device);  // only the grads matter
          setGrad(p, place(gs[i], s, layouts[i], device));
          return p;
        });
        const cpu = make('cpu'), gpu = make('cuda');
        const tc = optim.clipGradNorm(cpu, maxNorm, normType), tg = optim.clipGradNorm(gpu, maxNorm, normType);
        if (normType === Infinity) expect(tg).toBe(tc);
        else expect(Math.abs(tg - tc)).toBeLessThanOrEqual(2 ** -22 * tc);  // a float32 ulp or two
        // the scale comes from the total, so grads agree bit for bit when the totals do
        gpu.forEach((p, i) => {
          const want = host(cpu[i].grad!);
          if (tg === tc) expectEqual(host(p.grad!), want, `grad ${i}`);
          else expectClose(host(p.grad!), want, 5e-7, 0, `grad ${i}`);
        });
        [...cpu, ...gpu].forEach((p) => setGrad(p, null));
      }, 60_000);

  seeded('gradNorm of each grad: the inf-norm is exact, the sums within a float32 rounding', (rng) => {
    for (const n of [1, 5, 256, 257, 100_003, 4_000_000]) {
      const g = f32(n, rng, 3);
      const gc = place(g, [n], 'contiguous', 'cpu'), gg = place(g, [n], 'contiguous', 'cuda');
      for (const normType of [1, 2, 2.5, Infinity]) {
        const oc = tf.tensor([0], [1]), og = tf.tensor([0], [1]).to('cuda');
        runKernel('gradNorm', [gc], [oc], { normType });
        runKernel('gradNorm', [gg], [og], { normType });
        const a = host(og).data[0], b = host(oc).data[0];
        if (normType === Infinity) expect(a).toBe(b);
        else expect(Math.abs(a - b)).toBeLessThanOrEqual(2 ** -23 * b);
      }
    }
  });

  seeded('non-finite grads: NaN and Infinity norms as on the CPU', () => {
    for (const bad of [NaN, Infinity]) {
      for (const normType of [2, 1, Infinity]) {
        const g = new Float32Array(5000).fill(0.25);
        g[4321] = bad;
        const gc = place(g, [5000], 'contiguous', 'cpu'), gg = place(g, [5000], 'contiguous', 'cuda');
        const oc = tf.tensor([0], [1]), og = tf.tensor([0], [1]).to('cuda');
        runKernel('gradNorm', [gc], [oc], { normType });
        runKernel('gradNorm', [gg], [og], { normType });
        expect(host(og).data[0]).toBe(host(oc).data[0]);
      }
    }
    const p = param(new Float32Array([1, 2, 3]), [3], 'contiguous', 'cuda');
    setGrad(p, place(new Float32Array([1, Infinity, 2]), [3], 'contiguous', 'cuda'));
    expectThrows(() => optim.clipGradNorm(p, 1, 2, { errorIfNonfinite: true }), tf.ValueError, /non-finite|Infinity/);
    expect(optim.clipGradNorm(p, 1)).toBe(Infinity);
    expect(Array.from(host(p.grad!).data)).toEqual([0, NaN, 0]);
    setGrad(p, null);
  });

  seeded('clipGradValue clamps in place, NaN stays NaN', (rng) => {
    for (const layout of ['contiguous', 'offset', 'transpose', 'step'] as Layout[]) {
      const shape = [37, 41];
      const g = f32(numel(shape), rng, 2);
      g[5] = NaN;
      g[6] = -Infinity;
      const make = (device: Device) => {
        const p = param(new Float32Array(numel(shape)), shape, 'contiguous', device);
        setGrad(p, place(g, shape, layout, device));
        return p;
      };
      const c = make('cpu'), d = make('cuda');
      const before = d.grad;
      optim.clipGradValue([c], 0.7);
      optim.clipGradValue([d], 0.7);
      expect(d.grad).toBe(before);
      expectEqual(host(d.grad!), host(c.grad!), layout);
      [c, d].forEach((p) => setGrad(p, null));
    }
  });
});

describeCuda('CUDA optimizer kernels reject bad arguments as the CPU ones do', () => {
  const empty = () => tf.tensor([], [0]).to('cuda');
  const sgdAttrs = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, hasBuffer: false };

  test('shapes, attributes and expanded views', () => {
    tf.scope(() => {
      const p = tf.zeros([4]).to('cuda'), g = tf.zeros([4]).to('cuda'), g5 = tf.zeros([5]).to('cuda');
      expectThrows(() => runKernel('sgdStep', [g5], [p, empty()], sgdAttrs), tf.ShapeError, /grad has shape \[5\], expected the param's shape \[4\]/);
      expectThrows(() => runKernel('sgdStep', [g], [p, empty()], { ...sgdAttrs, nesterov: true }), tf.ValueError, /Nesterov/);
      expectThrows(() => runKernel('sgdStep', [g], [p, empty()], { ...sgdAttrs, lr: -1 }), tf.ValueError, /lr must be a finite number/);
      expectThrows(() => runKernel('sgdStep', [g], [p, g5], sgdAttrs), tf.ShapeError, /momentum buffer is absent/);
      expectThrows(() => runKernel('adamStep', [g], [p, tf.zeros([4]).to('cuda'), tf.zeros([4]).to('cuda'), empty()],
        { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 0, decoupled: false, amsgrad: false, maximize: false }),
      tf.ValueError, /step must be an integer >= 1/);
      expectThrows(() => runKernel('rmspropStep', [g], [p, tf.zeros([3]).to('cuda'), empty(), empty()],
        { lr: 0.1, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false }),
      tf.ShapeError, /squareAvg has shape \[3\]/);
      const expanded = tf.zeros([1, 3]).to('cuda').expand([4, 3]);
      expectThrows(() => runKernel('gradClamp', [], [expanded], { clipValue: 1 }), tf.ArgumentError, /share memory/);
      expectThrows(() => runKernel('gradScale', [], [g], { scale: Infinity }), tf.ValueError, /scale must not be infinite/);
      expectThrows(() => runKernel('gradNorm', [g], [tf.zeros([2]).to('cuda')], { normType: 2 }), tf.ShapeError, /exactly one element/);
      expectThrows(() => runKernel('gradNorm', [g], [tf.zeros([1]).to('cuda')], { normType: 0 }), tf.ValueError, /normType must be > 0/);
    });
  });
});

// Shared helpers for the native-vs-reference suites: conversion between tf tensors and the float64
// reference, a tolerance check, seeded randomness that names its seed, and non-contiguous layouts.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/ops.test.ts
import * as tf from '../ts';
import { RefTensor, Rng, closeness, numel } from './reference';
import * as native from '../ts/native';
import { BASE_SEED, rngFor } from './seed';
import { backendFor, getDefaultDevice } from '../ts/backend';

/** A jest test with its own seeded rng; a failure names the seed to rerun with. Tensors created
 *  inside are freed when the body returns (a tf.scope). */
export function seeded(name: string, body: (rng: Rng) => void, timeout?: number): void {
  test(name, () => {
    const rng = rngFor(name);
    try {
      tf.scope(() => { body(rng); });
    } catch (e) {
      if (e instanceof Error) e.message = `[rerun with REF_SEED=${BASE_SEED}] ${e.message}`;
      throw e;
    }
  }, timeout);
}

/** A tf tensor's values as a float64 reference tensor (bool and int32 become numbers). */
export function toRef(t: tf.Tensor): RefTensor {
  return { shape: [...t.shape], data: Float64Array.from(t.dataSync() as ArrayLike<number>) };
}

/** A float32 (or int32/bool) tf tensor holding a reference tensor's values. */
export function fromRef(r: RefTensor, opts: { dtype?: tf.DType; requiresGrad?: boolean } = {}): tf.Tensor {
  const dtype = opts.dtype ?? 'float32';
  const values = dtype === 'float32' ? Float32Array.from(r.data)
    : dtype === 'int32' ? Int32Array.from(r.data)
    : Uint8Array.from(r.data, (v) => (v !== 0 ? 1 : 0));
  return tf.tensor(values, [...r.shape], { dtype, requiresGrad: opts.requiresGrad });
}

/** Throws unless t matches ref by |t - ref| <= atol + rtol*|ref| everywhere (shapes equal; NaN
 *  passes only where the reference also has NaN). */
export function expectClose(t: tf.Tensor | RefTensor, ref: RefTensor, rtol = 1e-5, atol = 1e-6, what = 'tensor'): void {
  const actual = t instanceof tf.Tensor ? toRef(t) : t;
  const refHasNaN = ref.data.some(Number.isNaN);
  const problem = closeness(actual, ref, rtol, atol, refHasNaN);
  if (problem !== null) throw new Error(`${what}: ${problem}`);
  if (refHasNaN) {  // allowNaN accepts NaN-vs-NaN; still make sure no NaN appears where ref has a number
    for (let i = 0; i < ref.data.length; i++)
      if (Number.isNaN(actual.data[i]) !== Number.isNaN(ref.data[i]))
        throw new Error(`${what}: element ${i}: actual ${actual.data[i]} vs expected ${ref.data[i]}`);
  }
}

/** The reference rounded to float32: what a correctly rounded float32 op (IEEE +, -, *, /, sqrt)
 *  returns exactly (double rounding from float64 is innocuous for these, as 53 >= 2*24 + 2). */
export function f32(r: RefTensor): RefTensor {
  return { shape: [...r.shape], data: r.data.map(Math.fround) };
}

/** Exact equality (for integer, bool and pure data-movement results). */
export function expectEqual(t: tf.Tensor | RefTensor, ref: RefTensor, what = 'tensor'): void {
  expectClose(t, ref, 0, 0, what);
}

/**
 * The same values as t in a non-contiguous layout, so kernels see real strides:
 * 'transpose' (default) writes the data with the last two dims swapped (or, for <2 dims, into a
 * larger buffer) and transposes back; 'step' takes every other element of a twice-as-large buffer
 * along the last dim. Preserves dtype; the result is a leaf (requiresGrad copied from opts).
 */
export function nonContiguous(t: tf.Tensor, mode: 'transpose' | 'step' = 'transpose', opts: { requiresGrad?: boolean } = {}): tf.Tensor {
  const values = t.dataSync();
  const shape = [...t.shape];
  const nd = shape.length;
  let r: tf.Tensor;
  if (mode === 'transpose' && nd >= 2 && shape[nd - 1] > 1 && shape[nd - 2] > 1) {
    const tShape = [...shape];
    [tShape[nd - 1], tShape[nd - 2]] = [tShape[nd - 2], tShape[nd - 1]];
    const src = tf.tensor(values, shape, { dtype: t.dtype });
    const tv = src.transpose(-1, -2);
    const base = tv.contiguous();  // shape tShape, contiguous
    r = base.transpose(-1, -2);
    [src, tv, base].forEach((x) => x.dispose());
  } else {
    // stepped: a buffer with twice the last dim (filled with garbage), view every 2nd element
    const last = nd === 0 ? 1 : shape[nd - 1];
    const bigShape = nd === 0 ? [2] : [...shape.slice(0, -1), 2 * last];
    const big = new (values.constructor as { new (n: number): typeof values })(numel(bigShape));
    big.fill(t.dtype === 'float32' ? 12345 : t.dtype === 'int32' ? 77 : 1);
    for (let i = 0; i < values.length; i++) big[2 * i + 1] = values[i];
    const base = tf.tensor(big, bigShape, { dtype: t.dtype });
    const sl = base.slice(-1, 1, undefined, 2);
    r = nd === 0 ? sl.select(0, 0) : sl;  // 0-d: no strides, but a non-zero offset
    if (r !== sl) sl.dispose();
    base.dispose();
  }
  if (opts.requiresGrad) r.requiresGrad_(true);
  return r;
}

/** Runs fn and checks that it leaves no tensors or native buffers behind. */
export function expectNoLeaks(fn: () => void): void {
  const before = tf.memory();
  fn();
  const after = tf.memory();
  expect({ tensors: after.numTensors, buffers: after.numBuffers, bytes: after.numBytes })
    .toEqual({ tensors: before.numTensors, buffers: before.numBuffers, bytes: before.numBytes });
}

/** What fn threw (undefined if it returned normally). */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** fn must throw an instance of Cls whose message matches. */
export function expectThrows(fn: () => unknown, Cls: new (...args: never[]) => Error, message: RegExp): void {
  const err = thrownBy(fn);
  expect(err).toBeInstanceOf(Cls);
  expect((err as Error).message).toMatch(message);
}

/** What one fuzzed kernel call should look like before it is broken: the op, each view's shape
 *  (inputs then outputs) and the attributes of a consistent call. */
export interface FuzzCall { op: string; shapes: number[][]; attrs: Record<string, number | string> }

/**
 * Fuzzes native kernels through the raw addon: `calls` times, a consistent call from `make`
 * (given a random shape x of one of `ranks` and a picker), then usually one view swapped for a
 * random one, one attribute set to a value from `values` or 'x', or a view dropped. Views are
 * random strided windows over real buffers (one buffer per view position, so most calls pass the
 * binding's overlap check; a few views are int32). Every call must run or throw a typed error,
 * and both must happen often: a kernel trusting a shape it did not check would read or write
 * outside a view and crash the process.
 */
export function fuzzKernelCalls(rng: Rng, opts: { calls: number; ranks: number[]; values: number[]; make: (x: number[], pick: <T>(xs: readonly T[]) => T) => FuzzCall }): void {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.uniform() * xs.length)];
  const buffers = Array.from({ length: 8 }, () => tf.randn([4096]));
  const ints = tf.zeros([4096], { dtype: 'int32' });
  const contiguous = (shape: number[]) => shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const view = (k: number, shape: number[]): native.NativeView => {
    const int = rng.uniform() < 0.03;
    const strides = rng.uniform() < 0.7 ? contiguous(shape) : shape.map(() => pick([0, 1, 2, 3, 7, 40]));
    return [(int ? ints : buffers[k]).storage.handle, int ? 1 : 0, pick([0, 0, 1, 13]), shape, strides];
  };
  const anyRank = Array.from({ length: Math.max(...opts.ranks) + 1 }, (_, r) => r);
  const randomShape = () => Array.from({ length: pick(anyRank) }, () => pick([0, 1, 2, 3, 5]));
  let threw = 0, ran = 0;
  for (let i = 0; i < opts.calls; i++) {
    const x = Array.from({ length: pick(opts.ranks) }, () => pick([1, 2, 3, 5]));
    const { op, shapes, attrs } = opts.make(x, pick);
    const views = shapes.map((sh, v) => view(v, sh));
    const broken = rng.uniform();
    if (broken < 0.4) views[Math.floor(rng.uniform() * views.length)] = view(0, randomShape());
    else if (broken < 0.6) attrs[pick(Object.keys(attrs))] = pick([...opts.values, 'x']);
    else if (broken < 0.65) views.pop();
    try {
      native.run(op, views, attrs);
      ran++;
    } catch (e) {
      threw++;
      if (!(e instanceof tf.TensorforgeError)) throw e;
    }
  }
  expect(threw).toBeGreaterThan(opts.calls / 6);
  expect(ran).toBeGreaterThan(opts.calls / 6);
}

/** Whether tensors can be put on 'cuda' here: a GPU, or the emulation of test/setup/device.ts. */
export function cudaUsable(): boolean {
  try {
    backendFor('cuda');
    return true;
  } catch {
    return false;
  }
}

/**
 * describe() for the CUDA-specific files in test/cuda: they compare the same inputs on 'cpu' and
 * 'cuda', so they run where CUDA is usable, in the project whose default device is the CPU (the
 * 'cuda' project runs the whole generic suite on the GPU instead); skipped elsewhere.
 */
export const describeCuda: jest.Describe = cudaUsable() && getDefaultDevice() === 'cpu' ? describe : describe.skip;

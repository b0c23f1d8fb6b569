// Creating tensors: from JS values, constant fills, ranges and seeded random draws.
import { Tensor, NestedArray, Device } from '../tensor';
import { DType, dtypeOfArray, isDType } from '../dtype';
import { checkShape, numel, fmt } from '../shape';
import { ShapeError, DTypeError, ArgumentError, ValueError } from '../errors';
import { resolveDevice } from '../backend';
import { runKernel } from './kernel';

/** device: where the tensor lives; the default device (tf.setDefaultDevice, 'cpu' unless set) when absent. */
export interface TensorOptions { dtype?: DType; device?: Device; requiresGrad?: boolean }

function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

function checkOptions(opts: TensorOptions, fallback: DType): DType {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('options must be an object');
  const dtype = opts.dtype ?? fallback;
  if (!isDType(dtype)) throw new DTypeError(`unknown dtype '${String(dtype)}' (expected 'float32', 'int32' or 'bool')`);
  resolveDevice(opts.device);
  return dtype;
}

function flattenNested(values: NestedArray): { flat: (number | boolean)[]; shape: number[] } {
  const shape: number[] = [];
  for (let v: NestedArray = values; Array.isArray(v); v = v[0]) {
    shape.push(v.length);
    if (v.length === 0) break;
  }
  const flat: (number | boolean)[] = [];
  const walk = (v: NestedArray, d: number) => {
    if (d === shape.length) {
      if (typeof v !== 'number' && typeof v !== 'boolean')
        throw new ArgumentError(`tensor values must be numbers or booleans, got ${Array.isArray(v) ? 'a ragged array' : typeof v}`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d])
      throw new ShapeError(`nested array is ragged: expected ${shape[d]} items at depth ${d}, as the first branch has`);
    for (const x of v) walk(x, d + 1);
  };
  walk(values, 0);
  return { flat, shape };
}

/** Creates a tensor from nested arrays, a typed array or a number; float32 unless told. */
export function tensor(values: NestedArray | Float32Array | Int32Array | Uint8Array | number[], shape?: number[], opts: TensorOptions = {}): Tensor {
  let flat: ArrayLike<number | boolean>;
  let inferredShape: number[];
  let inferred: DType = 'float32';
  if (ArrayBuffer.isView(values)) {
    const d = dtypeOfArray(values as ArrayBufferView);
    if (!d) throw new DTypeError('typed array must be a Float32Array, Int32Array or Uint8Array');
    inferred = d;
    flat = values as ArrayLike<number>;
    inferredShape = [flat.length];
  } else if (typeof values === 'number' || typeof values === 'boolean') {
    flat = [values];
    inferredShape = [];
    if (typeof values === 'boolean') inferred = 'bool';
  } else if (Array.isArray(values)) {
    const r = flattenNested(values);
    flat = r.flat;
    inferredShape = r.shape;
    if (r.flat.length && r.flat.every((v) => typeof v === 'boolean')) inferred = 'bool';
  } else {
    throw new ArgumentError(`tensor() expects numbers, nested arrays or a typed array, got ${typeof values}`);
  }
  const dtype = checkOptions(opts, inferred);
  const s = shape === undefined ? inferredShape : checkShape(shape);
  if (numel(s) !== flat.length)
    throw new ShapeError(`${flat.length} values cannot fill shape ${fmt(s)} (${numel(s)} elements)`);
  const t = Tensor.empty(s, dtype, resolveDevice(opts.device));
  const data = dtype === 'float32' ? new Float32Array(flat.length) : dtype === 'int32' ? new Int32Array(flat.length) : new Uint8Array(flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = Number(flat[i]);
    if (dtype === 'int32' && !(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647))
      throw new ValueError(`value ${v} at position ${i} is not an int32`);
    data[i] = dtype === 'bool' ? (v !== 0 ? 1 : 0) : v;
  }
  if (data.length) t.storage.backend.write(t.storage.handle, 0, data);
  return finish(t, opts);
}

export function scalar(value: number | boolean, opts: TensorOptions = {}): Tensor {
  return tensor(value, [], opts);
}

export function full(shape: number[], value: number | boolean, opts: TensorOptions = {}): Tensor {
  const dtype = checkOptions(opts, typeof value === 'boolean' ? 'bool' : 'float32');
  const t = Tensor.empty(checkShape(shape), dtype, resolveDevice(opts.device));
  runKernel('fill', [], [t], { value: Number(value) });
  return finish(t, opts);
}
export const zeros = (shape: number[], opts: TensorOptions = {}) => full(shape, 0, opts);
export const ones = (shape: number[], opts: TensorOptions = {}) => full(shape, 1, opts);
export const empty = (shape: number[], opts: TensorOptions = {}) => finish(Tensor.empty(checkShape(shape), checkOptions(opts, 'float32'), resolveDevice(opts.device)), opts);
export const zerosLike = (t: Tensor, opts: TensorOptions = {}) => full([...t.shape], 0, { dtype: t.dtype, device: t.device, ...opts });
export const onesLike = (t: Tensor, opts: TensorOptions = {}) => full([...t.shape], 1, { dtype: t.dtype, device: t.device, ...opts });
export const fullLike = (t: Tensor, value: number, opts: TensorOptions = {}) => full([...t.shape], value, { dtype: t.dtype, device: t.device, ...opts });

/** Values from start (inclusive) to end (exclusive) by step, like torch.arange. */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  for (const v of [start, end, step]) if (!Number.isFinite(v)) throw new ValueError(`arange bounds must be finite, got ${v}`);
  if (step === 0) throw new ValueError('arange step must be non-zero');
  const allInt = [start, end, step].every(Number.isInteger);
  const dtype = checkOptions(opts, allInt ? 'int32' : 'float32');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const values = Array.from({ length: n }, (_, i) => start + i * step);
  return tensor(values, [n], { ...opts, dtype });
}

export function linspace(start: number, end: number, steps: number, opts: TensorOptions = {}): Tensor {
  if (!Number.isSafeInteger(steps) || steps < 0) throw new ValueError(`linspace steps must be a non-negative integer, got ${steps}`);
  const values = Array.from({ length: steps }, (_, i) => (steps === 1 ? start : start + ((end - start) * i) / (steps - 1)));
  return tensor(values, [steps], opts);
}

export function eye(n: number, m = n, opts: TensorOptions = {}): Tensor {
  const t = zeros(checkShape([n, m]), opts);
  const diag = t.view_([Math.min(n, m)], [m + 1], 0);
  runKernel('fill', [], [diag], { value: 1 });
  diag.dispose();
  return t;
}

// ---- random ------------------------------------------------------------------------------
// Counter-based: (seed, offset) fully determine a draw, so manualSeed makes runs repeatable.
const rng = { seed: Math.floor(Math.random() * 2 ** 31), offset: 0 };

export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new ValueError(`seed must be a non-negative integer, got ${seed}`);
  rng.seed = seed;
  rng.offset = 0;
}

/** The generator's position, to save with a checkpoint so a resumed run draws the same numbers. */
export function getRngState(): { seed: number; offset: number } { return { ...rng }; }
export function setRngState(state: { seed: number; offset: number }): void {
  const ok = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (state === null || typeof state !== 'object' || !ok(state.seed) || !ok(state.offset))
    throw new ValueError(`setRngState expects { seed, offset } of non-negative integers, got ${JSON.stringify(state)}`);
  rng.seed = state.seed;
  rng.offset = state.offset;
}

function draw(shape: number[], dist: string, a: number, b: number, opts: TensorOptions, fallback: DType): Tensor {
  const dtype = checkOptions(opts, fallback);
  const t = Tensor.empty(checkShape(shape), dtype, resolveDevice(opts.device));
  runKernel('random', [], [t], { dist, seed: rng.seed, offset: rng.offset, a, b });
  rng.offset += t.size;
  return finish(t, opts);
}
export const rand = (shape: number[], opts: TensorOptions = {}) => draw(shape, 'uniform', 0, 1, opts, 'float32');
export const randn = (shape: number[], opts: TensorOptions = {}) => draw(shape, 'normal', 0, 1, opts, 'float32');
export const uniform = (shape: number[], low: number, high: number, opts: TensorOptions = {}) => draw(shape, 'uniform', low, high, opts, 'float32');
export const normal = (shape: number[], mean: number, std: number, opts: TensorOptions = {}) => draw(shape, 'normal', mean, std, opts, 'float32');
export const randint = (low: number, high: number, shape: number[], opts: TensorOptions = {}) => draw(shape, 'randint', low, high, opts, 'int32');


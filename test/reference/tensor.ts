// The float64 reference tensor and the helpers every reference op is built from.
// Written for obviousness, not speed: every op walks output positions one multi-index at a time.

/** A contiguous row-major float64 tensor. Shape [] is a scalar holding exactly one value.
 *  Integer and boolean results (indices, comparisons) are stored as float64 numbers (bool: 0/1). */
export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((n, s) => n * s, 1);
}

/** Row-major (contiguous) strides, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

/** Flat offset -> multi-index. */
export function unravelIndex(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return idx;
}

/** Multi-index -> flat offset. */
export function ravelIndex(idx: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + idx[d];
  return flat;
}

function checkShape(shape: readonly number[]): void {
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
  }
}

/** Builds a tensor whose element at each multi-index is fn(index). */
export function make(shape: readonly number[], fn: (idx: number[]) => number): RefTensor {
  checkShape(shape);
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = fn(unravelIndex(i, shape));
  return { shape: [...shape], data };
}

/** A tensor from flat values (row-major) and a shape. */
export function tensor(values: ArrayLike<number>, shape: readonly number[]): RefTensor {
  checkShape(shape);
  if (values.length !== numel(shape)) {
    throw new Error(`${values.length} values do not fill shape [${shape.join(', ')}]`);
  }
  return { shape: [...shape], data: Float64Array.from(values) };
}

/** A tensor from a nested array such as [[1, 2], [3, 4]]; a bare number gives a scalar. */
export function fromNested(nested: unknown): RefTensor {
  const shape: number[] = [];
  let probe = nested;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const flat = (Array.isArray(nested) ? (nested as unknown[]).flat(Infinity) : [nested]) as number[];
  return tensor(flat, shape);
}

/** Nested JS arrays (a number for a scalar), for readable test expectations. */
export function toNested(x: RefTensor): unknown {
  const build = (dim: number, offset: number): unknown => {
    if (dim === x.shape.length) return x.data[offset];
    const out: unknown[] = [];
    const stride = numel(x.shape.slice(dim + 1));
    for (let i = 0; i < x.shape[dim]; i++) out.push(build(dim + 1, offset + i * stride));
    return out;
  };
  return build(0, 0);
}

export function scalar(value: number): RefTensor {
  return { shape: [], data: Float64Array.of(value) };
}

export function full(shape: readonly number[], value: number): RefTensor {
  checkShape(shape);
  return { shape: [...shape], data: new Float64Array(numel(shape)).fill(value) };
}

export function zeros(shape: readonly number[]): RefTensor {
  return full(shape, 0);
}

export function ones(shape: readonly number[]): RefTensor {
  return full(shape, 1);
}

export function clone(x: RefTensor): RefTensor {
  return { shape: [...x.shape], data: Float64Array.from(x.data) };
}

export function get(x: RefTensor, idx: readonly number[]): number {
  return x.data[ravelIndex(idx, x.shape)];
}

/** Wraps a possibly negative dim into [0, ndim). A scalar accepts dims 0 and -1, like torch. */
export function normDim(dim: number, ndim: number): number {
  const range = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -range || dim >= range) {
    throw new Error(`dim ${dim} out of range for a ${ndim}-d tensor`);
  }
  return dim < 0 ? dim + range : dim;
}

/** Normalises a reduction dim list: undefined or [] means every dim (torch's behaviour).
 *  Returns sorted unique dims. */
export function normDims(dims: readonly number[] | undefined, ndim: number): number[] {
  if (dims === undefined || dims.length === 0) return [...Array(ndim).keys()];
  const out = dims.map((d) => normDim(d, ndim)).filter((d) => d < ndim);
  if (new Set(out).size !== out.length) throw new Error(`dim list [${dims.join(', ')}] repeats a dim`);
  return out.sort((p, q) => p - q);
}

/** numpy/torch broadcasting: align trailing dims; each pair must be equal or contain a 1. */
export function broadcastShapes(...shapes: (readonly number[])[]): number[] {
  const ndim = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(ndim).fill(1);
  for (const shape of shapes) {
    for (let i = 0; i < shape.length; i++) {
      const d = ndim - shape.length + i;
      const s = shape[i];
      if (s === out[d] || s === 1) continue;
      if (out[d] === 1) out[d] = s;
      else throw new Error(`shapes [${shapes.map((x) => x.join(',')).join('] [')}] do not broadcast`);
    }
  }
  return out;
}

/** Reads x at an index of a broadcast output shape (size-1 and missing leading dims repeat). */
export function getBroadcast(x: RefTensor, outIdx: readonly number[]): number {
  const lead = outIdx.length - x.shape.length;
  let flat = 0;
  for (let d = 0; d < x.shape.length; d++) {
    const i = x.shape[d] === 1 ? 0 : outIdx[lead + d];
    flat = flat * x.shape[d] + i;
  }
  return x.data[flat];
}

export function broadcastTo(x: RefTensor, shape: readonly number[]): RefTensor {
  const target = broadcastShapes(x.shape, shape);
  if (target.length !== shape.length || target.some((s, i) => s !== shape[i])) {
    throw new Error(`cannot broadcast [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
  }
  return make(shape, (idx) => getBroadcast(x, idx));
}

/** The reverse of broadcasting: sums g (shape broadcast from `shape`) back down to `shape`. */
export function sumToShape(g: RefTensor, shape: readonly number[]): RefTensor {
  const out = zeros(shape);
  const lead = g.shape.length - shape.length;
  if (lead < 0) throw new Error(`cannot reduce [${g.shape.join(', ')}] to [${shape.join(', ')}]`);
  for (let i = 0; i < g.data.length; i++) {
    const gIdx = unravelIndex(i, g.shape);
    const idx = shape.map((s, d) => {
      if (s === 1) return 0;
      if (s !== g.shape[lead + d]) {
        throw new Error(`cannot reduce [${g.shape.join(', ')}] to [${shape.join(', ')}]`);
      }
      return gIdx[lead + d];
    });
    out.data[ravelIndex(idx, shape)] += g.data[i];
  }
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness for tests: mulberry32 for uniforms, Box-Muller for normals.

export interface Rng {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number;
}

export function makeRng(seed: number): Rng {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => {
    const u1 = 1 - uniform(); // (0, 1]: log is finite
    const u2 = uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  };
  return { uniform, normal, int: (lo, hi) => lo + Math.floor(uniform() * (hi - lo)) };
}

export function randn(shape: readonly number[], rng: Rng): RefTensor {
  return make(shape, () => rng.normal());
}

/** Uniform in [lo, hi). */
export function rand(shape: readonly number[], rng: Rng, lo = 0, hi = 1): RefTensor {
  return make(shape, () => lo + (hi - lo) * rng.uniform());
}

/** Integers in [lo, hi), stored as float64. */
export function randint(shape: readonly number[], rng: Rng, lo: number, hi: number): RefTensor {
  return make(shape, () => rng.int(lo, hi));
}

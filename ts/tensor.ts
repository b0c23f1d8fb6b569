// The Tensor: a typed, strided view onto a reference-counted native Storage, plus autograd
// state. Methods are thin: each forwards to the functional op of the same name in ts/ops/.
import { Storage, stats, track, untrack } from './storage';
import { DType, TypedArray, dtypeBytes, dtypeCode, typedArrayFor } from './dtype';
import { contiguousStrides, numel, fmt } from './shape';
import { DisposedError, ArgumentError } from './errors';
import type { Device } from './backend';
import type { Node } from './autograd';
import type { NativeView } from './native';
import { runKernel } from './ops/kernel';
import * as ew from './ops/elementwise';
import * as red from './ops/reduce';
import * as mv from './ops/movement';
import * as la from './ops/linalg';
import * as ix from './ops/indexing';
import * as sm from './ops/softmax';
import * as ag from './autograd';

export type { Device } from './backend';
export type NestedArray = number | boolean | NestedArray[];
type Scalar = number | boolean;
type TensorLike = Tensor | Scalar;

// `using` needs Symbol.dispose; some realms (vm contexts, older runtimes) lack it.
if (!(Symbol as { dispose?: symbol }).dispose) Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('Symbol.dispose') });

// Frees a tensor's storage if the tensor is garbage-collected without dispose().
const finalizer = new FinalizationRegistry<Storage>((s) => {
  stats.tensors--;
  s.release();
});

// Registering with the FinalizationRegistry (and unregistering on dispose) costs about 0.5 µs,
// more than a small op itself, and most tensors are disposed within the synchronous job that
// made them. So a new tensor waits in `pending`, held strongly, and is registered only if it is
// still alive when the job ends (a microtask) or when pending grows past a count or byte bound,
// so a long synchronous loop that drops tensors without dispose() still has them collected.
const pending: Tensor[] = [];
let pendingBytes = 0;
let flushQueued = false;
const kPendingMax = 1024, kPendingBytesMax = 64 << 20;
function flushPending(): void {
  flushQueued = false;
  for (const t of pending) t.register();
  pending.length = 0;
  pendingBytes = 0;
}

export class Tensor implements Disposable {
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: Node | null = null;
  private disposed = false;
  private registered = false;
  /** Internal: the scope tracking this tensor (see storage.track). */
  scopeOwner: Set<unknown> | null = null;

  /** Internal: use tf.tensor / tf.zeros / ... to create tensors. */
  constructor(
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly offset: number,
    readonly dtype: DType,
  ) {
    stats.tensors++;
    pending.push(this);
    pendingBytes += storage.bytes;
    if (pending.length >= kPendingMax || pendingBytes >= kPendingBytesMax) flushPending();
    else if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flushPending);
    }
    track(this);
  }
  /** Internal: puts a still-live tensor under the GC safety net (see `pending`). */
  register(): void {
    if (this.disposed || this.registered) return;
    this.registered = true;
    finalizer.register(this, this.storage, this);
  }

  /** A new contiguous tensor with uninitialised contents on `device`. */
  static empty(shape: readonly number[], dtype: DType, device: Device): Tensor {
    const s = [...shape];
    return new Tensor(Storage.allocate(numel(s) * dtypeBytes[dtype], device), s, contiguousStrides(s), 0, dtype);
  }
  /** A view sharing this tensor's storage. */
  view_(shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    this.assertAlive();
    return new Tensor(this.storage.retain(), [...shape], [...strides], offset, this.dtype);
  }

  /** Where the values live and the kernels run: 'cpu' or 'cuda'. */
  get device(): Device { return this.storage.backend.device; }
  get ndim(): number { return this.shape.length; }
  get size(): number { return numel(this.shape); }
  get isDisposed(): boolean { return this.disposed; }
  get isContiguous(): boolean {
    let expect = 1;
    for (let i = this.ndim - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expect) return false;
      expect *= this.shape[i];
    }
    return true;
  }
  get isLeaf(): boolean { return this.gradFn === null; }

  assertAlive(): void {
    if (this.disposed) throw new DisposedError(`tensor of shape ${fmt(this.shape)} was disposed and cannot be used`);
  }
  /** Internal: the description the native kernels take. */
  nativeView(): NativeView {
    this.assertAlive();
    return [this.storage.handle, dtypeCode[this.dtype], this.offset, this.shape as number[], this.strides as number[]];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.registered) finalizer.unregister(this);
    untrack(this);
    stats.tensors--;
    this.storage.release();
  }
  [Symbol.dispose](): void { this.dispose(); }

  // ---- reading back ----------------------------------------------------------------------
  /** The values, row-major. On CUDA this waits for the queued ops (blocking the event loop);
   *  prefer `await data()` there. */
  dataSync(): TypedArray {
    this.assertAlive();
    const src = this.isContiguous ? this : ag.noGrad(() => mv.contiguous(this));
    const out = typedArrayFor(this.dtype, this.size);
    try {
      if (out.length) src.storage.backend.read(src.storage.handle, src.offset * dtypeBytes[this.dtype], out);
    } finally {
      if (src !== this) src.dispose();
    }
    return out;
  }
  /** The values, row-major; on CUDA the wait for queued ops happens off the event loop. */
  async data(): Promise<TypedArray> {
    this.assertAlive();
    if (this.device === 'cpu') return this.dataSync();
    const src = this.isContiguous ? this.detach() : ag.noGrad(() => mv.contiguous(this));
    const out = typedArrayFor(this.dtype, this.size);
    try {
      // src holds the storage until the copy is done, whatever happens to this tensor meanwhile
      if (out.length) await src.storage.backend.readAsync(src.storage.handle, src.offset * dtypeBytes[this.dtype], out);
    } finally {
      src.dispose();
    }
    return out;
  }
  toArray(): NestedArray {
    const flat = this.dataSync();
    const isBool = this.dtype === 'bool';
    const build = (dim: number, off: number): NestedArray => {
      if (dim === this.ndim) return isBool ? flat[off] !== 0 : flat[off];
      const step = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * step));
    };
    return build(0, 0);
  }
  item(): number {
    if (this.size !== 1) throw new ArgumentError(`item() needs a tensor with one element, got shape ${fmt(this.shape)}`);
    return this.dataSync()[0];
  }
  toString(): string {
    return this.disposed ? 'Tensor(disposed)' : `Tensor(${JSON.stringify(this.toArray())}, shape=${fmt(this.shape)}, dtype=${this.dtype})`;
  }

  // ---- autograd --------------------------------------------------------------------------
  backward(gradient?: Tensor, opts?: { retainGraph?: boolean }): void { ag.backward(this, gradient, opts); }
  requiresGrad_(flag = true): this {
    if (flag && this.dtype !== 'float32') throw new ArgumentError(`only float32 tensors can require gradients, got ${this.dtype}`);
    if (!this.isLeaf) throw new ArgumentError('requiresGrad_ can only be set on leaf tensors; use detach() first');
    this.requiresGrad = flag;
    return this;
  }
  /** A tensor sharing this storage but cut off from the graph. */
  detach(): Tensor { return this.view_(this.shape, this.strides, this.offset); }
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  // ---- device and dtype ------------------------------------------------------------------
  /** This tensor on another device (a copy, recorded by autograd), or cast to another dtype;
   *  itself when it is already there. */
  to(target: Device | DType): Tensor {
    if (target === 'cpu' || target === 'cuda') return mv.toDevice(this, target);
    return this.toDType(target);
  }
  cpu(): Tensor { return mv.toDevice(this, 'cpu'); }
  cuda(): Tensor { return mv.toDevice(this, 'cuda'); }
  toDType(dtype: DType): Tensor { return ew.cast(this, dtype); }
  float(): Tensor { return ew.cast(this, 'float32'); }
  int(): Tensor { return ew.cast(this, 'int32'); }
  bool(): Tensor { return ew.cast(this, 'bool'); }
  clone(): Tensor { return mv.clone(this); }

  // ---- in place (outside autograd: for parameters, buffers and optimizer state) ------------
  /** Writes src's values into this tensor: src broadcasts to this shape and is cast to this
   *  dtype. Not recorded by autograd; a tensor produced by a recorded op cannot be overwritten. */
  copy_(src: Tensor | number): this {
    this.assertAlive();
    if (this.gradFn) throw new ArgumentError('copy_: cannot overwrite a tensor that autograd recorded (a non-leaf); detach() it first');
    if (typeof src === 'number') {
      runKernel('fill', [], [this], { value: src });
      return this;
    }
    if (!(src instanceof Tensor)) throw new ArgumentError(`copy_ expects a Tensor or a number, got ${src === null ? 'null' : typeof src}`);
    ag.noGrad(() => {
      const here = mv.toDevice(src, this.device);
      const s = mv.expand(here, [...this.shape]);
      try {
        runKernel('copy', [s], [this]);
      } finally {
        s.dispose();
        if (here !== src) here.dispose();
      }
    });
    return this;
  }
  /** Sets every element to value, in place. */
  fill_(value: number): this { return this.copy_(value); }
  contiguous(): Tensor { return mv.contiguous(this); }

  // ---- elementwise -----------------------------------------------------------------------
  add(o: TensorLike): Tensor { return ew.add(this, o); }
  sub(o: TensorLike): Tensor { return ew.sub(this, o); }
  mul(o: TensorLike): Tensor { return ew.mul(this, o); }
  div(o: TensorLike): Tensor { return ew.div(this, o); }
  pow(o: TensorLike): Tensor { return ew.pow(this, o); }
  maximum(o: TensorLike): Tensor { return ew.maximum(this, o); }
  minimum(o: TensorLike): Tensor { return ew.minimum(this, o); }
  eq(o: TensorLike): Tensor { return ew.eq(this, o); }
  ne(o: TensorLike): Tensor { return ew.ne(this, o); }
  lt(o: TensorLike): Tensor { return ew.lt(this, o); }
  le(o: TensorLike): Tensor { return ew.le(this, o); }
  gt(o: TensorLike): Tensor { return ew.gt(this, o); }
  ge(o: TensorLike): Tensor { return ew.ge(this, o); }
  neg(): Tensor { return ew.neg(this); }
  abs(): Tensor { return ew.abs(this); }
  sign(): Tensor { return ew.sign(this); }
  exp(): Tensor { return ew.exp(this); }
  log(): Tensor { return ew.log(this); }
  sqrt(): Tensor { return ew.sqrt(this); }
  rsqrt(): Tensor { return ew.rsqrt(this); }
  sin(): Tensor { return ew.sin(this); }
  cos(): Tensor { return ew.cos(this); }
  tanh(): Tensor { return ew.tanh(this); }
  sigmoid(): Tensor { return ew.sigmoid(this); }
  relu(): Tensor { return ew.relu(this); }
  floor(): Tensor { return ew.floor(this); }
  ceil(): Tensor { return ew.ceil(this); }
  round(): Tensor { return ew.round(this); }
  reciprocal(): Tensor { return ew.reciprocal(this); }
  square(): Tensor { return ew.square(this); }
  clamp(min?: number, max?: number): Tensor { return ew.clamp(this, min, max); }

  // ---- reductions ------------------------------------------------------------------------
  sum(dim?: number | number[], keepDim = false): Tensor { return red.sum(this, dim, keepDim); }
  mean(dim?: number | number[], keepDim = false): Tensor { return red.mean(this, dim, keepDim); }
  prod(dim?: number | number[], keepDim = false): Tensor { return red.prod(this, dim, keepDim); }
  max(dim?: number | number[], keepDim = false): Tensor { return red.max(this, dim, keepDim); }
  min(dim?: number | number[], keepDim = false): Tensor { return red.min(this, dim, keepDim); }
  argmax(dim?: number, keepDim = false): Tensor { return red.argmax(this, dim, keepDim); }
  argmin(dim?: number, keepDim = false): Tensor { return red.argmin(this, dim, keepDim); }
  softmax(dim: number): Tensor { return sm.softmax(this, dim); }
  logSoftmax(dim: number): Tensor { return sm.logSoftmax(this, dim); }

  // ---- shape -----------------------------------------------------------------------------
  reshape(shape: number[]): Tensor { return mv.reshape(this, shape); }
  view(shape: number[]): Tensor { return mv.view(this, shape); }
  transpose(d0: number, d1: number): Tensor { return mv.transpose(this, d0, d1); }
  permute(dims: number[]): Tensor { return mv.permute(this, dims); }
  get T(): Tensor { return mv.permute(this, this.shape.map((_, i) => this.ndim - 1 - i)); }
  expand(shape: number[]): Tensor { return mv.expand(this, shape); }
  expandAs(o: Tensor): Tensor { return mv.expand(this, [...o.shape]); }
  slice(dim: number, start?: number, end?: number, step = 1): Tensor { return mv.slice(this, dim, start, end, step); }
  select(dim: number, index: number): Tensor { return mv.select(this, dim, index); }
  squeeze(dim?: number | number[]): Tensor { return mv.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return mv.unsqueeze(this, dim); }
  flatten(startDim = 0, endDim = -1): Tensor { return mv.flatten(this, startDim, endDim); }

  // ---- linear algebra and indexing --------------------------------------------------------
  matmul(o: Tensor): Tensor { return la.matmul(this, o); }
  gather(dim: number, index: Tensor): Tensor { return ix.gather(this, dim, index); }
  indexSelect(dim: number, index: Tensor): Tensor { return ix.indexSelect(this, dim, index); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return ix.scatterAdd(this, dim, index, src); }
  where(cond: Tensor, other: TensorLike): Tensor { return ew.where(cond, this, other); }
}

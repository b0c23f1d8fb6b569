// Native buffer lifetime: reference-counted storages shared by views, exact live counts for
// tf.memory(), scopes that free what they created, and GC finalizers as a safety net.
import type * as native from './native';
import { Backend, Device, backendFor } from './backend';
import { AllocationError, ArgumentError } from './errors';

export class Storage {
  private refs = 1;
  constructor(readonly backend: Backend, readonly handle: native.Handle, readonly bytes: number) {
    stats.buffers++;
    stats.bytes += bytes;
    if (backend.device === 'cuda') stats.cudaBytes += bytes;
  }
  static allocate(bytes: number, device: Device): Storage {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new AllocationError(`cannot allocate ${bytes} bytes`);
    const backend = backendFor(device);
    return new Storage(backend, backend.alloc(bytes), bytes);
  }
  get device(): Device { return this.backend.device; }
  get alive(): boolean { return this.refs > 0; }
  /** More than one tensor views this storage. */
  get shared(): boolean { return this.refs > 1; }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (this.refs <= 0) return;
    if (--this.refs === 0) {
      this.backend.free(this.handle);
      stats.buffers--;
      stats.bytes -= this.bytes;
      if (this.backend.device === 'cuda') stats.cudaBytes -= this.bytes;
    }
  }
}

/** Live counts for this JS thread; bytes counts every device, cudaBytes the GPU's part. */
export const stats = { tensors: 0, buffers: 0, bytes: 0, cudaBytes: 0 };

/** Anything a scope can free: tensors register themselves on creation. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** the scope that tracks it, if any (set by track), so dispose() can leave it at once */
  scopeOwner?: Set<unknown> | null;
}

const scopes: Set<Disposable>[] = [];

export function track(t: Disposable): void {
  if (scopes.length) {
    const s = scopes[scopes.length - 1];
    s.add(t);
    t.scopeOwner = s;
  }
}
/** Called by dispose(): a disposed tensor leaves its scope now rather than when the scope ends,
 *  so a loop inside one scope does not keep every tensor it disposed reachable. */
export function untrack(t: Disposable): void {
  if (t.scopeOwner) {
    t.scopeOwner.delete(t);
    t.scopeOwner = null;
  }
}
/** Removes a tensor from every open scope so it outlives them (parameters, grads, state). */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  t.scopeOwner = null;
  return t;
}

type Returned = Disposable | Returned[] | { [k: string]: Returned } | unknown;
function collect(x: Returned, out: Set<Disposable>, depth = 0): void {
  if (depth > 8 || x === null || typeof x !== 'object') return;
  if (typeof (x as Disposable).dispose === 'function' && 'isDisposed' in (x as object)) {
    out.add(x as Disposable);
    return;
  }
  for (const v of Array.isArray(x) ? x : Object.values(x as object)) collect(v, out, depth + 1);
}

/**
 * Runs fn and disposes every tensor created inside it, except the ones it returns (also inside
 * arrays or plain objects) and ones passed to keep(). Scopes nest; a returned tensor moves to the
 * enclosing scope. An async fn is not supported: the scope would close before it finishes.
 */
export function scope<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ArgumentError('scope() expects a function');
  const mine = new Set<Disposable>();
  scopes.push(mine);
  let result: T;
  let ok = false;
  try {
    result = fn();
    ok = true;
  } finally {
    scopes.pop();
    if (!ok) for (const t of mine) if (!t.isDisposed) t.dispose();
  }
  if (result instanceof Promise) throw new ArgumentError('scope() cannot wrap an async function');
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  for (const t of mine) {
    if (survivors.has(t)) track(t);
    else if (!t.isDisposed) t.dispose();
  }
  return result;
}

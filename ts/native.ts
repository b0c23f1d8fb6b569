// The only file that touches the CPU addon. Everything it exports is typed; native errors are
// rethrown as tensorforge's typed errors.
import * as path from 'path';
import * as fs from 'fs';
import { fromNative } from './errors';

export type Handle = { readonly __brand: 'tensorforge.buffer' };
/** [buffer, dtype code, element offset, shape, strides] */
export type NativeView = [Handle, number, number, number[], number[]];
export type Attrs = Record<string, number | boolean | string | number[]>;
/** Attributes the addon parsed once (compileAttrs), for reuse on every call. */
export type CompiledAttrs = { readonly __brand: 'tensorforge.attrs' };

/** Process-wide native memory: tensor buffers, kernel scratch, and the peak of their sum. */
export interface NativeMemory {
  buffers: number; bytes: number; scratchBytes: number; peakBytes: number;
  /** freed large blocks kept for reuse (see emptyCache) */
  cachedBytes: number;
}

/** The functions both addons export (native/binding/binding.h), plus memory stats and the cache. */
export interface TensorAddon {
  alloc(bytes: number): Handle;
  free(h: Handle): void;
  read(h: Handle, byteOffset: number, out: ArrayBufferView): void;
  write(h: Handle, byteOffset: number, src: ArrayBufferView): void;
  run(op: string, views: NativeView[], attrs?: Attrs): void;
  /** run() with the views packed: handles as trailing arguments, and desc holding, view after
   *  view, dtype, offset, ndim, shape[ndim], strides[ndim] (entries after the last are ignored) */
  runPacked(kernel: number, desc: Float64Array, attrs: Attrs | CompiledAttrs | undefined, ...handles: Handle[]): void;
  compileAttrs(attrs: Attrs): CompiledAttrs;
  kernelNames(): string[];
  memory(resetPeak?: boolean): NativeMemory;
  emptyCache(): void;
}

interface Addon extends TensorAddon {
  info(): { isa: string; threads: number; cpuFeatures: Record<string, boolean>; ops: string[] };
  setNumThreads(n: number): void;
  measurePeak(): { gflops: number; gbs: number };
}

export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'tensorforge') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('tensorforge: cannot find the package root above ' + __dirname);
    dir = up;
  }
}

// eslint-disable-next-line @typescript-eslint/no-var-requires
export const addon: Addon = require('node-gyp-build')(packageRoot());
export const addonPath: string = (() => {
  try { return require('node-gyp-build').resolve(packageRoot()); } catch { return 'unknown'; }
})();

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromNative(e);
  }
}

// The per-op entry points catch directly instead of through call(): no closure per op.
export function alloc(bytes: number): Handle {
  try { return addon.alloc(bytes); } catch (e) { throw fromNative(e); }
}
export function free(h: Handle): void {
  try { addon.free(h); } catch (e) { throw fromNative(e); }
}
export const read = (h: Handle, byteOffset: number, out: ArrayBufferView): void => call(() => addon.read(h, byteOffset, out));
export const write = (h: Handle, byteOffset: number, src: ArrayBufferView): void => call(() => addon.write(h, byteOffset, src));
export function run(op: string, views: NativeView[], attrs?: Attrs): void {
  try { addon.run(op, views, attrs); } catch (e) { throw fromNative(e); }
}
/** args: [kernel index, desc, attrs, ...handles] (see Addon.runPacked); one array the caller reuses. */
export function runPacked(args: unknown[]): void {
  try {
    Reflect.apply(addon.runPacked, addon, args);
  } catch (e) {
    throw fromNative(e);
  }
}
export const compileAttrs = (attrs: Attrs): CompiledAttrs => call(() => addon.compileAttrs(attrs));
/** Index of each kernel name for runPacked. */
export const kernelIndex: ReadonlyMap<string, number> = new Map(addon.kernelNames().map((n, i) => [n, i]));
export const memory = (resetPeak = false): NativeMemory => addon.memory(resetPeak);
export const info = () => addon.info();
export const setNumThreads = (n: number): void => call(() => addon.setNumThreads(n));
export const measurePeak = () => addon.measurePeak();
export const emptyCache = (): void => addon.emptyCache();

// The only file that touches the CPU addon. Everything it exports is typed; native errors are
// rethrown as tensorforge's typed errors.
import * as path from 'path';
import * as fs from 'fs';
import { fromNative } from './errors';

export type Handle = { readonly __brand: 'tensorforge.buffer' };
/** [buffer, dtype code, element offset, shape, strides] */
export type NativeView = [Handle, number, number, number[], number[]];
export type Attrs = Record<string, number | boolean | string | number[]>;

/** Process-wide native memory: tensor buffers, kernel scratch, and the peak of their sum. */
export interface NativeMemory {
  buffers: number; bytes: number; scratchBytes: number; peakBytes: number;
  /** freed large blocks kept for reuse (see emptyCache) */
  cachedBytes: number;
}

interface Addon {
  alloc(bytes: number): Handle;
  free(h: Handle): void;
  read(h: Handle, byteOffset: number, out: ArrayBufferView): void;
  write(h: Handle, byteOffset: number, src: ArrayBufferView): void;
  run(op: string, views: NativeView[], attrs?: Attrs): void;
  memory(resetPeak?: boolean): NativeMemory;
  info(): { isa: string; threads: number; cpuFeatures: Record<string, boolean>; ops: string[] };
  setNumThreads(n: number): void;
  measurePeak(): { gflops: number; gbs: number };
  emptyCache(): void;
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
const addon: Addon = require('node-gyp-build')(packageRoot());
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

export const alloc = (bytes: number): Handle => call(() => addon.alloc(bytes));
export const free = (h: Handle): void => call(() => addon.free(h));
export const read = (h: Handle, byteOffset: number, out: ArrayBufferView): void => call(() => addon.read(h, byteOffset, out));
export const write = (h: Handle, byteOffset: number, src: ArrayBufferView): void => call(() => addon.write(h, byteOffset, src));
export const run = (op: string, views: NativeView[], attrs?: Attrs): void => call(() => addon.run(op, views, attrs));
export const memory = (resetPeak = false): NativeMemory => addon.memory(resetPeak);
export const info = () => addon.info();
export const setNumThreads = (n: number): void => call(() => addon.setNumThreads(n));
export const measurePeak = () => addon.measurePeak();
export const emptyCache = (): void => addon.emptyCache();

// Devices and the backends behind them: the one place that knows which addon holds a tensor's
// memory and runs its kernels. The CPU backend is the main addon; the CUDA backend is the optional
// CUDA addon (ts/cuda.ts finds it), loaded on first use. Both export the same tensor functions
// (native/binding/binding.h), so everything above this file is written once for every device.
import * as native from './native';
import * as cuda from './cuda';
import { ArgumentError, DeviceError, fromNative } from './errors';

export type Device = 'cpu' | 'cuda';

export interface Backend {
  readonly device: Device;
  alloc(bytes: number): native.Handle;
  free(h: native.Handle): void;
  /** Waits until the bytes are in `out` (on CUDA: until every queued op is done). */
  read(h: native.Handle, byteOffset: number, out: ArrayBufferView): void;
  /** Resolves once the bytes are in `out`; the event loop runs meanwhile. */
  readAsync(h: native.Handle, byteOffset: number, out: ArrayBufferView): Promise<void>;
  write(h: native.Handle, byteOffset: number, src: ArrayBufferView): void;
  run(op: string, views: native.NativeView[], attrs?: native.Attrs): void;
  /** [kernel index, desc, attrs, ...handles] as native.runPacked takes them. */
  runPacked(args: unknown[]): void;
  compileAttrs(attrs: native.Attrs): native.CompiledAttrs;
  /** Index of each kernel name for runPacked. */
  readonly kernelIndex: ReadonlyMap<string, number>;
  memory(resetPeak?: boolean): native.NativeMemory;
  emptyCache(): void;
  /** Waits for every queued op (a no-op on the CPU, whose ops finish before they return). */
  synchronize(): void;
}

/** What an addon exports beyond native.TensorAddon where it can run asynchronously. */
interface AsyncAddon extends native.TensorAddon {
  readAsync(h: native.Handle, byteOffset: number, out: ArrayBufferView): Promise<void>;
  synchronize(): void;
}

/** A backend over an addon's tensor functions, turning its errors into typed errors. */
export function makeBackend(device: Device, addon: native.TensorAddon | AsyncAddon): Backend {
  const asyncAddon = 'readAsync' in addon ? (addon as AsyncAddon) : null;
  function call<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw fromNative(e);
    }
  }
  const runPacked = addon.runPacked;
  return {
    device,
    alloc: (bytes) => call(() => addon.alloc(bytes)),
    free: (h) => call(() => addon.free(h)),
    read: (h, off, out) => call(() => addon.read(h, off, out)),
    readAsync: asyncAddon
      ? (h, off, out) => call(() => asyncAddon.readAsync(h, off, out)).catch((e) => { throw fromNative(e); })
      : async (h, off, out) => call(() => addon.read(h, off, out)),
    write: (h, off, src) => call(() => addon.write(h, off, src)),
    run: (op, views, attrs) => call(() => addon.run(op, views, attrs)),
    runPacked(args) {
      try {
        Reflect.apply(runPacked, addon, args);
      } catch (e) {
        throw fromNative(e);
      }
    },
    compileAttrs: (attrs) => call(() => addon.compileAttrs(attrs)),
    kernelIndex: new Map(addon.kernelNames().map((n, i) => [n, i])),
    memory: (resetPeak = false) => addon.memory(resetPeak),
    emptyCache: () => call(() => addon.emptyCache()),
    synchronize: asyncAddon ? () => call(() => asyncAddon.synchronize()) : () => {},
  };
}

export const cpu: Backend = makeBackend('cpu', native.addon);
let cudaBackend: Backend | null = null;

/** The backend of a device; 'cuda' raises DeviceError (saying why) where CUDA is unavailable. */
export function backendFor(device: Device): Backend {
  if (resolveDevice(device) === 'cpu') return cpu;
  if (!cudaBackend) {
    cuda.requireCuda();
    cudaBackend = makeBackend('cuda', cuda.tensorAddon());
  }
  return cudaBackend;
}

/** The CUDA backend if it was started (a CUDA tensor was made), else null. Never throws. */
export function startedCudaBackend(): Backend | null { return cudaBackend; }

/**
 * Tests only: puts `b` behind the 'cuda' device (or restores the real one with null), so the
 * device layer (dispatch, transfers, mixing errors, autograd across devices) can be tested on
 * machines without a GPU by a CPU addon standing in for the CUDA one.
 */
export function setCudaBackendForTesting(b: Backend | null): void { cudaBackend = b; }

let defaultDevice: Device = 'cpu';

/** Where creation ops (tensor, zeros, randn, ...) put tensors when no device is given. */
export function setDefaultDevice(device: Device): void {
  if (device === undefined) throw new ArgumentError("setDefaultDevice expects 'cpu' or 'cuda'");
  backendFor(device);  // fails now, not at the first tensor, for an unknown or unavailable device
  defaultDevice = device;
}
export function getDefaultDevice(): Device { return defaultDevice; }

/** Checks a device option: undefined means the default device. */
export function resolveDevice(device: unknown): Device {
  if (device === undefined) return defaultDevice;
  if (device !== 'cpu' && device !== 'cuda')
    throw new DeviceError(`unknown device ${JSON.stringify(device)} (expected 'cpu' or 'cuda')`);
  return device;
}

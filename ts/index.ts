// tensorforge: a PyTorch-like tensor, autograd and kernel library for Node.js.
import * as fs from 'fs';
import * as path from 'path';
import * as native from './native';
import { stats, scope, keep } from './storage';
import * as cudaModule from './cuda';
import { startedCudaBackend } from './backend';

export { Tensor } from './tensor';
export type { NestedArray, Device } from './tensor';
export type { DType } from './dtype';
export * from './errors';
export * from './ops/creation';
export * from './ops/elementwise';
export { sum, mean, prod, max, min, argmax, argmin } from './ops/reduce';
export * from './ops/movement';
export { matmul } from './ops/linalg';
export { setMatmulPrecision, getMatmulPrecision } from './precision';
export { setDefaultDevice, getDefaultDevice } from './backend';
export type { MatmulPrecision } from './precision';
export { gather, scatterAdd, indexSelect } from './ops/indexing';
export { noGrad, isGradEnabled } from './autograd';
export * as train from './train';
export { scope, keep };
/** The CUDA device: availability and properties, synchronisation, the allocator's memory. */
export const cuda = {
  isAvailable: cudaModule.isAvailable, deviceCount: cudaModule.deviceCount, loadError: cudaModule.loadError,
  getDeviceProperties: cudaModule.getDeviceProperties, memoryInfo: cudaModule.memoryInfo,
  runtimeVersion: cudaModule.runtimeVersion, driverVersion: cudaModule.driverVersion, addonPath: cudaModule.addonPath,
  synchronize: cudaModule.synchronize, synchronizeAsync: cudaModule.synchronizeAsync,
  setDevice: cudaModule.setDevice, currentDevice: cudaModule.currentDevice,
  memory: cudaModule.memory, emptyCache: cudaModule.emptyCache,
};
export type { DeviceProperties, CudaMemory } from './cuda';
export * as F from './functional';
export * as nn from './nn';
export * as optim from './optim';
export * as io from './io';
export * as models from './models';
export * as data from './data';
export * as plot from './plot';

export interface MemoryInfo {
  /** live (not disposed, not collected) tensors on this thread */
  numTensors: number;
  /** native buffers held by this thread's tensors (views share one) */
  numBuffers: number;
  numBytes: number;
  /** the whole process, every thread, as the addon counts it: tensor buffers, kernel scratch
   *  space, and the peak of buffers + scratch since the last resetPeakMemory() */
  native: native.NativeMemory;
  /** the part of numBytes on the GPU (0 until a CUDA tensor is made) */
  cudaBytes: number;
  /** the CUDA allocator's counts, as `native` for the host (null until a CUDA tensor is made);
   *  tf.cuda.memory() has them too */
  cuda: native.NativeMemory | null;
}
export function memory(): MemoryInfo {
  const gpu = startedCudaBackend();
  return {
    numTensors: stats.tensors, numBuffers: stats.buffers, numBytes: stats.bytes, native: native.memory(),
    cudaBytes: stats.cudaBytes, cuda: gpu ? gpu.memory() : null,
  };
}

/** Restarts the peak-bytes counters from what is live now (memory().native.peakBytes, and cuda's). */
export function resetPeakMemory(): void {
  native.memory(true);
  startedCudaBackend()?.memory(true);
}

/** Frees the blocks the allocators keep for reuse (memory().native.cachedBytes, and cuda's). */
export function emptyCache(): void {
  native.emptyCache();
  startedCudaBackend()?.emptyCache();
}

export function setNumThreads(n: number): void { native.setNumThreads(n); }
export function getNumThreads(): number { return native.info().threads; }
export function info() {
  const i = native.info();
  const pkg = JSON.parse(fs.readFileSync(path.join(native.packageRoot(), 'package.json'), 'utf8'));
  return { version: pkg.version as string, addon: native.addonPath, ...i, cuda: cudaModule.isAvailable() };
}

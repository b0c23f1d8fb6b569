// The CUDA device, seen from TypeScript: finds and loads the optional CUDA addon
// (tensorforge_cuda.node) on first use and answers every question without throwing when it is
// absent, except requireCuda(), which throws the typed "not available" error. The addon is a
// separate binary so the CPU addon works everywhere; a missing toolkit, driver or GPU is normal.
// Loading never touches the CPU addon (only errors.ts and types are imported): ts/backend.ts
// builds the CUDA tensor backend on top of tensorAddon().
import * as fs from 'fs';
import * as path from 'path';
import type { TensorAddon, Handle, NativeMemory } from './native';
import { DeviceError, fromNative } from './errors';

export interface DeviceProperties {
  index: number;
  name: string;
  pciBusId: string;
  /** bytes */
  totalMemory: number;
  computeCapability: [number, number];
  multiProcessorCount: number;
  warpSize: number;
  maxThreadsPerBlock: number;
  maxThreadsPerMultiProcessor: number;
  sharedMemoryPerBlock: number;
  sharedMemoryPerBlockOptin: number;
  sharedMemoryPerMultiProcessor: number;
  registersPerBlock: number;
  l2CacheSize: number;
  memoryBusWidth: number;
  /** 0 where the driver does not report it */
  clockRateKHz: number;
  memoryClockRateKHz: number;
  integrated: boolean;
  eccEnabled: boolean;
}

/** bytes */
export interface MemoryInfo {
  free: number;
  total: number;
}

/** The CUDA allocator's view of this process's device memory, in bytes. */
export interface CudaMemory extends NativeMemory {
  /** cudaMalloc calls so far: allocations the cache could not serve */
  deviceAllocations: number;
}

interface CudaAddon extends TensorAddon {
  readAsync(h: Handle, byteOffset: number, out: ArrayBufferView): Promise<void>;
  synchronize(): void;
  synchronizeAsync(): Promise<void>;
  setDevice(device: number): void;
  currentDevice(): number;
  memory(resetPeak?: boolean): CudaMemory;
  deviceCount(): number;
  deviceProperties(device: number): DeviceProperties;
  memoryInfo(device: number): MemoryInfo;
  runtimeVersion(): number;
  driverVersion(): number;
}

const ADDON_FILE = 'tensorforge_cuda.node';

let loaded = false;
let addon: CudaAddon | null = null;
let addonFile: string | null = null;
let whyNot: string | null = null;

/** The package root: the nearest directory above this file whose package.json is tensorforge's. */
function packageRoot(): string | null {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg && pkg.name === 'tensorforge') return dir;
    } catch {
      // no package.json here, or not readable: keep walking up
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/** Where the addon may be, in the order node-gyp-build uses for the CPU addon: local build first. */
function candidates(root: string): string[] {
  return [
    path.join(root, 'build', 'Release', 'cuda', ADDON_FILE),
    path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'cuda', ADDON_FILE),
  ];
}

function load(): CudaAddon | null {
  if (loaded) return addon;
  loaded = true;
  const root = packageRoot();
  if (!root) {
    whyNot = `could not find the tensorforge package root above ${__dirname}`;
    return null;
  }
  const file = candidates(root).find((f) => fs.existsSync(f));
  if (!file) {
    whyNot =
      'the CUDA addon was not built (no nvcc at build time, or TENSORFORGE_CUDA=OFF); looked for ' +
      candidates(root).map((f) => path.relative(root, f)).join(' and ');
    return null;
  }
  try {
    // A plain require of a .node file; the addon holds no global state, so workers may load it too.
    addon = require(file) as CudaAddon;
    addonFile = file;
    return addon;
  } catch (e) {
    whyNot = `failed to load ${file}: ${e instanceof Error ? e.message : String(e)}`;
    return null;
  }
}

/**
 * Tests only: makes `a` (loaded from `file`) the CUDA addon, as if found at load time; used with
 * the emulated CUDA addon (scripts/cuda-emu/build.sh) so tf.cuda.* reaches the same addon as the
 * 'cuda' backend.
 */
export function setAddonForTesting(a: CudaAddon, file: string): void {
  loaded = true;
  addon = a;
  addonFile = file;
  whyNot = null;
}

/** Number of CUDA devices; 0 when the addon, the driver or a GPU is missing. Never throws. */
export function deviceCount(): number {
  const a = load();
  if (!a) return 0;
  try {
    return a.deviceCount();
  } catch {
    return 0;
  }
}

/** True when the CUDA addon loaded and sees at least one GPU. */
export function isAvailable(): boolean {
  return deviceCount() > 0;
}

/** Why CUDA is unavailable (addon missing, failed to load, no driver, no GPU), or null if it is. */
export function loadError(): string | null {
  const a = load();
  if (!a) return whyNot;
  if (a.deviceCount() > 0) return null;
  return a.driverVersion() === 0
    ? 'no NVIDIA driver was found (the CUDA addon loaded, but the driver library libcuda is missing)'
    : 'the NVIDIA driver reports no CUDA device';
}

/** Throws DeviceError (code 'ERR_TF_DEVICE') unless CUDA is available. */
export function requireCuda(): void {
  const why = loadError();
  if (why === null) return;
  throw new DeviceError(
    `CUDA is not available: ${why} (expected a machine with an NVIDIA GPU and driver; the CPU device works everywhere)`,
  );
}

/** Runs f, turning the addon's coded errors into typed ones. */
function typed<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromNative(e);
  }
}

function loadedAddon(): CudaAddon {
  const a = load();
  if (a) return a;
  requireCuda(); // throws, since the addon did not load
  throw new Error('unreachable');
}

/**
 * Properties of device `index`. Throws ERR_TF_DEVICE when the addon is missing, and a RangeError
 * (from the addon) for an index that is not an integer in [0, deviceCount()).
 */
export function getDeviceProperties(index: number): DeviceProperties {
  return loadedAddon().deviceProperties(index);
}

/** Free and total memory of device `index`, in bytes; errors as for getDeviceProperties. */
export function memoryInfo(index: number): MemoryInfo {
  return loadedAddon().memoryInfo(index);
}

/** CUDA runtime version the addon was built with (e.g. 13000), or 0 when the addon is missing. */
export function runtimeVersion(): number {
  const a = load();
  return a ? a.runtimeVersion() : 0;
}

/** Newest CUDA version the installed driver supports (e.g. 13000), or 0 when there is none. */
export function driverVersion(): number {
  const a = load();
  return a ? a.driverVersion() : 0;
}

/** Absolute path of the loaded addon, or null when it did not load. */
export function addonPath(): string | null {
  load();
  return addonFile;
}

/** Internal (ts/backend.ts): the addon's tensor functions; throws ERR_TF_DEVICE where CUDA is unavailable. */
export function tensorAddon(): CudaAddon {
  requireCuda();
  return loadedAddon();
}

/** Waits until every queued CUDA op of this process has finished. */
export function synchronize(): void {
  typed(() => tensorAddon().synchronize());
}

/** Resolves once every CUDA op queued so far has finished; the event loop keeps running. */
export function synchronizeAsync(): Promise<void> {
  return tensorAddon().synchronizeAsync().catch((e) => { throw fromNative(e); });
}

/** Chooses the GPU this process uses (default 0); only before the first CUDA tensor is made. */
export function setDevice(index: number): void {
  typed(() => tensorAddon().setDevice(index));
}

/** The GPU this process uses. */
export function currentDevice(): number {
  return typed(() => tensorAddon().currentDevice());
}

/**
 * Device memory as tensorforge's caching allocator sees it: tensor buffers, kernel scratch, their
 * peak since the last resetPeak, and blocks kept for reuse (cachedBytes; see emptyCache).
 */
export function memory(resetPeak = false): CudaMemory {
  return tensorAddon().memory(resetPeak);
}

/** Returns the cached device blocks (memory().cachedBytes) to the driver. */
export function emptyCache(): void {
  const a = load();
  if (a) typed(() => a.emptyCache());
}

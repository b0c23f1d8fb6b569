// The CUDA addon and ts/cuda.ts: built where nvcc exists, loads everywhere (also in a worker),
// reports zero devices without a GPU, validates every argument. GPU-only checks skip elsewhere.
import { execFileSync, spawnSync } from 'child_process';
import * as os from 'os';
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import * as cuda from '../ts/cuda';
import * as tf from '../ts';
import * as native from '../ts/native';

const root = path.resolve(__dirname, '..');
const builtAddon = path.join(root, 'build', 'Release', 'cuda', 'tensorforge_cuda.node');

function nvccExists(): boolean {
  try {
    execFileSync('nvcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return fs.existsSync('/usr/local/cuda/bin/nvcc');
  }
}

/** Whether the last configure of build/ asked for the CUDA addon (TENSORFORGE_CUDA=ON). */
function cudaRequestedInBuild(): boolean {
  const cache = path.join(root, 'build', 'CMakeCache.txt');
  if (!fs.existsSync(cache)) return process.env.TENSORFORGE_CUDA?.toUpperCase() !== 'OFF';
  return /^TENSORFORGE_CUDA:BOOL=ON$/m.test(fs.readFileSync(cache, 'utf8'));
}

/**
 * Errors made by the addon come from Node's main realm, not jest's sandbox, so `toThrow(RangeError)`
 * (an instanceof check) fails on them; compare the constructor's name instead.
 */
function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

const gpuTest = cuda.isAvailable() ? test : test.skip;
const noGpuTest = cuda.isAvailable() ? test.skip : test;

describe('CUDA addon', () => {
  test('is built where nvcc exists', () => {
    if (!nvccExists() || !cudaRequestedInBuild()) return;
    expect(fs.existsSync(builtAddon) || cuda.addonPath() !== null).toBe(true);
  });

  test('loads when it was built', () => {
    if (!fs.existsSync(builtAddon)) return;
    expect(cuda.addonPath()).toBe(builtAddon);
    expect(cuda.runtimeVersion()).toBeGreaterThanOrEqual(12000);
  });

  test('deviceCount() is a non-negative integer', () => {
    const n = cuda.deviceCount();
    expect(Number.isInteger(n)).toBe(true);
    expect(n).toBeGreaterThanOrEqual(0);
    expect(cuda.isAvailable()).toBe(n > 0);
  });

  test('driverVersion() is 0 or a CUDA version', () => {
    const v = cuda.driverVersion();
    expect(Number.isInteger(v)).toBe(true);
    expect(v === 0 || v >= 11000).toBe(true);
  });

  test('loads in a worker thread as well as the main thread', async () => {
    if (!fs.existsSync(builtAddon)) return;
    const count = await new Promise<number>((resolve, reject) => {
      const w = new Worker(
        `const a = require(${JSON.stringify(builtAddon)});
         require('worker_threads').parentPort.postMessage(a.deviceCount());`,
        { eval: true },
      );
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(count).toBe(cuda.deviceCount());
  });

  noGpuTest('without a GPU: not available, and requireCuda throws ERR_TF_DEVICE', () => {
    expect(cuda.isAvailable()).toBe(false);
    expect(cuda.deviceCount()).toBe(0);
    expect(typeof cuda.loadError()).toBe('string');
    let caught: unknown;
    try {
      cuda.requireCuda();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as { code?: string }).code).toBe('ERR_TF_DEVICE');
    expect((caught as Error).message).toMatch(/^CUDA is not available: .+ \(expected a machine with an NVIDIA GPU/);
    expect((caught as Error).message).toContain('the CPU device works everywhere');
  });

  test('bad device indices raise RangeError/TypeError, never crash', () => {
    if (cuda.addonPath() === null) {
      expect(() => cuda.getDeviceProperties(0)).toThrow(expect.objectContaining({ code: 'ERR_TF_DEVICE' }));
      return;
    }
    const n = cuda.deviceCount();
    for (const bad of [n, n + 7, -1, 0.5, NaN, Infinity, -Infinity, 2 ** 40]) {
      for (const fn of [cuda.getDeviceProperties, cuda.memoryInfo]) {
        const e = thrownBy(() => fn(bad));
        expect(e.name).toBe('RangeError');
        expect(e.message).toMatch(/device (index .* is out of range|must be a non-negative integer)/);
      }
    }
    expect(thrownBy(() => cuda.getDeviceProperties(n)).message).toMatch(/out of range/);
    for (const bad of ['0', null, undefined, {}, [0], BigInt(0)]) {
      for (const fn of [cuda.getDeviceProperties, cuda.memoryInfo]) {
        const e = thrownBy(() => fn(bad as unknown as number));
        expect(e.name).toBe('TypeError');
        expect(e.message).toMatch(/device must be a number/);
      }
    }
  });

  gpuTest('GPU: requireCuda passes and loadError is null', () => {
    expect(() => cuda.requireCuda()).not.toThrow();
    expect(cuda.loadError()).toBeNull();
    expect(cuda.driverVersion()).toBeGreaterThan(0);
  });

  gpuTest('GPU: device properties are sane', () => {
    for (let i = 0; i < cuda.deviceCount(); i++) {
      const p = cuda.getDeviceProperties(i);
      expect(p.index).toBe(i);
      expect(p.name.length).toBeGreaterThan(0);
      expect(p.totalMemory).toBeGreaterThan(2 ** 28);
      expect(p.computeCapability).toHaveLength(2);
      expect(p.computeCapability[0]).toBeGreaterThanOrEqual(7);
      expect(p.multiProcessorCount).toBeGreaterThan(0);
      expect(p.warpSize).toBe(32);
      expect(p.maxThreadsPerBlock).toBeGreaterThanOrEqual(1024);
      expect(p.sharedMemoryPerBlockOptin).toBeGreaterThanOrEqual(p.sharedMemoryPerBlock);
    }
  });

  gpuTest('GPU: memoryInfo reports free <= total', () => {
    for (let i = 0; i < cuda.deviceCount(); i++) {
      const m = cuda.memoryInfo(i);
      expect(m.total).toBeGreaterThan(0);
      expect(m.free).toBeGreaterThan(0);
      expect(m.free).toBeLessThanOrEqual(m.total);
      expect(m.total).toBeLessThanOrEqual(cuda.getDeviceProperties(i).totalMemory);
    }
  });
});

describe('CUDA tensors: runtime, allocator and transfers', () => {
  const builtAndLoaded = () => cuda.addonPath() !== null;

  test('the CUDA addon has a kernel for every CPU kernel (same op ids)', () => {
    if (!builtAndLoaded()) return;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const gpu: { kernelNames(): string[] } = require(cuda.addonPath()!);
    expect(gpu.kernelNames().sort()).toEqual([...native.kernelIndex.keys()].sort());
  });

  noGpuTest('without a GPU every tensor function raises the typed "not available" error', () => {
    if (!builtAndLoaded()) return;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const gpu = require(cuda.addonPath()!);
    for (const f of [() => gpu.alloc(16), () => gpu.synchronize(), () => gpu.currentDevice()]) {
      const e = thrownBy(f) as Error & { code?: string };
      expect(e.code).toBe('ERR_TF_DEVICE');
      expect(e.message).toMatch(/CUDA is not available/);
    }
    expect(gpu.memory().bytes).toBe(0);
    expect(() => gpu.emptyCache()).not.toThrow();
  });

  gpuTest('GPU: ops reuse cached blocks instead of calling cudaMalloc each time', () => {
    tf.scope(() => {
      const x = tf.randn([1 << 20], { device: 'cuda' });
      for (let i = 0; i < 3; i++) tf.scope(() => { x.mul(2).add(1).exp().sum(); });
      tf.cuda.synchronize();
      const before = cuda.memory().deviceAllocations;
      for (let i = 0; i < 20; i++) tf.scope(() => { x.mul(2).add(1).exp().sum(); });
      tf.cuda.synchronize();
      expect(cuda.memory().deviceAllocations).toBe(before);
      expect(cuda.memory().cachedBytes).toBeGreaterThan(0);
    });
    tf.emptyCache();
    expect(cuda.memory().cachedBytes).toBe(0);
  });

  gpuTest('GPU: out of memory is a typed AllocationError and every live tensor stays intact', () => {
    const keepers = tf.scope(() => tf.keep(tf.arange(1000, undefined, 1, { device: 'cuda', dtype: 'float32' })));
    const total = cuda.memoryInfo(cuda.currentDevice()).total;
    const e = thrownBy(() => tf.empty([Math.ceil((2 * total) / 4)], { device: 'cuda' }));
    expect(e).toBeInstanceOf(tf.AllocationError);
    expect(e.message).toMatch(/CUDA out of memory: cannot allocate .* the cache was emptied and the allocation retried/);
    expect(Array.from(keepers.dataSync()).slice(0, 3)).toEqual([0, 1, 2]);
    expect(keepers.sum().item()).toBe(499500);
    keepers.dispose();
  });

  gpuTest('GPU: await data() lets timers run while the device works', async () => {
    const x = tf.randn([2048, 2048], { device: 'cuda' });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      const y = tf.scope(() => {
        let t = x;
        for (let i = 0; i < 20; i++) t = tf.matmul(t, x).mul(1e-3);
        return t;
      });
      const values = await y.data();
      expect(values.length).toBe(2048 * 2048);
      y.dispose();
      await tf.cuda.synchronizeAsync();
    } finally {
      clearInterval(timer);
      x.dispose();
    }
    expect(ticks).toBeGreaterThan(0);
  });

  gpuTest('GPU: setDevice is refused once the device is in use; currentDevice answers', () => {
    const t = tf.zeros([1], { device: 'cuda' });
    const current = tf.cuda.currentDevice();
    expect(() => tf.cuda.setDevice(current)).not.toThrow();
    if (cuda.deviceCount() > 1) expect(thrownBy(() => tf.cuda.setDevice((current + 1) % cuda.deviceCount())).message).toMatch(/already in use/);
    t.dispose();
  });

  gpuTest('GPU: a kernel error names its op and is typed', () => {
    tf.scope(() => {
      const a = tf.zeros([2, 3], { device: 'cuda' });
      const e = thrownBy(() => a.matmul(tf.zeros([4, 2], { device: 'cuda' })));
      expect(e).toBeInstanceOf(tf.ShapeError);
    });
  });

  gpuTest('GPU: tf.memory() and tf.cuda.memory() agree on live CUDA bytes', () => {
    const before = tf.memory().cudaBytes;
    const t = tf.zeros([1000], { device: 'cuda' });
    expect(tf.memory().cudaBytes - before).toBe(4000);
    expect(tf.memory().cuda!.bytes).toBeGreaterThanOrEqual(4000);
    t.dispose();
    expect(tf.memory().cudaBytes).toBe(before);
  });
});

describe('training on the GPU', () => {
  const cli = path.join(root, 'dist', 'ts', 'cli', 'main.js');
  const trainCard = (device: string, out: string) => {
    const r = spawnSync(process.execPath, [cli, 'train', '--device', device, '--epochs', '2', '--seed', '5', '--out', out, '--json'],
      { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`train --device ${device} failed: ${r.stderr}`);
    return JSON.parse(fs.readFileSync(path.join(out, 'model-card.json'), 'utf8'));
  };

  gpuTest('GPU: the Fashion-MNIST CNN trained with --device cuda reaches the CPU run\'s accuracy', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-gpu-train-'));
    try {
      const cpu = trainCard('cpu', path.join(tmp, 'cpu'));
      const gpu = trainCard('cuda', path.join(tmp, 'cuda'));
      // same seed, same data order, same initial weights; float32 sums in another order drift
      // the runs apart a little, so the accuracies agree to a point, not bit for bit
      expect(gpu.metrics.test.accuracy).toBeGreaterThan(0.8);
      expect(Math.abs(gpu.metrics.test.accuracy - cpu.metrics.test.accuracy)).toBeLessThan(0.01);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 900_000);
});

// Bad input raises typed errors that say what was wrong and what was expected, and never
// crashes the process or corrupts state.
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as tf from '../ts';
import { thrownBy, cudaUsable } from './helpers';

describe('typed errors from the public API', () => {
  const a = tf.randn([2, 3]);
  const b = tf.randn([4, 5]);
  const idx = tf.tensor([0, 5], undefined, { dtype: 'int32' });

  test.each<[string, () => unknown, new (m: string) => Error, RegExp]>([
    ['broadcast mismatch', () => a.add(b), tf.ShapeError, /\[2, 3\] and \[4, 5\] cannot be broadcast/],
    ['matmul inner dims', () => a.matmul(a), tf.ShapeError, /cannot be multiplied \(3 vs 2\)/],
    ['matmul on int32', () => a.int().matmul(a.T), tf.DTypeError, /float32/],
    ['reshape size', () => a.reshape([4, 2]), tf.ShapeError, /invalid for 6 elements/],
    ['view of non-contiguous', () => a.T.view([6]), tf.ShapeError, /contiguous/],
    ['dim out of range', () => a.sum(2), tf.IndexError, /dim 2 is out of range/],
    ['select out of range', () => a.select(0, 2), tf.IndexError, /index 2 is out of range/],
    ['gather index out of range', () => a.gather(1, tf.tensor([[0, 3]], undefined, { dtype: 'int32' })), tf.IndexError, /index 3 is out of range/],
    ['indexSelect out of range', () => a.indexSelect(1, idx), tf.IndexError, /index 5 is out of range/],
    ['index dtype', () => a.indexSelect(1, tf.tensor([0])), tf.DTypeError, /int32/],
    ['ragged nested array', () => tf.tensor([[1, 2], [3]]), tf.ShapeError, /ragged/],
    ['values vs shape', () => tf.tensor([1, 2, 3], [2, 2]), tf.ShapeError, /3 values cannot fill shape \[2, 2\]/],
    ['negative size', () => tf.zeros([2, -1]), tf.ShapeError, /non-negative integers/],
    ['too many dims', () => tf.zeros([1, 1, 1, 1, 1, 1, 1, 1, 1]), tf.ShapeError, /at most 8/],
    ['unknown dtype', () => tf.zeros([2], { dtype: 'float64' as never }), tf.DTypeError, /unknown dtype 'float64'/],
    ...(cudaUsable() ? [] : [
      ['cuda device', () => tf.zeros([2], { device: 'cuda' }), tf.DeviceError, /CUDA is not available/],
      ['.to cuda', () => a.to('cuda'), tf.DeviceError, /CUDA is not available/],
    ] as [string, () => unknown, new (m: string) => Error, RegExp][]),
    ['unknown device', () => tf.zeros([2], { device: 'tpu' as never }), tf.DeviceError, /unknown device "tpu"/],
    ['huge allocation', () => tf.zeros([2 ** 20, 2 ** 20, 2 ** 10]), tf.AllocationError, /1 TiB limit/],
    ['int32 overflow value', () => tf.tensor([2 ** 40], undefined, { dtype: 'int32' }), tf.ValueError, /not an int32/],
    ['item of many', () => a.item(), tf.ArgumentError, /one element/],
    ['backward on non-scalar', () => tf.randn([3], { requiresGrad: true }).mul(2).backward(), tf.ShapeError, /scalar outputs/],
    ['backward without grad', () => a.sum().backward(), tf.ArgumentError, /does not require grad/],
    ['requiresGrad on int', () => tf.zeros([2], { dtype: 'int32', requiresGrad: true }), tf.ArgumentError, /float32/],
    ['cat shapes', () => tf.cat([a, b]), tf.ShapeError, /differ outside dim 0/],
    ['slice step', () => a.slice(0, 0, 2, 0), tf.ArgumentError, /positive integer/],
    ['max of empty', () => tf.zeros([0, 3]).max(0), tf.ShapeError, /empty/],
  ])('%s', (_name, fn, Cls, message) => {
    const err = thrownBy(fn);
    expect(err).toBeInstanceOf(Cls);
    expect(err).toBeInstanceOf(tf.TensorforgeError);
    expect((err as Error).message).toMatch(message);
    expect((err as tf.TensorforgeError).code).toMatch(/^ERR_TF_/);
  });

  test('a failed op leaves its inputs intact and usable', () => {
    const before = Array.from(a.dataSync());
    expect(() => a.gather(1, tf.tensor([[0, 9]], undefined, { dtype: 'int32' }))).toThrow(tf.IndexError);
    const x = tf.zeros([2, 3]);
    expect(() => x.scatterAdd(1, tf.tensor([[0, 7, 1]], undefined, { dtype: 'int32' }), tf.ones([1, 3]))).toThrow(tf.IndexError);
    expect(Array.from(x.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(a.dataSync())).toEqual(before);
  });

  test('NaN flows through values like torch, it is not an error', () => {
    const t = tf.tensor([NaN, 1, -2]);
    expect(Number.isNaN(t.relu().dataSync()[0])).toBe(true);
    expect(t.max().item()).toBeNaN();
    expect(t.argmax().item()).toBe(0);
  });
});

describe('the native boundary survives random invalid arguments', () => {
  // Run in a child process: if anything crashed the process, the parent still sees it.
  test('fuzz: thousands of malformed calls raise errors and never crash', () => {
    const script = path.join(__dirname, 'fuzz-native.js');
    const r = spawnSync(process.execPath, ['--expose-gc', script, '4000'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary.calls).toBe(4000);
    expect(summary.threw).toBeGreaterThan(3000);
    // the packed form of run(): as many calls again, and wherever a view set can be written in
    // both forms, both forms give the same result or the same error
    expect(summary.packedCalls).toBe(4000);
    expect(summary.compared).toBeGreaterThan(1500);
    expect(summary.packedThrew).toBeGreaterThan(2000);
    expect(summary.mismatches).toEqual([]);
    expect(summary.leakedBuffers).toBe(0);
    expect(summary.untyped).toEqual([]);
  });
});

// Memory is predictable: dispose, `using`, scopes and GC finalizers free native buffers, and
// tf.memory() counts exactly what is alive.
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '../ts';

function live() {
  const m = tf.memory();
  return { tensors: m.numTensors, buffers: m.numBuffers, bytes: m.numBytes };
}

describe('memory accounting', () => {
  test('allocation and dispose are counted exactly', () => {
    const before = live();
    const t = tf.zeros([3, 5]);
    expect(live()).toEqual({ tensors: before.tensors + 1, buffers: before.buffers + 1, bytes: before.bytes + 60 });
    const i = tf.zeros([7], { dtype: 'int32' });
    const b = tf.zeros([9], { dtype: 'bool' });
    expect(live().bytes).toBe(before.bytes + 60 + 28 + 9);
    t.dispose();
    i.dispose();
    b.dispose();
    expect(live()).toEqual(before);
    expect(tf.memory().native.bytes).toBeGreaterThanOrEqual(0);
  });

  test('the native peak counts the largest footprint since the last reset', () => {
    tf.resetPeakMemory();
    const start = tf.memory().native;
    expect(start.peakBytes).toBe(start.bytes + start.scratchBytes);
    const big = tf.zeros([1 << 20]);  // 4 MiB
    big.dispose();
    const after = tf.memory().native;
    expect(after.bytes).toBe(start.bytes);
    expect(after.peakBytes).toBeGreaterThanOrEqual(start.peakBytes + (4 << 20));
    tf.resetPeakMemory();
    expect(tf.memory().native.peakBytes).toBe(start.bytes + start.scratchBytes);
  });

  test('views share a buffer that lives until the last view is disposed', () => {
    const before = live();
    const t = tf.randn([4, 6]);
    const v = t.transpose(0, 1);
    const s = v.slice(0, 1, 5, 2);
    expect(live()).toEqual({ tensors: before.tensors + 3, buffers: before.buffers + 1, bytes: before.bytes + 96 });
    t.dispose();
    expect(s.toArray()).toEqual(v.slice(0, 1, 5, 2).toArray());  // still readable through the views
    v.dispose();
    s.dispose();
    expect(live().buffers).toBe(before.buffers + 1);  // the temporary slice above is still alive
  });

  test('dispose is idempotent and a disposed tensor raises DisposedError', () => {
    const t = tf.ones([2]);
    t.dispose();
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(() => t.add(1)).toThrow(tf.DisposedError);
    expect(() => t.dataSync()).toThrow(/disposed/);
  });

  test('`using` frees at the end of the block', () => {
    const before = live();
    {
      using a = tf.randn([128, 128]);
      using b = a.mul(2);
      expect(b.shape).toEqual([128, 128]);
      expect(live().tensors).toBe(before.tensors + 2);
    }
    expect(live()).toEqual(before);
  });

  test('scope frees everything except what it returns, and nests', () => {
    const before = live();
    const kept = tf.scope(() => {
      const a = tf.randn([10, 10]);
      const b = a.matmul(a).relu();
      const inner = tf.scope(() => {
        const c = b.add(1);
        return { c, junk: 3 };
      });
      return [inner.c.sum(), b.mean()];
    });
    expect(live().tensors).toBe(before.tensors + 2);
    kept.forEach((t) => t.dispose());
    expect(live()).toEqual(before);
  });

  test('scope disposes everything when its function throws', () => {
    const before = live();
    expect(() =>
      tf.scope(() => {
        tf.randn([5]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(live()).toEqual(before);
  });

  test('keep() lets a tensor outlive its scope', () => {
    const before = live();
    let kept: tf.Tensor | undefined;
    tf.scope(() => {
      kept = tf.keep(tf.ones([3]));
      tf.ones([3]);
    });
    expect(live().tensors).toBe(before.tensors + 1);
    expect(Array.from(kept!.dataSync())).toEqual([1, 1, 1]);
    kept!.dispose();
    expect(live()).toEqual(before);
  });

  test('a training step inside a scope leaks nothing but the gradients it keeps', () => {
    const w = tf.randn([8, 4], { requiresGrad: true });
    const b = tf.zeros([4], { requiresGrad: true });
    const x = tf.randn([16, 8]);
    const before = live();
    for (let step = 0; step < 3; step++) {
      tf.scope(() => {
        const loss = x.matmul(w).add(b).relu().square().mean();
        loss.backward();
      });
    }
    // the only new tensors are the two accumulated .grad tensors
    expect(live().tensors).toBe(before.tensors + 2);
    expect(w.grad!.shape).toEqual([8, 4]);
    w.zeroGrad();
    b.zeroGrad();
    expect(live()).toEqual(before);
    [w, b, x].forEach((t) => t.dispose());
  });

  test('every op leaves the live counts as they were once its results are disposed', () => {
    const a = tf.randn([3, 4]);
    const b = tf.randn([4]);
    const idx = tf.tensor([2, 0, 1], undefined, { dtype: 'int32' });
    const [aT, positive, a3] = [a.T, a.gt(0), a.unsqueeze(0)];  // inputs the ops below share
    const before = live();
    const ops: (() => tf.Tensor)[] = [
      () => a.add(b), () => a.add(2), () => a.div(3), () => a.pow(2), () => a.exp(), () => a.gt(0),
      () => tf.where(positive, a, 0), () => a.sum(1), () => a.mean(), () => a.max(0, true), () => a.argmax(1),
      () => a.matmul(aT), () => aT.contiguous(), () => a.reshape([-1]), () => aT.reshape([12]),
      () => a.slice(1, 0, 4, 2), () => tf.cat([a, a], 0), () => tf.stack([a, a], 1), () => a.indexSelect(0, idx),
      () => a.clamp(-0.5, 0.5), () => a.int(), () => a.select(0, 1), () => a3.squeeze(),
    ];
    for (const op of ops) {
      const r = tf.scope(op);
      r.dispose();
      expect(live()).toEqual(before);
      // and without a scope: disposing the result alone must free everything the op made
      const r2 = op();
      r2.dispose();
      expect(live()).toEqual(before);
    }
    [a, b, idx, aT, positive, a3].forEach((t) => t.dispose());
  });

  test('garbage-collected tensors release their buffers (finalizer safety net)', () => {
    // A child with --expose-gc, loading the compiled package, so GC can be forced.
    const code = `
      const tf = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'ts', 'index.js'))});
      const base = tf.memory().native.bytes;
      for (let i = 0; i < 200; i++) tf.randn([256, 256]);
      const peak = tf.memory().native.bytes;
      setTimeout(() => { global.gc(); setTimeout(() => { global.gc();
        console.log(JSON.stringify({ base, peak, after: tf.memory().native.bytes }));
      }, 50); }, 50);`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', code], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { base, peak, after } = JSON.parse(r.stdout.trim());
    expect(peak - base).toBe(200 * 256 * 256 * 4);
    expect(after - base).toBeLessThan(10 * 256 * 256 * 4);
  });
});

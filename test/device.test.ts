// The device layer (ts/backend.ts, runKernel's dispatch, to(), Module.to, fit on a device), on any
// machine: where no GPU exists, the CPU addon stands in for the CUDA one (a second backend named
// 'cuda'), which is enough to check that every tensor lands, stays and is freed on the device it
// should, and that mixing devices is refused. The CUDA kernels themselves are tested in test/cuda.
import * as tf from '../ts';
import * as native from '../ts/native';
import { makeBackend, setCudaBackendForTesting, startedCudaBackend } from '../ts/backend';
import { expectThrows } from './helpers';

const emulated = !tf.cuda.isAvailable();
beforeAll(() => {
  if (emulated && !startedCudaBackend()) setCudaBackendForTesting(makeBackend('cuda', native.addon));
  tf.setDefaultDevice('cpu');  // also in the 'cuda' test project: these tests say where each tensor goes
});
afterAll(() => {
  tf.setDefaultDevice('cpu');
});

function live() {
  const m = tf.memory();
  return { tensors: m.numTensors, bytes: m.numBytes, cuda: m.cudaBytes };
}

describe('devices', () => {
  test('to() copies between devices, keeps values, and returns the tensor itself for its own device', () => {
    tf.scope(() => {
      const x = tf.tensor([[1, 2, 3], [4, 5, 6]]);
      expect(x.device).toBe('cpu');
      expect(x.to('cpu')).toBe(x);
      const g = x.to('cuda');
      expect(g.device).toBe('cuda');
      expect(g.to('cuda')).toBe(g);
      expect(g.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
      const back = g.transpose(0, 1).to('cpu');  // a strided view crosses as contiguous values
      expect(back.device).toBe('cpu');
      expect(back.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
      expect(x.cuda().cpu().toArray()).toEqual(x.toArray());
      for (const dtype of ['int32', 'bool'] as const) {
        const t = tf.tensor([0, 1, 7], undefined, { dtype }).to('cuda');
        expect(t.dtype).toBe(dtype);
        expect(Array.from(t.dataSync())).toEqual(dtype === 'bool' ? [0, 1, 1] : [0, 1, 7]);
      }
    });
  });

  test('creation ops take a device, and the default device', () => {
    tf.scope(() => {
      expect(tf.zeros([2], { device: 'cuda' }).device).toBe('cuda');
      expect(tf.tensor([1, 2], undefined, { device: 'cuda' }).device).toBe('cuda');
      expect(tf.arange(4, undefined, 1, { device: 'cuda' }).device).toBe('cuda');
      tf.manualSeed(7);
      const a = tf.randn([1000]);
      tf.manualSeed(7);
      const b = tf.randn([1000], { device: 'cuda' });
      // one counter-based generator: the same draws whichever device holds them
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.setDefaultDevice('cuda');
      try {
        expect(tf.getDefaultDevice()).toBe('cuda');
        expect(tf.ones([3]).device).toBe('cuda');
        expect(tf.ones([3], { device: 'cpu' }).device).toBe('cpu');
        expect(tf.onesLike(a).device).toBe('cpu');  // *Like follows its tensor
      } finally {
        tf.setDefaultDevice('cpu');
      }
      expectThrows(() => tf.setDefaultDevice('gpu' as never), tf.DeviceError, /unknown device "gpu" \(expected 'cpu' or 'cuda'\)/);
      expectThrows(() => tf.zeros([1], { device: 'cuda:1' as never }), tf.DeviceError, /unknown device/);
    });
  });

  test('ops run on their inputs\' device; numbers join it; mixing devices is a DeviceError', () => {
    tf.scope(() => {
      const a = tf.tensor([1, -2, 3]).to('cuda');
      const b = tf.tensor([1, 1, 1]);
      const y = a.mul(2).add(1).relu();
      expect(y.device).toBe('cuda');
      expect(Array.from(y.dataSync())).toEqual([3, 0, 7]);
      expect(tf.where(a.gt(0), 1, 0).device).toBe('cuda');
      expect(a.sum().device).toBe('cuda');
      expect(a.reshape([3, 1]).matmul(tf.ones([1, 2], { device: 'cuda' })).device).toBe('cuda');
      expectThrows(() => a.add(b), tf.DeviceError, /expected every tensor on one device, got input 0 on cuda, input 1 on cpu/);
      expectThrows(() => tf.matmul(a.reshape([1, 3]), b.reshape([3, 1])), tf.DeviceError, /cuda.*cpu/);
      // a failed op leaves both inputs usable
      expect(Array.from(a.add(b.to('cuda')).dataSync())).toEqual([2, -1, 4]);
    });
  });

  test('gradients flow back across to()', () => {
    tf.scope(() => {
      const x = tf.tensor([1, 2, 3], undefined, { requiresGrad: true });
      const loss = x.to('cuda').mul(x.to('cuda')).sum();
      expect(loss.device).toBe('cuda');
      loss.backward();
      expect(x.grad!.device).toBe('cpu');
      expect(Array.from(x.grad!.dataSync())).toEqual([2, 4, 6]);
      const w = tf.tensor([0.5, -1], undefined, { device: 'cuda', requiresGrad: true });
      w.to('cpu').mul(tf.tensor([3, 4])).sum().backward();
      expect(w.grad!.device).toBe('cuda');
      expect(Array.from(w.grad!.dataSync())).toEqual([3, 4]);
    });
  });

  test('copy_ writes across devices; await data() reads device tensors', async () => {
    const g = tf.zeros([2, 2], { device: 'cuda' });
    g.copy_(tf.scope(() => tf.tensor([1, 2])));  // broadcast from the CPU
    expect(g.toArray()).toEqual([[1, 2], [1, 2]]);
    const t = g.transpose(0, 1);
    expect(Array.from(await t.data())).toEqual([1, 1, 2, 2]);
    t.dispose();
    g.dispose();
  });

  test('tf.memory() counts device bytes; dispose and scopes free them', () => {
    const before = live();
    const x = tf.zeros([256], { device: 'cuda' });
    expect(live().cuda - before.cuda).toBe(1024);
    tf.scope(() => { x.add(1).mul(3).sum(); });
    expect(live().cuda - before.cuda).toBe(1024);
    x.dispose();
    expect(live()).toEqual(before);
  });

  test('Module.to moves parameters and buffers in place and frees the old ones', () => {
    const before = live();
    const net = new tf.nn.Sequential(new tf.nn.Conv2d(1, 2, 3, { padding: 1 }), new tf.nn.BatchNorm2d(2), new tf.nn.ReLU(),
      new tf.nn.Flatten(), new tf.nn.Linear(2 * 4 * 4, 3));
    const names = net.namedParameters().map(([n]) => n);
    const cpuValues = net.stateDict()['0.weight'].toArray();
    const bytes = live().bytes - before.bytes;
    expect(net.to('cuda')).toBe(net);
    expect(net.namedParameters().map(([n]) => n)).toEqual(names);
    for (const [, t] of [...net.namedParameters(), ...net.namedBuffers()]) expect(t.device).toBe('cuda');
    expect(net.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(net.stateDict()['0.weight'].toArray()).toEqual(cpuValues);
    expect(live().bytes - before.bytes).toBe(bytes);  // the CPU copies were freed
    expect(live().cuda - before.cuda).toBe(bytes);
    const out = tf.scope(() => {
      const y = net.forward(tf.randn([4, 1, 4, 4], { device: 'cuda' }));
      y.sum().backward();
      return y.device;
    });
    expect(out).toBe('cuda');
    const bn = net.modules().find((m) => m instanceof tf.nn.BatchNorm2d) as tf.nn.BatchNorm2d;
    expect(bn.runningMean!.device).toBe('cuda');  // the field follows its buffer
    expect(net.parameters()[0].grad!.device).toBe('cuda');
    net.to('cpu');
    expect(net.parameters()[0].device).toBe('cpu');
    net.zeroGrad();
    net.dispose();
    expect(live()).toEqual(before);
  });

  test('fit() and evaluate() train a model on its device from a CPU loader', async () => {
    const before = live();
    tf.manualSeed(3);
    const x = tf.randn([64, 4]);
    const y = tf.scope(() => x.select(1, 0).gt(0).int());
    const ds = new tf.data.TensorDataset(x, y);
    const model = new tf.nn.Sequential(new tf.nn.Linear(4, 8), new tf.nn.ReLU(), new tf.nn.Linear(8, 2)).to('cuda');
    const optimizer = new tf.optim.Adam(model.parameters(), { lr: 0.05 });
    const history = await tf.train.fit(model, { epochs: 8, optimizer, numClasses: 2, train: new tf.data.DataLoader(ds, { batchSize: 16 }) });
    expect(history[history.length - 1].trainAccuracy).toBeGreaterThan(0.85);
    const res = await tf.train.evaluate(model, new tf.data.DataLoader(ds, { batchSize: 16 }), 2);
    expect(res.accuracy).toBeGreaterThan(0.85);
    expect(model.parameters()[0].device).toBe('cuda');
    optimizer.dispose();
    model.dispose();
    x.dispose();
    y.dispose();
    expect(live()).toEqual(before);
  });
});

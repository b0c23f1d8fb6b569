// nn.Module and the standard layers: discovery and PyTorch names, state dicts, modes, layers
// against the float64 reference, initialisation statistics, typed errors, and no leaks.
import * as tf from '../ts';
import * as ref from './reference';
import { seeded, toRef, fromRef, expectClose, expectNoLeaks, expectThrows, cudaUsable } from './helpers';

const { nn } = tf;

function randRef(rng: ref.Rng, shape: number[], scale = 1): ref.RefTensor {
  return ref.make(shape, () => rng.normal() * scale);
}

class Block extends nn.Module {
  fc1 = new nn.Linear(3, 4);
  norm = new nn.LayerNorm(4);
  heads = [new nn.Linear(4, 2), new nn.Linear(4, 1, { bias: false })];
  scaleFactor = nn.parameter(tf.ones([1]));
  notAParameter = tf.zeros([2]);  // a plain field: neither parameter nor buffer
  constructor() {
    super();
    this.registerBuffer('step_count', tf.zeros([], { dtype: 'int32' }));
    this.registerParameter('weight_extra_l0', tf.zeros([2, 2]));
  }
  forward(x: tf.Tensor): tf.Tensor { return this.heads[0].forward(this.norm.forward(this.fc1.forward(x))).mul(this.scaleFactor); }
}

describe('Module discovery', () => {
  test('parameters, buffers and children come from fields, in order, with PyTorch names', () => {
    const m = new Block();
    expect(m.namedParameters().map(([n]) => n)).toEqual([
      'weight_extra_l0', 'scale_factor', 'fc1.weight', 'fc1.bias', 'norm.weight', 'norm.bias',
      'heads.0.weight', 'heads.0.bias', 'heads.1.weight',
    ]);
    expect(m.namedBuffers().map(([n]) => n)).toEqual(['step_count']);
    expect([...m.namedChildren()].map(([n]) => n)).toEqual(['fc1', 'norm', 'heads.0', 'heads.1']);
    expect(m.modules().length).toBe(5);
    expect(Object.keys(m.stateDict())).toEqual([
      'weight_extra_l0', 'scale_factor', 'step_count', 'fc1.weight', 'fc1.bias', 'norm.weight', 'norm.bias',
      'heads.0.weight', 'heads.0.bias', 'heads.1.weight',
    ]);
    expect(m.numParameters()).toBe(4 + 1 + 12 + 4 + 4 + 4 + 8 + 2 + 4);
    m.fc1.bias!.requiresGrad = false;  // frozen parameters stay parameters
    expect(m.numParameters({ trainableOnly: true })).toBe(4 + 1 + 12 + 4 + 4 + 8 + 2 + 4);
    m.dispose();
    m.notAParameter.dispose();
  });

  test('Sequential names children 0, 1, ...; a shared layer is listed once', () => {
    const shared = new nn.Linear(2, 2);
    const s = new nn.Sequential(shared, new nn.ReLU(), shared);
    expect(Object.keys(s.stateDict())).toEqual(['0.weight', '0.bias']);
    expect(s.parameters().length).toBe(2);
    expect(s.length).toBe(3);
    expect(s.at(-1)).toBe(shared);
    expect(s.toString()).toBe('Sequential(\n  (0): Linear(inFeatures=2, outFeatures=2, bias=true)\n  (1): ReLU()\n  (2): Linear(inFeatures=2, outFeatures=2, bias=true)\n)');
    s.dispose();
  });

  test('train/eval reach every submodule; apply visits children first; zeroGrad clears grads', () => {
    const m = new Block();
    m.eval();
    expect(m.modules().every((x) => !x.training)).toBe(true);
    m.train();
    expect(m.modules().every((x) => x.training)).toBe(true);
    const order: string[] = [];
    m.apply((x) => order.push(x.constructor.name));
    expect(order).toEqual(['Linear', 'LayerNorm', 'Linear', 'Linear', 'Block']);
    tf.scope(() => m.forward(tf.randn([5, 3])).sum().backward());
    expect(m.fc1.weight.grad).not.toBeNull();
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).toBe(true);
    m.dispose();
    m.notAParameter.dispose();
  });
});

describe('state dicts', () => {
  test('a state dict round trip reproduces the outputs; loading copies values, not tensors', () => {
    const a = new Block(), b = new Block();
    tf.scope(() => {
      const x = tf.randn([4, 3]);
      expect(toRef(a.forward(x))).not.toEqual(toRef(b.forward(x)));
      const res = b.loadStateDict(a.stateDict());
      expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
      expectClose(b.forward(x), toRef(a.forward(x)), 0, 0);
      expect(b.fc1.weight).not.toBe(a.fc1.weight);
    });
    [a, b].forEach((m) => { m.dispose(); m.notAParameter.dispose(); });
  });

  test('strict loading rejects missing and unexpected keys and wrong shapes, changing nothing', () => {
    const m = new nn.Linear(3, 2);
    const before = toRef(m.weight);
    tf.scope(() => {
      expectThrows(() => m.loadStateDict({ weight: tf.zeros([2, 3]) }), tf.ArgumentError, /missing keys bias/);
      expectThrows(() => m.loadStateDict({ weight: tf.zeros([2, 3]), bias: tf.zeros([2]), extra: tf.zeros([1]) }), tf.ArgumentError, /unexpected keys extra/);
      expectThrows(() => m.loadStateDict({ weight: tf.zeros([2, 3]), bias: tf.zeros([3]) }), tf.ShapeError, /'bias' has shape \[3\].*expects \[2\]/);
      expectThrows(() => m.loadStateDict({ weight: tf.zeros([2, 3]), bias: 5 as never }), tf.ArgumentError, /'bias' must be a Tensor/);
      expect(toRef(m.weight)).toEqual(before);
      const res = m.loadStateDict({ weight: tf.ones([2, 3]), extra: tf.zeros([1]) }, { strict: false });
      expect(res).toEqual({ missingKeys: ['bias'], unexpectedKeys: ['extra'] });
      expect(Array.from(m.weight.dataSync())).toEqual([1, 1, 1, 1, 1, 1]);
    });
    m.dispose();
  });

  test('loading casts to the buffer dtype (an int32 counter from a float tensor)', () => {
    const bn = new nn.BatchNorm2d(2);
    tf.scope(() => {
      const sd = { ...bn.stateDict(), num_batches_tracked: tf.tensor([7]).reshape([]) };
      bn.loadStateDict(sd);
    });
    expect(bn.numBatchesTracked!.dtype).toBe('int32');
    expect(bn.numBatchesTracked!.item()).toBe(7);
    bn.dispose();
  });
});

describe('layers against the float64 reference', () => {
  seeded('Linear: x·Wᵀ + b for 1-D, 2-D and 3-D inputs, and its gradients', (rng) => {
    const lin = new nn.Linear(5, 3);
    for (const shape of [[5], [4, 5], [2, 3, 5]]) {
      const xr = randRef(rng, shape);
      const x = fromRef(xr, { requiresGrad: true });
      const y = lin.forward(x);
      const w = toRef(lin.weight), b = toRef(lin.bias!);
      const x2 = shape.length === 1 ? ref.tensor(xr.data, [1, 5]) : ref.tensor(xr.data, [xr.data.length / 5, 5]);
      const wt = ref.make([5, 3], ([i, j]) => w.data[j * 5 + i]);
      const yr = ref.matmul(x2, wt);
      const expected = ref.make([...shape.slice(0, -1), 3], (idx) => {
        const row = idx.slice(0, -1).reduce((acc, v, k) => acc * shape[k] + v, 0);
        return yr.data[row * 3 + idx[idx.length - 1]] + b.data[idx[idx.length - 1]];
      });
      expectClose(y, expected, 1e-5, 1e-6, `Linear ${JSON.stringify(shape)}`);
      y.sum().backward();
      // d(sum y)/dx = column sums of W; d/db = number of rows
      const rows = x2.shape[0];
      expectClose(x.grad!, ref.make(shape, (idx) => w.data[idx[idx.length - 1]] + w.data[5 + idx[idx.length - 1]] + w.data[10 + idx[idx.length - 1]]), 1e-5, 1e-6, 'dx');
      expectClose(lin.bias!.grad!, ref.full([3], rows), 0, 0, 'db');
      lin.zeroGrad();
    }
    lin.dispose();
  });

  seeded('Conv2d, pooling, norm, activation and loss modules equal their tf.F ops', (rng) => {
    const x = fromRef(randRef(rng, [2, 4, 9, 7]));
    const conv = new nn.Conv2d(4, 6, [3, 2], { stride: 2, padding: 1, groups: 2 });
    expect(conv.weight.shape).toEqual([6, 2, 3, 2]);
    expectClose(conv.forward(x), toRef(tf.F.conv2d(x, conv.weight, conv.bias, { stride: 2, padding: 1, groups: 2 })), 0, 0);
    const pairs: [tf.nn.Module, (t: tf.Tensor) => tf.Tensor][] = [
      [new nn.MaxPool2d(2), (t) => tf.F.maxPool2d(t, { kernelSize: 2 })],
      [new nn.AvgPool2d(3, { stride: 2, padding: 1 }), (t) => tf.F.avgPool2d(t, { kernelSize: 3, stride: 2, padding: 1 })],
      [new nn.AdaptiveAvgPool2d(1), (t) => tf.F.adaptiveAvgPool2d(t, 1)],
      [new nn.ReLU(), tf.F.relu], [new nn.Sigmoid(), tf.F.sigmoid], [new nn.Tanh(), tf.F.tanh],
      [new nn.GELU(), (t) => tf.F.gelu(t)], [new nn.GELU('tanh'), (t) => tf.F.gelu(t, { approximate: 'tanh' })],
      [new nn.Softmax(1), (t) => tf.F.softmax(t, 1)], [new nn.LogSoftmax(-1), (t) => tf.F.logSoftmax(t, -1)],
      [new nn.Flatten(), (t) => t.reshape([2, -1])], [new nn.Flatten(0, 1), (t) => t.reshape([8, 9, 7])], [new nn.Identity(), (t) => t],
    ];
    for (const [m, f] of pairs) expectClose(m.forward(x) as tf.Tensor, toRef(f(x)), 0, 0, m.constructor.name);
    const logits = fromRef(randRef(rng, [6, 5]));
    const target = tf.tensor([0, 4, 2, 1, 3, 4], [6], { dtype: 'int32' });
    expectClose(new nn.CrossEntropyLoss({ labelSmoothing: 0.1 }).forward(logits, target), toRef(tf.F.crossEntropy(logits, target, { labelSmoothing: 0.1 })), 0, 0);
    expectClose(new nn.NLLLoss().forward(logits.logSoftmax(1), target), toRef(tf.F.nllLoss(logits.logSoftmax(1), target)), 0, 0);
    const t2 = fromRef(randRef(rng, [6, 5]));
    expectClose(new nn.MSELoss({ reduction: 'sum' }).forward(logits, t2), toRef(tf.F.mseLoss(logits, t2, { reduction: 'sum' })), 0, 0);
    const probs = t2.sigmoid();
    expectClose(new nn.BCEWithLogitsLoss().forward(logits, probs), toRef(tf.F.binaryCrossEntropyWithLogits(logits, probs)), 0, 0);
    conv.dispose();
  });

  seeded('BatchNorm2d: batch statistics and running-stat updates in training, running stats in eval', (rng) => {
    const bn = new nn.BatchNorm2d(3, { momentum: 0.2 });
    let rm = ref.zeros([3]), rv = ref.ones([3]);
    for (let step = 0; step < 3; step++) {
      const xr = randRef(rng, [4, 3, 5, 2], 2);
      const y = bn.forward(fromRef(xr));
      const expected = ref.batchNorm(xr, rm, rv, toRef(bn.weight!), toRef(bn.bias!), { training: true, momentum: 0.2, eps: 1e-5 });
      rm = expected.runningMean!;
      rv = expected.runningVar!;
      expectClose(y, expected.y, 1e-5, 1e-5, `train step ${step}`);
      expectClose(bn.runningMean!, rm, 1e-5, 1e-6, 'running mean');
      expectClose(bn.runningVar!, rv, 1e-5, 1e-6, 'running var');
    }
    expect(bn.numBatchesTracked!.item()).toBe(3);
    bn.eval();
    const xr = randRef(rng, [2, 3, 4, 4]);
    expectClose(bn.forward(fromRef(xr)), ref.batchNorm(xr, rm, rv, toRef(bn.weight!), toRef(bn.bias!), { training: false, eps: 1e-5 }).y, 1e-5, 1e-5, 'eval');
    expect(bn.numBatchesTracked!.item()).toBe(3);
    expectThrows(() => bn.forward(tf.zeros([2, 3])), tf.ShapeError, /BatchNorm2d: expected a 4-D input/);
    bn.dispose();
  });

  seeded('BatchNorm1d: a cumulative average with momentum null; no running stats uses batch statistics in eval', (rng) => {
    const bn = new nn.BatchNorm1d(2, { momentum: null });
    const batches = [randRef(rng, [5, 2]), randRef(rng, [5, 2]), randRef(rng, [5, 2])];
    batches.forEach((b) => bn.forward(fromRef(b)));
    // the running mean is the plain average of the three batch means
    const mean = (c: number) => batches.reduce((acc, b) => acc + (b.data[c] + b.data[2 + c] + b.data[4 + c] + b.data[6 + c] + b.data[8 + c]) / 5, 0) / 3;
    expectClose(bn.runningMean!, ref.tensor([mean(0), mean(1)], [2]), 1e-5, 1e-6);
    const free = new nn.BatchNorm1d(2, { trackRunningStats: false, affine: false });
    expect(Object.keys(free.stateDict())).toEqual([]);
    free.eval();
    const xr = randRef(rng, [6, 2, 3]);
    expectClose(free.forward(fromRef(xr)), ref.batchNorm(xr, null, null, null, null, { training: true, eps: 1e-5 }).y, 1e-5, 1e-5);
    bn.dispose();
  });

  seeded('LayerNorm, Dropout and Embedding', (rng) => {
    const ln = new nn.LayerNorm([3, 4], { eps: 1e-3 });
    const xr = randRef(rng, [2, 3, 4]);
    expectClose(ln.forward(fromRef(xr)), ref.layerNorm(xr, [3, 4], toRef(ln.weight!), toRef(ln.bias!), 1e-3), 1e-5, 1e-5);
    expect(new nn.LayerNorm(4, { elementwiseAffine: false }).parameters()).toEqual([]);

    const drop = new nn.Dropout(0.25);
    const ones = tf.ones([4000]);
    const kept = Array.from(drop.forward(ones).dataSync());
    expect(kept.every((v) => v === 0 || Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
    const frac = kept.filter((v) => v !== 0).length / kept.length;
    expect(Math.abs(frac - 0.75)).toBeLessThan(0.04);
    drop.eval();
    expect(Array.from(drop.forward(ones).dataSync()).every((v) => v === 1)).toBe(true);

    const emb = new nn.Embedding(6, 3, { paddingIdx: -1 });
    expect(emb.paddingIdx).toBe(5);
    expect(Array.from(emb.weight.select(0, 5).dataSync())).toEqual([0, 0, 0]);
    const idx = tf.tensor([[5, 0], [2, 5]], undefined, { dtype: 'int32' });
    const y = emb.forward(idx);
    expectClose(y, ref.embedding(toRef(idx), toRef(emb.weight)), 0, 0);
    y.sum().backward();
    expect(Array.from(emb.weight.grad!.select(0, 5).dataSync())).toEqual([0, 0, 0]);
    expect(Array.from(emb.weight.grad!.select(0, 2).dataSync())).toEqual([1, 1, 1]);
    emb.dispose();
    ln.dispose();
  });
});

describe('initialisation', () => {
  test('Linear and Conv2d draw from U(-1/√fanIn, 1/√fanIn) as PyTorch does', () => {
    tf.manualSeed(7);
    const lin = new nn.Linear(400, 300);
    const conv = new nn.Conv2d(16, 32, 3);
    for (const [t, fanIn] of [[lin.weight, 400], [lin.bias!, 400], [conv.weight, 144], [conv.bias!, 144]] as [tf.Tensor, number][]) {
      const v = Array.from(t.dataSync());
      const bound = 1 / Math.sqrt(fanIn);
      expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
      if (v.length > 1000) {
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
        expect(Math.abs(mean)).toBeLessThan(0.05 * bound);
        expect(Math.abs(sd - bound / Math.sqrt(3))).toBeLessThan(0.03 * bound);
      }
    }
    lin.dispose();
    conv.dispose();
  });

  test('nn.init: gains, fans and the kaiming/xavier spreads', () => {
    const { init } = nn;
    expect(init.calculateGain('relu')).toBeCloseTo(Math.SQRT2, 12);
    expect(init.calculateGain('tanh')).toBeCloseTo(5 / 3, 12);
    expect(init.calculateGain('leaky_relu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 12);
    tf.scope(() => {
      const w = tf.zeros([64, 32, 3, 3]);
      expect(init.calculateFans(w)).toEqual([288, 576]);
      const sd = (t: tf.Tensor) => {
        const v = Array.from(t.dataSync());
        const m = v.reduce((a, b) => a + b, 0) / v.length;
        return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
      };
      expect(sd(init.kaimingNormal_(w, { nonlinearity: 'relu' })) / Math.sqrt(2 / 288)).toBeCloseTo(1, 1);
      expect(sd(init.kaimingUniform_(w, { mode: 'fanOut', nonlinearity: 'relu' })) / Math.sqrt(2 / 576)).toBeCloseTo(1, 1);
      expect(sd(init.xavierUniform_(w)) / Math.sqrt(2 / (288 + 576))).toBeCloseTo(1, 1);
      expect(sd(init.xavierNormal_(w, 2)) / (2 * Math.sqrt(2 / (288 + 576)))).toBeCloseTo(1, 1);
      expect(Array.from(init.constant_(tf.zeros([3]), 2.5).dataSync())).toEqual([2.5, 2.5, 2.5]);
      expectThrows(() => init.xavierUniform_(tf.zeros([5])), tf.ArgumentError, /at least 2 dims/);
    });
  });
});

describe('copy_ and fill_', () => {
  test('copy_ broadcasts and casts in place, outside autograd', () => {
    tf.scope(() => {
      const t = tf.zeros([2, 3]);
      t.copy_(tf.tensor([1, 2, 3]));
      expect(t.toArray()).toEqual([[1, 2, 3], [1, 2, 3]]);
      const i = tf.zeros([2], { dtype: 'int32' }).copy_(tf.tensor([2.7, -1.2]));
      expect(i.toArray()).toEqual([2, -1]);
      const col = t.select(1, 0);  // a strided view writes through
      col.fill_(9);
      expect(t.toArray()).toEqual([[9, 2, 3], [9, 2, 3]]);
      expectThrows(() => t.copy_(tf.zeros([3, 2])), tf.ShapeError, /cannot expand/);
      const p = tf.ones([2], { requiresGrad: true });
      expectThrows(() => p.mul(2).copy_(tf.zeros([2])), tf.ArgumentError, /non-leaf/);
      expectThrows(() => t.copy_('x' as never), tf.ArgumentError, /Tensor or a number/);
    });
  });
});

describe('errors and memory', () => {
  test('bad layer arguments and inputs raise typed errors', () => {
    expectThrows(() => new nn.Linear(-1, 2), tf.ArgumentError, /inFeatures must be an integer >= 0/);
    expectThrows(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), tf.ValueError, /divisible by groups/);
    expectThrows(() => new nn.Dropout(1.5), tf.ValueError, /p must be in \[0, 1\]/);
    expectThrows(() => new nn.Embedding(4, 2, { paddingIdx: 4 }), tf.IndexError, /paddingIdx/);
    expectThrows(() => new nn.BatchNorm2d(2, { momentum: 2 }), tf.ValueError, /momentum/);
    expectThrows(() => new nn.Sequential(new nn.ReLU(), {} as never), tf.ArgumentError, /argument 1 is not a Module/);
    const lin = new nn.Linear(3, 2);
    tf.scope(() => expectThrows(() => lin.forward(tf.zeros([4, 5])), tf.ShapeError, /last dim 3/));
    if (!cudaUsable()) expectThrows(() => lin.to('cuda'), tf.DeviceError, /CUDA is not available/);
    expect(lin.to('cpu')).toBe(lin);
    expectThrows(() => lin.registerBuffer('a.b', null), tf.ArgumentError, /without '.'/);
    lin.dispose();
  });

  test('building, training inside a scope, and disposing a model leaks nothing', () => {
    expectNoLeaks(() => {
      const model = new nn.Sequential(new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(),
        new nn.MaxPool2d(2), new nn.Flatten(), new nn.Dropout(0.1), new nn.Linear(4 * 4 * 4, 3));
      const lossFn = new nn.CrossEntropyLoss();
      for (let step = 0; step < 3; step++) {
        const before = tf.memory().numTensors;
        tf.scope(() => {
          const loss = lossFn.forward(model.forward(tf.randn([5, 1, 8, 8])), tf.tensor([0, 1, 2, 1, 0], [5], { dtype: 'int32' }));
          loss.backward();
        });
        // only the gradients (one per parameter, made on the first step) outlive the step
        expect(tf.memory().numTensors - before).toBe(step === 0 ? model.parameters().length : 0);
      }
      model.dispose();
    });
  });
});

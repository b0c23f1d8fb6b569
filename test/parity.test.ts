// End-to-end parity with PyTorch (fixtures from scripts/fixtures/parity.py): each model starts from
// the weights PyTorch saved in a safetensors file, then
//   - every parameter gradient of the first step matches within 1e-4 relative + 1e-6 absolute;
//   - the loss at each of 10 optimizer steps (SGD with momentum, AdamW) matches within 1e-4
//     relative. PyTorch ran in float64, so the bound covers this engine's float32 rounding.
import * as path from 'path';
import * as tf from '../ts';
import { toRef, expectClose, expectNoLeaks } from './helpers';

const dir = path.join(__dirname, 'fixtures', 'parity');
const { models } = tf;

const builders: Record<string, () => tf.nn.Module> = {
  mlp: () => models.mlp(),
  cnn: () => models.cnn({ channels: [8, 16], hidden: 32 }),
  lstm: () => new models.LstmClassifier({ vocabSize: 40, embedDim: 12, hiddenSize: 16, numLayers: 2, classes: 3 }),
  transformer: () => new models.TransformerClassifier({ vocabSize: 40, dModel: 16, numHeads: 4, dimFeedforward: 32, numLayers: 2, classes: 3, maxLength: 16, dropout: 0 }),
};

interface Fixture { init: tf.nn.StateDict; grads: Record<string, tf.Tensor>; input: tf.Tensor; target: tf.Tensor; meta: Record<string, string> }

function loadFixture(name: string): Fixture {
  const { tensors, metadata } = tf.io.loadWithMetadata(path.join(dir, `${name}.safetensors`));
  const pick = (prefix: string) => Object.fromEntries(Object.entries(tensors)
    .filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), tf.keep(v)]));
  return { init: pick('init.'), grads: pick('grad.'), input: tf.keep(tensors.input), target: tf.keep(tensors.target), meta: metadata };
}
const disposeFixture = (f: Fixture) => [...Object.values(f.init), ...Object.values(f.grads), f.input, f.target].forEach((t) => t.dispose());

function makeOptimizer(kind: string, params: tf.Tensor[], settings: Record<string, unknown>) {
  const s = settings as { lr: number; momentum?: number; weight_decay: number; betas?: [number, number]; eps?: number };
  if (kind === 'sgd') return new tf.optim.SGD(params, { lr: s.lr, momentum: s.momentum, weightDecay: s.weight_decay });
  return new tf.optim.AdamW(params, { lr: s.lr, betas: s.betas, eps: s.eps, weightDecay: s.weight_decay });
}

const relDiff = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe.each(Object.keys(builders))('%s matches PyTorch', (name) => {
  let fx: Fixture;
  beforeAll(() => { fx = loadFixture(name); });
  afterAll(() => disposeFixture(fx));

  test('the model has exactly the parameters and names PyTorch saved', () => {
    const model = builders[name]();
    const shapes = (sd: tf.nn.StateDict) => Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, v.shape]));
    expect(shapes(model.stateDict())).toEqual(shapes(fx.init));
    model.dispose();
  });

  test('every parameter gradient of the first step', () => {
    const model = builders[name]();
    model.loadStateDict(fx.init);
    tf.scope(() => {
      const loss = tf.F.crossEntropy(model.forward(fx.input), fx.target);
      loss.backward();
      expect(relDiff(loss.item(), JSON.parse(fx.meta.losses_sgd)[0])).toBeLessThan(1e-4);
    });
    const named = model.namedParameters();
    expect(named.map(([n]) => n).sort()).toEqual(Object.keys(fx.grads).sort());
    for (const [n, p] of named) expectClose(p.grad!, toRef(fx.grads[n]), 1e-4, 1e-6, `${name} grad ${n}`);
    model.dispose();
  });

  test.each(['sgd', 'adamw'])('losses over 10 %s steps', (kind) => {
    const expected: number[] = JSON.parse(fx.meta[`losses_${kind}`]);
    expect(expected.length).toBe(Number(fx.meta.steps));
    const model = builders[name]();
    model.loadStateDict(fx.init);
    const opt = makeOptimizer(kind, model.parameters(), JSON.parse(fx.meta[kind]));
    const losses: number[] = [];
    expectNoLeaks(() => {
      for (let step = 0; step < expected.length; step++) {
        losses.push(tf.scope(() => {
          opt.zeroGrad();
          const loss = tf.F.crossEntropy(model.forward(fx.input), fx.target);
          loss.backward();
          opt.step();
          return loss.item();
        }));
      }
      opt.zeroGrad();
      opt.dispose();
    });
    losses.forEach((l, i) => {
      if (!(relDiff(l, expected[i]) < 1e-4)) throw new Error(`${name} ${kind} step ${i}: loss ${l} vs PyTorch ${expected[i]}`);
    });
    // training moved the loss, so the comparison is not of ten copies of the first step
    expect(Math.abs(expected[expected.length - 1] - expected[0])).toBeGreaterThan(1e-3);
    model.dispose();
  });
});

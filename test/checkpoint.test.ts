// Checkpoints: a run stopped after epoch k and resumed from its checkpoint (into a freshly
// initialised model and optimizer) produces exactly the losses of an uninterrupted run.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '../ts';
import { expectThrows, expectNoLeaks } from './helpers';

const { nn, optim, io } = tf;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-ckpt-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function makeRun(seed: number) {
  tf.manualSeed(seed);
  const model = new nn.Sequential(new nn.Linear(6, 16), new nn.ReLU(), new nn.Dropout(0.2), new nn.BatchNorm1d(16), new nn.Linear(16, 3));
  const optimizer = new optim.AdamW(model.parameters(), { lr: 0.01 });
  const scheduler = new optim.StepLR(optimizer, { stepSize: 2, gamma: 0.5 });
  return { model, optimizer, scheduler };
}

/** One epoch: 4 batches drawn from the shared generator (so the generator's position matters). */
function epoch(run: ReturnType<typeof makeRun>): number[] {
  const losses: number[] = [];
  for (let b = 0; b < 4; b++) {
    losses.push(tf.scope(() => {
      const x = tf.randn([8, 6]);
      const y = tf.randint(0, 3, [8]);
      run.optimizer.zeroGrad();
      const loss = tf.F.crossEntropy(run.model.forward(x), y);
      loss.backward();
      run.optimizer.step();
      return loss.item();
    }));
  }
  run.scheduler.step();
  return losses;
}

const dispose = (run: ReturnType<typeof makeRun>) => {
  run.optimizer.dispose();
  run.model.dispose();
};

describe('checkpoints', () => {
  test('resuming from a checkpoint gives the same losses as an uninterrupted run', () => {
    const whole = makeRun(11);
    const expected = [0, 1, 2, 3, 4].flatMap(() => epoch(whole));
    dispose(whole);

    const file = path.join(tmp, 'run.safetensors');
    const first = makeRun(11);
    const got = [0, 1].flatMap(() => epoch(first));
    io.saveCheckpoint(file, { ...first, epoch: 2, extra: { note: 'after two epochs' } });
    dispose(first);

    tf.manualSeed(999);  // a different generator position and different initial weights
    const resumed = makeRun(5);
    const info = io.loadCheckpoint(file, resumed);
    expect(info).toEqual({ epoch: 2, extra: { note: 'after two epochs' } });
    expect(resumed.optimizer.paramGroups[0].lr).toBeCloseTo(0.005, 12);
    got.push(...[2, 3, 4].flatMap(() => epoch(resumed)));
    dispose(resumed);
    expect(got).toEqual(expected);  // bit for bit
  });

  test('the file holds the model under PyTorch names and the optimizer state tensors', () => {
    const run = makeRun(3);
    epoch(run);
    const file = path.join(tmp, 'layout.safetensors');
    io.saveCheckpoint(file, { ...run, epoch: 1 });
    const header = io.readHeader(file);
    const names = Object.keys(header.tensors);
    expect(names).toEqual(expect.arrayContaining(['model.0.weight', 'model.3.running_mean', 'model.3.num_batches_tracked', 'optimizer.state.0.exp_avg', 'optimizer.state.5.exp_avg_sq']));
    expect(JSON.parse(header.metadata['tensorforge.checkpoint']).optimizer.kind).toBe('AdamW');
    dispose(run);
  });

  test('mismatches raise typed errors and load nothing; no leaks', () => {
    const run = makeRun(4);
    epoch(run);
    const file = path.join(tmp, 'adamw.safetensors');
    io.saveCheckpoint(file, { model: run.model, optimizer: run.optimizer, epoch: 1 });
    expectNoLeaks(() => {
      const sgd = new optim.SGD(run.model.parameters(), { lr: 0.1 });
      expectThrows(() => io.loadCheckpoint(file, { model: run.model, optimizer: sgd }), tf.ArgumentError, /optimizer is AdamW, not SGD/);
      sgd.dispose();
      expectThrows(() => io.loadCheckpoint(file, { model: run.model, scheduler: run.scheduler }), tf.ArgumentError, /no scheduler state/);
      const other = new nn.Sequential(new nn.Linear(6, 4));
      expectThrows(() => io.loadCheckpoint(file, { model: other }), tf.ArgumentError, /unexpected keys/);
      other.dispose();
      const plain = path.join(tmp, 'plain.safetensors');
      io.save(run.model.stateDict(), plain);
      expectThrows(() => io.loadCheckpoint(plain, { model: run.model }), tf.FormatError, /not a tensorforge checkpoint/);
      fs.writeFileSync(path.join(tmp, 'cut.safetensors'), fs.readFileSync(file).subarray(0, 100));
      expectThrows(() => io.loadCheckpoint(path.join(tmp, 'cut.safetensors'), { model: run.model }), tf.FormatError, /cut\.safetensors/);
    });
    expectThrows(() => io.saveCheckpoint(file, { model: run.model, epoch: -1 }), tf.ArgumentError, /epoch must be a non-negative integer/);
    dispose(run);
  });
});

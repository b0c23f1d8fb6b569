// Training and evaluation loops for classifiers, shared by the CLI and the examples.
//
// fit() is async and hands the event loop back between batches (setImmediate), so timers, I/O and
// progress output keep running while a model trains; each batch is one synchronous step inside a
// tf.scope, so nothing but parameters, gradients and optimizer state outlives it.
import { Tensor } from '../tensor';
import type { Device } from '../backend';
import { scope } from '../storage';
import { noGrad } from '../autograd';
import { Module } from '../nn/module';
import type { AnyOptimizer } from '../optim/optimizer';
import { clipGradNorm } from '../optim/clip';
import type { LRScheduler } from '../optim/lrScheduler';
import type { DataLoader } from '../data/dataloader';
import { crossEntropy } from '../ops/loss';
import { ArgumentError, ValueError } from '../errors';

export interface BatchProgress {
  epoch: number;        // 0-based
  batch: number;        // batches done in this epoch
  batches: number;      // batches per epoch
  loss: number;         // running mean loss of this epoch
  samplesPerSecond: number;
  etaSeconds: number;   // for the rest of this epoch
}

export interface EvalResult {
  loss: number;
  accuracy: number;
  /** confusion[true][predicted] */
  confusion: number[][];
  count: number;
}

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  validation: EvalResult | null;
  seconds: number;
  samplesPerSecond: number;
  lr: number;
}

export interface FitOptions {
  epochs: number;
  optimizer: AnyOptimizer;
  train: DataLoader;
  validation?: DataLoader | null;
  numClasses: number;
  scheduler?: LRScheduler | null;
  /** when the scheduler steps: after every batch or after every epoch (default) */
  schedulerStep?: 'batch' | 'epoch';
  /** epochs already done (a resumed run starts there) */
  startEpoch?: number;
  /** clip the gradient norm to this before each step */
  clipGradNorm?: number | null;
  onBatch?: (p: BatchProgress) => void;
  onEpoch?: (m: EpochMetrics) => void | Promise<void>;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Counts correct predictions and fills the confusion matrix; returns the number correct. */
function tally(logits: Tensor, target: Tensor, confusion: number[][] | null): number {
  const pred = noGrad(() => logits.argmax(1)).dataSync();
  const truth = target.dataSync();
  let correct = 0;
  for (let i = 0; i < pred.length; i++) {
    if (pred[i] === truth[i]) correct++;
    if (confusion) confusion[truth[i]][pred[i]]++;
  }
  return correct;
}

/** The batch's [input, target], on the model's device (loaders yield CPU tensors; a moved copy
 *  is freed with the step's scope). */
function checkBatch(batch: Tensor[], device: Device): [Tensor, Tensor] {
  if (batch.length !== 2) throw new ArgumentError(`a classification loader must yield [input, target] batches, got ${batch.length} tensors`);
  return [batch[0].to(device), batch[1].to(device)];
}

/** Where a model's parameters live ('cpu' for a model without any). */
function deviceOf(model: Module<[Tensor], Tensor>): Device {
  const first = model.parameters()[0];
  return first ? first.device : 'cpu';
}

/** Loss, accuracy and confusion matrix of a classifier over a loader, in eval mode and without
 *  gradients. Yields to the event loop between batches. The model's mode is restored. */
export async function evaluate(model: Module<[Tensor], Tensor>, loader: DataLoader, numClasses: number): Promise<EvalResult> {
  const wasTraining = model.training;
  model.eval();
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let lossSum = 0, correct = 0, count = 0;
  const device = deviceOf(model);
  try {
    for (const batch of loader) {
      scope(() => noGrad(() => {
        try {
          const [x, y] = checkBatch(batch, device);
          const logits = model.forward(x);
          lossSum += crossEntropy(logits, y, { reduction: 'sum' }).item();
          correct += tally(logits, y, confusion);
          count += y.shape[0];
        } finally {
          batch.dispose();
        }
      }));
      await yieldToEventLoop();
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: count ? lossSum / count : NaN, accuracy: count ? correct / count : NaN, confusion, count };
}

/** Trains a classifier with cross-entropy; returns the metrics of every epoch. */
export async function fit(model: Module<[Tensor], Tensor>, opts: FitOptions): Promise<EpochMetrics[]> {
  const { epochs, optimizer, train, numClasses } = opts;
  if (!(Number.isSafeInteger(epochs) && epochs >= 0)) throw new ValueError(`epochs must be a non-negative integer, got ${epochs}`);
  const start = opts.startEpoch ?? 0;
  const params = model.parameters();
  const device = deviceOf(model);
  const history: EpochMetrics[] = [];
  for (let epoch = start; epoch < epochs; epoch++) {
    model.train();
    train.setEpoch(epoch);
    const t0 = performance.now();
    let lossSum = 0, correct = 0, count = 0, batchIndex = 0;
    const batches = train.length;
    const lr = optimizer.paramGroups[0].lr;
    for (const batch of train) {
      scope(() => {
        try {
          const [x, y] = checkBatch(batch, device);
          optimizer.zeroGrad();
          const logits = model.forward(x);
          const loss = crossEntropy(logits, y);
          loss.backward();
          if (opts.clipGradNorm) clipGradNorm(params, opts.clipGradNorm);
          optimizer.step();
          if (opts.schedulerStep === 'batch') opts.scheduler?.step();
          const n = y.shape[0];
          lossSum += loss.item() * n;
          correct += tally(logits, y, null);
          count += n;
        } finally {
          batch.dispose();
        }
      });
      batchIndex++;
      if (opts.onBatch) {
        const elapsed = (performance.now() - t0) / 1000;
        const rate = count / elapsed;
        opts.onBatch({ epoch, batch: batchIndex, batches, loss: lossSum / count, samplesPerSecond: rate, etaSeconds: (elapsed / batchIndex) * (batches - batchIndex) });
      }
      await yieldToEventLoop();
    }
    const seconds = (performance.now() - t0) / 1000;
    const validation = opts.validation ? await evaluate(model, opts.validation, numClasses) : null;
    if (opts.schedulerStep !== 'batch') opts.scheduler?.step();
    const metrics: EpochMetrics = {
      epoch, trainLoss: lossSum / count, trainAccuracy: correct / count, validation, seconds, samplesPerSecond: count / seconds, lr,
    };
    history.push(metrics);
    await opts.onEpoch?.(metrics);
  }
  return history;
}

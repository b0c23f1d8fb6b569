// `tensorforge evaluate` and `tensorforge predict`: load a directory written by `train` (the model
// card travels in model.safetensors' metadata, so the weights file alone rebuilds the model),
// then report test-set metrics, or classify images / texts.
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../tensor';
import { noGrad } from '../autograd';
import { scope } from '../storage';
import { Module } from '../nn/module';
import { loadWithMetadata } from '../io/safetensors';
import { DataLoader, TensorDataset } from '../data/dataloader';
import { loadFashionMnist } from '../data/fashionMnist';
import { loadSpamAssassin, Vocabulary, tokenize, stripEmailHeaders } from '../data/text';
import { parseIdx } from '../data/idx';
import { decodePng, resizeGray } from '../data/png';
import { tensorFrom } from '../data/tensorFrom';
import { evaluate as evaluateModel } from '../train';
import { FormatError, ArgumentError } from '../errors';
import { buildModel } from './tasks';
import type { ModelCard } from './train';

export interface LoadedModel { card: ModelCard; model: Module<[Tensor], Tensor>; vocab: Vocabulary | null }

/** Rebuilds a trained model from its directory (or its model.safetensors path). */
export function loadModelDir(dirOrFile: string): LoadedModel {
  const file = fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isDirectory() ? path.join(dirOrFile, 'model.safetensors') : dirOrFile;
  if (!fs.existsSync(file)) throw new ArgumentError(`--model: ${file} does not exist (train a model first: tensorforge train --out <dir>)`);
  const { tensors, metadata } = loadWithMetadata(file);
  try {
    const raw = metadata['tensorforge.card'];
    if (!raw) throw new FormatError(`${file}: no 'tensorforge.card' metadata: not a model written by tensorforge train`);
    let card: ModelCard;
    try {
      card = JSON.parse(raw);
    } catch {
      throw new FormatError(`${file}: the model card in its metadata is not valid JSON`);
    }
    if (card?.format !== 'tensorforge-model-card/1' || !card.architecture) throw new FormatError(`${file}: unknown model card format '${String(card?.format)}'`);
    const model = buildModel(card.architecture);
    try {
      model.loadStateDict(tensors);
    } catch (e) {
      model.dispose();
      throw e;
    }
    model.eval();
    let vocab: Vocabulary | null = null;
    if (card.preprocessing.kind === 'text') {
      const vfile = path.join(path.dirname(file), String(card.preprocessing.vocabulary));
      if (!fs.existsSync(vfile)) throw new ArgumentError(`${vfile} is missing: a text model needs the vocabulary saved beside it`);
      vocab = Vocabulary.fromJSON(JSON.parse(fs.readFileSync(vfile, 'utf8')));
    }
    return { card, model, vocab };
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}

export interface ClassMetrics { name: string; precision: number; recall: number; f1: number; support: number }

/** Precision, recall and F1 per class from a confusion matrix (rows: truth, columns: prediction). */
export function perClassMetrics(confusion: number[][], classes: readonly string[]): ClassMetrics[] {
  return classes.map((name, c) => {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c], 0);
    const precision = predicted ? tp / predicted : 0, recall = support ? tp / support : 0;
    return { name, precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0, support };
  });
}

export async function evaluateDir(modelDir: string, opts: { dataDir?: string; batchSize: number; limit?: number }) {
  const { card, model } = loadModelDir(modelDir);
  try {
    let dataset: TensorDataset;
    if (card.preprocessing.kind === 'text') {
      if (opts.dataDir) throw new ArgumentError('--data applies to image models');
      // the same seed and options rebuild the same held-out split the model was tested on
      const { train, test } = loadSpamAssassin({ seed: card.seed, testFraction: 0.2, maxLength: Number(card.preprocessing.maxLength), maxVocab: 20000 });
      [train.inputs, train.labels].forEach((t) => t.dispose());
      dataset = new TensorDataset(test.inputs, test.labels);
      [test.inputs, test.labels].forEach((t) => t.dispose());
    } else {
      const p = card.preprocessing as { mean: number; std: number };
      const set = loadFashionMnist({ dir: opts.dataDir, split: 'test', normalize: { mean: p.mean, std: p.std }, limit: opts.limit });
      dataset = new TensorDataset(set.images, set.labels);
      [set.images, set.labels].forEach((t) => t.dispose());
    }
    const result = await evaluateModel(model, new DataLoader(dataset, { batchSize: opts.batchSize }), card.classes.length);
    return { card, ...result, perClass: perClassMetrics(result.confusion, card.classes) };
  } finally {
    model.dispose();
  }
}

export interface Prediction { input: string; top: { label: string; probability: number }[] }

/** Image inputs: PNG files (any size, converted to 28×28 grayscale) or IDX image files [N, H, W]. */
function imageInputs(files: string[], card: ModelCard): { names: string[]; pixels: Float32Array } {
  const { height, width, mean, std } = card.preprocessing as { height: number; width: number; mean: number; std: number };
  const names: string[] = [];
  const chunks: Uint8Array[] = [];
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    if (bytes.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]))) {
      const img = resizeGray(decodePng(bytes, f), width, height);
      names.push(f);
      chunks.push(img.pixels);
    } else {
      const idx = parseIdx(bytes, f);
      if (idx.type !== 'uint8' || idx.shape.length !== 3 || idx.shape[1] !== height || idx.shape[2] !== width)
        throw new FormatError(`${f}: expected a PNG or an IDX file of uint8 images [N, ${height}, ${width}], got ${idx.type} [${idx.shape}]`);
      for (let i = 0; i < idx.shape[0]; i++) {
        names.push(`${f}[${i}]`);
        chunks.push((idx.data as Uint8Array).subarray(i * height * width, (i + 1) * height * width));
      }
    }
  }
  const pixels = new Float32Array(names.length * height * width);
  chunks.forEach((c, i) => c.forEach((v, j) => { pixels[i * height * width + j] = (v / 255 - mean) / std; }));
  return { names, pixels };
}

export function predict(modelDir: string, inputs: { files: string[]; texts: string[] }, topK: number): Prediction[] {
  const { card, model, vocab } = loadModelDir(modelDir);
  try {
    let names: string[];
    let x: Tensor;
    if (vocab) {
      const maxLength = Number(card.preprocessing.maxLength);
      const docs = [...inputs.files.map((f) => fs.readFileSync(f, 'utf8')), ...inputs.texts];
      names = [...inputs.files, ...inputs.texts.map((t) => JSON.stringify(t.length > 40 ? t.slice(0, 37) + '...' : t))];
      if (!docs.length) throw new ArgumentError('predict: give text files or --text "..." to classify');
      x = vocab.encodeBatch(docs.map((d) => tokenize(stripEmailHeaders(d))), maxLength);
    } else {
      if (inputs.texts.length) throw new ArgumentError('predict: --text applies to text models; this is an image model');
      if (!inputs.files.length) throw new ArgumentError('predict: give PNG or IDX image files to classify');
      const { names: n, pixels } = imageInputs(inputs.files, card);
      const p = card.preprocessing as { channels: number; height: number; width: number };
      names = n;
      x = tensorFrom(pixels, [n.length, p.channels, p.height, p.width]);
    }
    const probs = scope(() => noGrad(() => model.forward(x).softmax(1).dataSync()));
    x.dispose();
    const C = card.classes.length;
    return names.map((input, i) => ({
      input,
      top: Array.from(probs.subarray(i * C, (i + 1) * C), (p, c) => ({ label: card.classes[c], probability: p }))
        .sort((a, b) => b.probability - a.probability).slice(0, topK),
    }));
  } finally {
    model.dispose();
  }
}

// Fashion-MNIST (and MNIST, which shares the file layout) as tensors. With no `dir`, the subset
// shipped in data/fashion-mnist/ is read (10 000 train / 2 000 test, class-balanced; see the README
// there), so examples and tests run offline.
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../tensor';
import { packageRoot } from '../native';
import { ArgumentError, FormatError, ValueError } from '../errors';
import { readIdx } from './idx';
import { tensorFrom } from './tensorFrom';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;
/** Pixel mean and standard deviation (after scaling to [0, 1]) of the full 60 000-image training set. */
export const FASHION_MNIST_MEAN = 0.2860;
export const FASHION_MNIST_STD = 0.3530;

export type Split = 'train' | 'test';

export interface MnistLikeOptions {
  /** directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; default: the embedded subset */
  dir?: string;
  split: Split;
  /** subtract mean and divide by std after scaling to [0, 1]; `true` uses Fashion-MNIST's statistics */
  normalize?: boolean | { mean: number; std: number };
  /** keep only the first `limit` examples */
  limit?: number;
}

export interface ImageSet {
  /** float32 [N, 1, H, W], in [0, 1] unless normalised */
  images: Tensor;
  /** int32 [N], class indices */
  labels: Tensor;
  classes: readonly string[];
  count: number;
}

/** Raw pixels and labels as stored: uint8 images [count, height, width] and uint8 labels [count]. */
export interface RawImageSet { pixels: Uint8Array; labels: Uint8Array; count: number; height: number; width: number }

export function embeddedFashionMnistDir(): string {
  return path.join(packageRoot(), 'data', 'fashion-mnist');
}

function findFile(dir: string, split: Split, kind: 'images-idx3-ubyte' | 'labels-idx1-ubyte'): string {
  // the official test files are t10k-*; some mirrors rename them test-*
  const prefixes = split === 'train' ? ['train'] : ['t10k', 'test'];
  const names = prefixes.flatMap((p) => [`${p}-${kind}`, `${p}-${kind}.gz`]);
  for (const n of names) {
    const p = path.join(dir, n);
    if (fs.existsSync(p)) return p;
  }
  throw new ArgumentError(`no ${split} ${kind.split('-')[0]} file in '${dir}' (looked for ${names.join(', ')})`);
}

/** Reads and validates the uint8 images and labels of one split, without making tensors. */
export function readMnistLike(opts: { dir?: string; split: Split; limit?: number; numClasses?: number }): RawImageSet {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('expected an options object { split, dir? }');
  const { split, limit, numClasses = 10 } = opts;
  if (split !== 'train' && split !== 'test') throw new ArgumentError(`split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0))
    throw new ArgumentError(`limit must be a non-negative integer, got ${limit}`);
  const dir = opts.dir ?? embeddedFashionMnistDir();
  if (typeof dir !== 'string') throw new ArgumentError(`dir must be a string, got ${typeof dir}`);
  const imgFile = findFile(dir, split, 'images-idx3-ubyte');
  const lblFile = findFile(dir, split, 'labels-idx1-ubyte');
  const images = readIdx(imgFile);
  const labels = readIdx(lblFile);
  if (images.type !== 'uint8' || images.shape.length !== 3)
    throw new FormatError(`${imgFile}: expected uint8 images [N, H, W], got ${images.type} [${images.shape.join(', ')}]`);
  if (labels.type !== 'uint8' || labels.shape.length !== 1)
    throw new FormatError(`${lblFile}: expected uint8 labels [N], got ${labels.type} [${labels.shape.join(', ')}]`);
  const [n, height, width] = images.shape;
  if (labels.shape[0] !== n) throw new FormatError(`${lblFile}: ${labels.shape[0]} labels for ${n} images in ${imgFile}`);
  const lbl = labels.data as Uint8Array;
  for (let i = 0; i < n; i++)
    if (lbl[i] >= numClasses) throw new FormatError(`${lblFile}: label ${lbl[i]} at position ${i} is not a class index below ${numClasses}`);
  const count = limit === undefined ? n : Math.min(n, limit);
  return { pixels: (images.data as Uint8Array).subarray(0, count * height * width), labels: lbl.subarray(0, count), count, height, width };
}

/** Scales uint8 pixels to float32 in [0, 1], then (x - mean) / std. */
export function pixelsToFloat(pixels: Uint8Array, mean = 0, std = 1, out = new Float32Array(pixels.length)): Float32Array {
  const scale = 1 / (255 * std);
  const shift = mean / std;
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] * scale - shift;
  return out;
}

function normalization(n: MnistLikeOptions['normalize']): { mean: number; std: number } {
  if (n === undefined || n === false) return { mean: 0, std: 1 };
  if (n === true) return { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD };
  if (n === null || typeof n !== 'object' || !Number.isFinite(n.mean) || !Number.isFinite(n.std) || !(n.std > 0))
    throw new ValueError(`normalize must be a boolean or { mean, std } with finite mean and std > 0, got ${JSON.stringify(n)}`);
  return n;
}

/**
 * Loads one split of Fashion-MNIST: images float32 [N, 1, 28, 28] scaled to [0, 1] (or normalised)
 * and labels int32 [N]. Both tensors belong to the caller (dispose them, or tf.keep them when
 * loading inside a scope that must not free them).
 */
export function loadFashionMnist(opts: MnistLikeOptions): ImageSet {
  const { mean, std } = normalization(opts?.normalize);
  const raw = readMnistLike(opts);
  const images = tensorFrom(pixelsToFloat(raw.pixels, mean, std), [raw.count, 1, raw.height, raw.width]);
  const labels = tensorFrom(Int32Array.from(raw.labels), [raw.count]);
  return { images, labels, classes: FASHION_MNIST_CLASSES, count: raw.count };
}

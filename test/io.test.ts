// Model files (tf.io, safetensors): round trips for every dtype and layout, byte-exact agreement
// with files written by the Python fixture writer (scripts/fixtures/safetensors.py, which follows
// the reference writer's rules), dtype conversions on load, header-only reads, one test per kind of
// malformed file (each a FormatError that says what is wrong), a corruption fuzz, atomic saves and
// leak checks.
// Rerun a failure with the seed it prints: REF_SEED=<seed> npx jest test/io.test.ts
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '../ts';
import * as io from '../ts/io';
import * as native from '../ts/native';
import { Rng } from './reference';
import { expectNoLeaks, expectThrows, nonContiguous, seeded, thrownBy } from './helpers';

const FIXTURES = path.join(__dirname, 'fixtures');
interface FixtureTensor { name: string; dtype: string; shape: number[]; bits?: number[]; values?: number[] }
interface FixtureFile { file: string; metadata: Record<string, string> | null; tensors: FixtureTensor[] }
const fixtures = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'safetensors.json'), 'utf8')) as Record<string, FixtureFile>;
const fixtureBytes = (name: string) => fs.readFileSync(path.join(FIXTURES, fixtures[name].file));

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-io-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });
const tmp = (name: string) => path.join(dir, name);

/** A file from a header (JSON text, or a value to stringify) and data bytes; `length` overrides the
 *  header-length field. */
function rawFile(header: string | object, data: Uint8Array | number = 0, length?: bigint): Buffer {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(length ?? BigInt(text.length));
  return Buffer.concat([len, text, typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data)]);
}
const f32Bytes = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

/** The raw bytes of a tensor's values (bit-exact comparison: NaN payloads, -0). */
function bytesOf(t: tf.Tensor): Buffer {
  const d = t.dataSync();
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}
function disposeAll(ts: Record<string, tf.Tensor>): void {
  for (const t of Object.values(ts)) t.dispose();
}

const LOADS_AS: Record<string, tf.DType> = {
  F32: 'float32', F64: 'float32', F16: 'float32', BF16: 'float32', I32: 'int32', I64: 'int32', I16: 'int32', I8: 'int32',
  U8: 'int32', BOOL: 'bool',
};
/** The tensor a fixture entry describes, built directly (float32 from its bit patterns). */
function fixtureTensor(f: FixtureTensor): tf.Tensor {
  const dtype = LOADS_AS[f.dtype];
  const values = f.bits ? new Float32Array(Uint32Array.from(f.bits, (b) => b >>> 0).buffer)
    : dtype === 'bool' ? Uint8Array.from(f.values!) : Int32Array.from(f.values!);
  return tf.tensor(values, f.shape, { dtype });
}

function randomTensor(rng: Rng, shape: number[], dtype: tf.DType): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = dtype === 'float32' ? Float32Array.from({ length: n }, () => rng.normal() * 10 ** rng.int(-3, 4))
    : dtype === 'int32' ? Int32Array.from({ length: n }, () => rng.int(-(2 ** 31), 2 ** 31))
    : Uint8Array.from({ length: n }, () => rng.int(0, 2));
  return tf.tensor(values, shape, { dtype });
}

const SHAPES = [[], [0], [2, 0, 3], [1], [7], [3, 5], [2, 3, 4], [2, 1, 3, 1, 2], [1, 2, 1, 2, 1, 1, 2, 3]];
const DTYPES: tf.DType[] = ['float32', 'int32', 'bool'];

describe('round trips', () => {
  seeded('every dtype and shape, contiguous and not, through bytes and through a file', (rng) => {
    const tensors: Record<string, tf.Tensor> = {};
    for (const dtype of DTYPES)
      for (const shape of SHAPES) {
        const t = randomTensor(rng, shape, dtype);
        const key = `${dtype}.${shape.join('x') || 'scalar'}`;
        tensors[key] = t;
        tensors[`${key}.transposed`] = nonContiguous(t, 'transpose');
        tensors[`${key}.stepped`] = nonContiguous(t, 'step');
      }
    tensors['float32.expanded'] = tf.tensor([1.5, -2, 3]).expand([4, 3]);
    tensors['int32.permuted'] = randomTensor(rng, [2, 3, 4], 'int32').permute([2, 0, 1]);
    const file = tmp('roundtrip.safetensors');
    io.save(tensors, file);
    const fromBytes = io.deserialize(io.serialize(tensors)).tensors;
    const fromFile = io.load(file);
    expect(fs.readFileSync(file)).toEqual(io.serialize(tensors));
    for (const loaded of [fromBytes, fromFile]) {
      expect(Object.keys(loaded).sort()).toEqual(Object.keys(tensors).sort());
      for (const [name, t] of Object.entries(tensors)) {
        const l = loaded[name];
        expect([name, l.dtype, l.shape]).toEqual([name, t.dtype, t.shape]);
        expect(l.isContiguous).toBe(true);
        expect(bytesOf(l)).toEqual(bytesOf(t));
      }
    }
  });

  test('float32 special values survive bit for bit', () => {
    const bits = Uint32Array.from([0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fa00001, 0xffc12345, 1, 0x007fffff, 0x7f7fffff]);
    // written raw: tf.tensor() takes JS numbers, which would quiet the signalling NaN
    const t = tf.empty([10]);
    native.write(t.storage.handle, 0, bits);
    const back = io.deserialize(io.serialize({ t })).tensors.t;
    expect(new Uint32Array(back.dataSync().buffer)).toEqual(bits);
    t.dispose();
    back.dispose();
  });

  test('metadata round trips, header-only reads see it, and odd names are kept as own properties', () => {
    const metadata = { format: 'pt', note: 'line\nbreak "quoted" \\ \u0001 \u00fcnic\u00f6de \u{1F600}', '': 'empty key', ['__proto__']: 'an own key, not a prototype' };
    const tensors: Record<string, tf.Tensor> = {};
    Object.defineProperty(tensors, '__proto__', { value: tf.tensor([1, 2]), enumerable: true });
    tensors['constructor'] = tf.tensor([3]);
    tensors['a/b.c:d e'] = tf.tensor([4], [1], { dtype: 'int32' });
    const file = tmp('meta.safetensors');
    io.save(tensors, file, { metadata });
    const { tensors: loaded, metadata: m } = io.loadWithMetadata(file);
    expect(m).toEqual(metadata);
    expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
    expect(Object.keys(loaded).sort()).toEqual(['__proto__', 'a/b.c:d e', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(loaded, '__proto__')!.value.toArray()).toEqual([1, 2]);
    expect(loaded['a/b.c:d e'].toArray()).toEqual([4]);
    const header = io.readHeader(file);
    expect(header.metadata).toEqual(metadata);
    expect(Object.keys(header.tensors).sort()).toEqual(['__proto__', 'a/b.c:d e', 'constructor']);
    expect(io.deserialize(io.serialize(tensors, metadata)).metadata).toEqual(metadata);
    // no metadata: none written, none read
    expect(io.serialize({}).toString('latin1', 8)).toBe('{}      ');
    expect(io.loadWithMetadata(file).metadata).toEqual(metadata);
    for (const t of [...Object.values(loaded), ...Object.values(tensors)]) t.dispose();
  });

  test('save accepts a Map, and a tied tensor saved under two names is written twice', () => {
    const w = tf.tensor([1, 2, 3]);
    const bytes = io.serialize(new Map([['a', w], ['b', w]]));
    const { tensors } = io.deserialize(bytes);
    expect(tensors.a.toArray()).toEqual([1, 2, 3]);
    expect(tensors.b.toArray()).toEqual([1, 2, 3]);
    expect(tensors.a.storage).not.toBe(tensors.b.storage);
    disposeAll(tensors);
    w.dispose();
  });
});

describe('agreement with files written by Python (scripts/fixtures/safetensors.py)', () => {
  const names = Object.keys(fixtures).filter((n) => n !== 'convert');
  test.each(names)('%s: serialize() and save() write the same bytes', (name) => {
    const fx = fixtures[name];
    const tensors: Record<string, tf.Tensor> = {};
    for (const f of fx.tensors) tensors[f.name] = fixtureTensor(f);
    const expected = fixtureBytes(name);
    const metadata = fx.metadata ?? undefined;
    expect(io.serialize(tensors, metadata).equals(expected)).toBe(true);
    const file = tmp(`${name}.safetensors`);
    io.save(tensors, file, { metadata });
    expect(fs.readFileSync(file).equals(expected)).toBe(true);
    // the same values in strided layouts write the same file
    const strided: Record<string, tf.Tensor> = {};
    for (const [k, t] of Object.entries(tensors)) strided[k] = nonContiguous(t, k.length % 2 ? 'step' : 'transpose');
    expect(io.serialize(strided, metadata).equals(expected)).toBe(true);
    disposeAll(tensors);
    disposeAll(strided);
  });

  test.each(Object.keys(fixtures))('%s: load() reads every tensor and the metadata exactly', (name) => {
    const fx = fixtures[name];
    const { tensors, metadata } = io.loadWithMetadata(path.join(FIXTURES, fx.file));
    expect(metadata).toEqual(fx.metadata ?? {});
    expect(Object.keys(tensors).sort()).toEqual(fx.tensors.map((f) => f.name).sort());
    for (const f of fx.tensors) {
      const t = tensors[f.name];
      expect([f.name, t.dtype, t.shape]).toEqual([f.name, LOADS_AS[f.dtype], f.shape]);
      if (f.bits) expect([f.name, Array.from(new Uint32Array(t.dataSync().buffer), (b) => b | 0)]).toEqual([f.name, f.bits]);
      else expect([f.name, Array.from(t.dataSync())]).toEqual([f.name, f.values]);
    }
    disposeAll(tensors);
  });

  test('the conversion file really holds the dtypes it claims, laid out as the reference writer does', () => {
    const h = io.readHeader(path.join(FIXTURES, fixtures.convert.file));
    const order = Object.entries(h.tensors).sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]).map(([n, i]) => `${n}:${i.dtype}`);
    expect(order).toEqual(['i64:I64', 'f64:F64', 'f32:F32', 'i32:I32', 'bf16:BF16', 'f16:F16', 'i16:I16', 'i8:I8', 'u8:U8', 'b:BOOL']);
  });
});

describe('dtype conversion on load', () => {
  const one = (dtype: string, shape: number[], data: Uint8Array) =>
    rawFile({ x: { dtype, shape, data_offsets: [0, data.length] } }, data);

  test('F8_E4M3, F8_E5M2, U16 and U32 convert exactly', () => {
    const cases: [string, number[], number[]][] = [
      // E4M3FN: 0, -0, 1, max 448, min subnormal 2^-9, smallest normal 2^-6, 1.875, NaN (S.1111.111), -NaN
      ['F8_E4M3', [0x00, 0x80, 0x38, 0x7e, 0x01, 0x08, 0x3f, 0x7f, 0xff], [0, -0, 1, 448, 2 ** -9, 2 ** -6, 1.875, NaN, NaN]],
      // E5M2: 1, -2, max 57344, inf, -inf, NaN, min subnormal 2^-16
      ['F8_E5M2', [0x3c, 0xc0, 0x7b, 0x7c, 0xfc, 0x7e, 0x01], [1, -2, 57344, Infinity, -Infinity, NaN, 2 ** -16]],
    ];
    for (const [dtype, bytes, want] of cases) {
      const t = io.deserialize(one(dtype, [bytes.length], Uint8Array.from(bytes))).tensors.x;
      expect([dtype, t.dtype, Array.from(t.dataSync())]).toEqual([dtype, 'float32', want]);
      t.dispose();
    }
    const u16 = io.deserialize(one('U16', [3], new Uint8Array(Uint16Array.from([0, 1, 65535]).buffer))).tensors.x;
    expect([u16.dtype, u16.toArray()]).toEqual(['int32', [0, 1, 65535]]);
    const u32 = io.deserialize(one('U32', [2], new Uint8Array(Uint32Array.from([7, 2 ** 31 - 1]).buffer))).tensors.x;
    expect(u32.toArray()).toEqual([7, 2 ** 31 - 1]);
    const u64 = io.deserialize(one('U64', [2], new Uint8Array(BigUint64Array.from([0n, 2n ** 31n - 1n]).buffer))).tensors.x;
    expect(u64.toArray()).toEqual([0, 2 ** 31 - 1]);
    const bool = io.deserialize(one('BOOL', [3], Uint8Array.from([0, 2, 255]))).tensors.x;
    expect(bool.toArray()).toEqual([false, true, true]);
    [u16, u32, u64, bool].forEach((t) => t.dispose());
  });

  test('data at an unaligned position in a caller buffer converts correctly', () => {
    const file = one('F64', [2], new Uint8Array(Float64Array.from([0.5, -3]).buffer));
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    const t = io.deserialize(shifted.subarray(3)).tensors.x;
    expect(t.toArray()).toEqual([0.5, -3]);
    t.dispose();
  });

  test('integers that do not fit int32 raise ValueError naming the tensor, element and value, and leak nothing', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['I64', new Uint8Array(BigInt64Array.from([1n, 2n ** 31n]).buffer), /tensor "x" \(I64\) holds 2147483648 at element 1, which does not fit in int32/],
      ['I64', new Uint8Array(BigInt64Array.from([-(2n ** 31n) - 1n]).buffer), /holds -2147483649 at element 0/],
      ['I64', new Uint8Array(BigInt64Array.from([-(2n ** 63n)]).buffer), /holds -9223372036854775808/],
      ['U64', new Uint8Array(BigUint64Array.from([2n ** 64n - 1n]).buffer), /\(U64\) holds 18446744073709551615/],
      ['U64', new Uint8Array(BigUint64Array.from([2n ** 31n]).buffer), /\(U64\) holds 2147483648/],
      ['U32', new Uint8Array(Uint32Array.from([5, 2 ** 32 - 1]).buffer), /\(U32\) holds 4294967295 at element 1/],
    ];
    expectNoLeaks(() => {
      for (const [dtype, data, re] of cases) {
        // a good tensor first, so a failure must free what it already made
        const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, x: { dtype, shape: [data.length / (dtype === 'U32' ? 4 : 8)], data_offsets: [8, 8 + data.length] } };
        const bytes = rawFile(header, Buffer.concat([f32Bytes(1, 2), data]));
        expectThrows(() => io.deserialize(bytes), tf.ValueError, re);
        fs.writeFileSync(tmp('range.safetensors'), bytes);
        const err = thrownBy(() => io.load(tmp('range.safetensors')));
        expect(err).toBeInstanceOf(tf.ValueError);
        expect((err as Error).message).toContain(`safetensors file "${tmp('range.safetensors')}"`);
      }
    });
  });

  test('a valid file with more dims than tensorforge supports raises ShapeError', () => {
    const bytes = rawFile({ x: { dtype: 'F32', shape: [1, 1, 1, 1, 1, 1, 1, 1, 1], data_offsets: [0, 4] } }, 4);
    expectNoLeaks(() => expectThrows(() => io.deserialize(bytes), tf.ShapeError, /tensor "x" has 9 dims.*at most 8/));
    expect(io.deserializeHeader(bytes).tensors.x.shape).toHaveLength(9);
  });
});

describe('readHeader', () => {
  test('reads names, file dtypes, shapes, offsets and metadata without the data', () => {
    const h = io.readHeader(path.join(FIXTURES, fixtures.convert.file));
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.tensors.bf16).toEqual({ dtype: 'BF16', shape: [13, 1], dataOffsets: expect.any(Array) });
    expect(h.tensors.i64.shape).toEqual([2, 3]);
    expect(h.tensors.i64.dataOffsets[1] - h.tensors.i64.dataOffsets[0]).toBe(48);
  });

  test('never touches the data: a 4 GiB sparse file, and data that would not load', () => {
    const file = tmp('sparse.safetensors');
    const n = 2 ** 30;  // F32 elements: 4 GiB of data
    const header = rawFile({ __metadata__: { a: 'b' }, big: { dtype: 'F32', shape: [n], data_offsets: [0, 4 * n] }, wide: { dtype: 'I64', shape: [1], data_offsets: [4 * n, 4 * n + 8] } });
    fs.writeFileSync(file, header);
    fs.truncateSync(file, header.length + 4 * n + 8);  // sparse: nothing is written
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from(BigInt64Array.from([2n ** 40n]).buffer), 0, 8, header.length + 4 * n);
    fs.closeSync(fd);
    expectNoLeaks(() => {
      const h = io.readHeader(file);
      expect(h.tensors.big).toEqual({ dtype: 'F32', shape: [n], dataOffsets: [0, 4 * n] });
      expect(h.metadata).toEqual({ a: 'b' });
    });
    fs.rmSync(file);
  });

  test('validates like load: a header that lies about the data is a FormatError', () => {
    const file = tmp('short.safetensors');
    fs.writeFileSync(file, rawFile({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 12));
    expectThrows(() => io.readHeader(file), tf.FormatError, /tensor "x": data_offsets \[0, 16\] run past the end of the 12-byte data buffer/);
  });
});

// ---- malformed files ---------------------------------------------------------------------------

const X = (offsets: unknown = [0, 8], shape: unknown = [2], dtype: unknown = 'F32') => ({ dtype, shape, data_offsets: offsets });
const MALFORMED: [string, Buffer, RegExp][] = [
  ['empty file', Buffer.alloc(0), /0 bytes is too short to be a safetensors file/],
  ['shorter than the length field', Buffer.from([2, 0, 0]), /3 bytes is too short/],
  ['header length past the end', rawFile('{}', 0, 3n), /header length 3 runs past the end of the file \(only 2 bytes follow/],
  ['header length 2^63', rawFile('{}', 0, 2n ** 63n), /header length 9223372036854775808 exceeds the 100000000-byte limit/],
  ['header length 2^64-1', rawFile('{}', 0, 2n ** 64n - 1n), /header length 18446744073709551615 exceeds the 100000000-byte limit/],
  ['header length just over the limit', rawFile('{}', 0, 100000001n), /exceeds the 100000000-byte limit/],
  ['header length too short (cuts the JSON)', rawFile({ x: X() }, 8, 20n), /not valid JSON: expected a string key at character 20/],
  ['header length too long (JSON runs into the data)', rawFile({ x: X() }, 8, BigInt(JSON.stringify({ x: X() }).length + 4)),
    /not valid JSON: unexpected text after the JSON value at character \d+, found "\\u0000"/],
  ['invalid UTF-8 bytes', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x7b, 0xc3, 0x28, 0x7d])]), /4-byte header is not valid UTF-8/],
  ['a byte-order mark', Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0, 0xef, 0xbb, 0xbf]), Buffer.from('{}')]), /not valid JSON: expected a value at character 0/],
  ['unterminated JSON', rawFile('{"x":{', 0), /not valid JSON: .*at character 6/],
  ['trailing comma', rawFile('{"x":{"dtype":"F32","shape":[],"data_offsets":[0,4],}}', 4), /not valid JSON: expected a string key/],
  ['single quotes', rawFile("{'x':1}", 0), /not valid JSON: expected a string key at character 1/],
  ['NaN literal', rawFile('{"x":{"dtype":"F32","shape":[NaN],"data_offsets":[0,4]}}', 4), /not valid JSON: expected a value/],
  ['control character in a string', rawFile('{"a\nb":1}', 0), /unescaped control character/],
  ['lone surrogate escape in a name', rawFile('{"\\ud800":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', 4), /unpaired UTF-16 surrogate/],
  ['nesting 100000 deep', rawFile(`{"x":${'['.repeat(100000)}${']'.repeat(100000)}}`, 0), /nesting deeper than 32 levels/],
  ['header is an array', rawFile('[]', 0), /header must be a JSON object .* got an array of 0/],
  ['header is null', rawFile('null', 0), /header must be a JSON object .* got null/],
  ['header is empty', rawFile('', 0), /not valid JSON: expected a value at character 0/],
  ['header is spaces', rawFile('        ', 0), /not valid JSON: expected a value at character 8/],
  ['duplicate tensor names', rawFile('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), /duplicate key "x" at character \d+/],
  ['duplicate keys inside a tensor entry', rawFile('{"x":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}', 4), /duplicate key "dtype"/],
  ['duplicate metadata keys', rawFile('{"__metadata__":{"a":"1","a":"2"}}', 0), /duplicate key "a"/],
  ['empty tensor name', rawFile({ '': X() }, 8), /a tensor has an empty name/],
  ['tensor entry not an object', rawFile({ x: [0, 8] }, 8), /tensor "x": expected an object \{dtype, shape, data_offsets\}, got an array of 2/],
  ['unknown dtype', rawFile({ x: X([0, 8], [2], 'F33') }, 8), /tensor "x": unknown dtype "F33" \(expected one of BOOL, U8, .*F64, I64, U64\)/],
  ['lowercase dtype', rawFile({ x: X([0, 8], [2], 'f32') }, 8), /unknown dtype "f32"/],
  ['dtype not a string', rawFile({ x: X([0, 8], [2], 4) }, 8), /"dtype" must be a string such as "F32", got the number 4/],
  ['dtype missing', rawFile({ x: { shape: [2], data_offsets: [0, 8] } }, 8), /"dtype" must be a string such as "F32", got nothing/],
  ['shape not an array', rawFile({ x: X([0, 8], 2) }, 8), /"shape" must be an array of non-negative integers, got the number 2/],
  ['negative dim', rawFile({ x: X([0, 8], [-2]) }, 8), /shape entry 0 must be a non-negative integer, got the number -2/],
  ['dim written -0', rawFile('{"x":{"dtype":"F32","shape":[-0],"data_offsets":[0,0]}}', 0), /shape entry 0 must be a non-negative integer, got the number -0/],
  ['fractional dim', rawFile('{"x":{"dtype":"F32","shape":[2,1.5],"data_offsets":[0,12]}}', 12), /shape entry 1 must be a non-negative integer, got the number 1.5/],
  ['dim written 2.0', rawFile('{"x":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', 8), /shape entry 0 must be a non-negative integer, got the number 2.0/],
  ['dim as a string', rawFile({ x: X([0, 8], ['2']) }, 8), /shape entry 0 must be a non-negative integer, got the string "2"/],
  ['dim past 2^53', rawFile('{"x":{"dtype":"F32","shape":[9007199254740993],"data_offsets":[0,8]}}', 8), /shape entry 0 must be a non-negative integer, got the number 9007199254740993/],
  ['too many elements', rawFile({ x: X([0, 8], [2 ** 30, 2 ** 30, 2 ** 30, 2 ** 30]) }, 8), /shape \[1073741824, 1073741824, 1073741824, 1073741824\] of F32 has too many elements/],
  ['offsets missing', rawFile({ x: { dtype: 'F32', shape: [2] } }, 8), /"data_offsets" must be \[begin, end\], got nothing/],
  ['three offsets', rawFile({ x: X([0, 4, 8]) }, 8), /"data_offsets" must be \[begin, end\], got an array of 3/],
  ['negative offset', rawFile({ x: X([-8, 0]) }, 8), /data_offsets must be non-negative integers, got \[the number -8, the number 0\]/],
  ['fractional offset', rawFile('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}', 8), /data_offsets must be non-negative integers/],
  ['exponent offset', rawFile('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8e0]}}', 8), /data_offsets must be non-negative integers, got \[the number 0, the number 8e0\]/],
  ['offset past 2^53', rawFile('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}}', 8), /data_offsets must be non-negative integers/],
  ['reversed offsets', rawFile({ x: X([8, 0]) }, 8), /tensor "x": data_offsets \[8, 0\] are reversed/],
  ['offsets past the data', rawFile({ x: X([0, 16], [4]) }, 8), /tensor "x": data_offsets \[0, 16\] run past the end of the 8-byte data buffer/],
  ['byte length does not match the shape', rawFile({ x: X([0, 8], [3]) }, 8), /tensor "x": data_offsets \[0, 8\] hold 8 bytes, but F32 \[3\] needs 12 \(3 elements of 4 bytes\)/],
  ['byte length does not match the dtype', rawFile({ x: X([0, 8], [2], 'F64') }, 8), /hold 8 bytes, but F64 \[2\] needs 16/],
  ['overlapping tensors', rawFile({ a: X([0, 8]), b: X([4, 12]) }, 12), /tensor "b" \[4, 12\] overlaps tensor "a" \[0, 8\]/],
  ['the same bytes twice', rawFile({ a: X([0, 8]), b: X([0, 8]) }, 8), /tensor "[ab]" \[0, 8\] overlaps tensor "[ab]" \[0, 8\]/],
  ['an empty tensor inside another', rawFile({ a: X([0, 8]), b: X([4, 4], [0]) }, 8), /tensor "b" \[4, 4\] overlaps tensor "a"/],
  ['a gap between tensors', rawFile({ a: X([0, 8]), b: X([12, 20]) }, 20), /data bytes \[8, 12\) belong to no tensor \(a gap before tensor "b"\)/],
  ['a gap at the start', rawFile({ a: X([4, 12]) }, 12), /data bytes \[0, 4\) belong to no tensor/],
  ['trailing bytes', rawFile({ a: X([0, 8]) }, 9), /the tensors cover 8 of the 9 data bytes; the last 1 belong to no tensor/],
  ['data but no tensors', rawFile({}, 8), /the tensors cover 0 of the 8 data bytes/],
  ['metadata not an object', rawFile({ __metadata__: ['a'] }, 0), /"__metadata__" must be an object of strings, got an array of 1/],
  ['metadata value not a string', rawFile({ __metadata__: { step: 5 } }, 0), /metadata "step" must be a string, got the number 5/],
  ['metadata value an object', rawFile({ __metadata__: { cfg: { a: 1 } } }, 0), /metadata "cfg" must be a string, got an object/],
];

describe('malformed files raise FormatError, never read out of bounds', () => {
  test.each(MALFORMED)('%s (bytes)', (_name, bytes, re) => {
    expectNoLeaks(() => {
      expectThrows(() => io.deserialize(bytes), tf.FormatError, re);
      expect((thrownBy(() => io.deserialize(bytes)) as tf.FormatError).code).toBe('ERR_TF_FORMAT');
      expect((thrownBy(() => io.deserialize(bytes)) as Error).message).toMatch(/^safetensors buffer: /);
    });
  });

  test.each(MALFORMED)('%s (file: load, loadWithMetadata and readHeader name it)', (_name, bytes, re) => {
    const file = tmp('bad.safetensors');
    fs.writeFileSync(file, bytes);
    expectNoLeaks(() => {
      for (const read of [io.load, io.loadWithMetadata, io.readHeader]) {
        const err = thrownBy(() => read(file));
        expect(err).toBeInstanceOf(tf.FormatError);
        expect((err as Error).message).toMatch(re);
        expect((err as Error).message.startsWith(`safetensors file "${file}": `)).toBe(true);
      }
    });
  });

  test('a valid file truncated at every length is a FormatError', () => {
    const bytes = fixtureBytes('basic');
    const n = Number(bytes.readBigUInt64LE(0));
    expectNoLeaks(() => {
      for (let cut = 0; cut < bytes.length; cut++) {
        const err = thrownBy(() => io.deserialize(bytes.subarray(0, cut)));
        if (!(err instanceof tf.FormatError)) throw new Error(`cut at ${cut}: expected a FormatError, got ${String(err)}`);
        const want = cut < 8 ? /too short/ : cut < 8 + n ? /runs past the end of the file/ : /run past the end|belong to no tensor|cover/;
        if (!want.test(err.message)) throw new Error(`cut at ${cut}: unexpected message ${err.message}`);
      }
    });
  });

  test('a file that shrinks while it is read is a FormatError, not a short tensor', () => {
    // Simulated: readSync returns 0 (end of file) for the data part.
    const file = tmp('shrinks.safetensors');
    const bytes = fixtureBytes('basic');
    fs.writeFileSync(file, bytes);
    const realFs = jest.requireActual<typeof fs>('fs');
    const n = Number(bytes.readBigUInt64LE(0));
    const spy = jest.spyOn(realFs, 'readSync').mockImplementation(((fd: number, buf: NodeJS.ArrayBufferView, off: number, len: number, pos: number) => {
      if (pos >= 8 + n) return 0;
      const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
      return bytes.copy(b, off, pos, Math.min(pos + len, bytes.length));
    }) as typeof fs.readSync);
    try {
      expectNoLeaks(() => expectThrows(() => io.load(file), tf.FormatError, /the file ended at byte \d+, before the 1194 bytes it had when opened/));
    } finally {
      spy.mockRestore();
    }
  });
});

describe('corruption fuzz', () => {
  // Every corrupted file either loads or raises FormatError (or, when a flipped dtype turns a value
  // into an integer past int32, the documented ValueError); nothing else, no crash, no leak.
  seeded('2000 random corruptions of valid files', (rng) => {
    const sources = [fixtureBytes('basic'), fixtureBytes('convert'), fixtureBytes('metadata')];
    const counts = { loaded: 0, format: 0, range: 0 };
    expectNoLeaks(() => {
      for (let i = 0; i < 2000; i++) {
        const src = sources[i % sources.length];
        const n = Number(src.readBigUInt64LE(0));
        let b = Buffer.from(src);
        const kind = rng.int(0, 6);
        // mostly in the length field and the header, where the parsing happens
        const at = () => (rng.uniform() < 0.8 ? rng.int(0, 8 + n) : rng.int(0, b.length));
        if (kind === 0) for (let k = rng.int(1, 4); k > 0; k--) b[at()] ^= 1 << rng.int(0, 8);
        else if (kind === 1) b[at()] = rng.int(0, 256);
        else if (kind === 2) b = b.subarray(0, rng.int(0, b.length));
        else if (kind === 3) { const p = at(); b = Buffer.concat([b.subarray(0, p), b.subarray(p + 1)]); }
        else if (kind === 4) { const p = at(); b = Buffer.concat([b.subarray(0, p), Buffer.from([rng.int(0, 256)]), b.subarray(p)]); }
        else b[at()] = '{}[],:"0123456789'.charCodeAt(rng.int(0, 17));
        let err: unknown;
        try {
          disposeAll(io.deserialize(b).tensors);
          counts.loaded++;
        } catch (e) {
          err = e;
        }
        if (err === undefined) continue;
        if (err instanceof tf.FormatError) counts.format++;
        else if (err instanceof tf.ValueError && /does not fit in int32/.test(err.message)) counts.range++;
        else throw new Error(`corruption ${i} (kind ${kind}) raised ${String(err)}`);
      }
    });
    // the fuzz reaches both outcomes
    expect(counts.loaded).toBeGreaterThan(50);
    expect(counts.format).toBeGreaterThan(400);
  });
});

describe('saving', () => {
  test('bad arguments raise typed errors before anything is written', () => {
    const t = tf.tensor([1]);
    const dead = tf.tensor([2]);
    dead.dispose();
    const file = tmp('args.safetensors');
    const cases: [() => unknown, new (...a: never[]) => Error, RegExp][] = [
      [() => io.save(null as never, file), tf.ArgumentError, /expected an object mapping names to tensors, got null/],
      [() => io.save([t] as never, file), tf.ArgumentError, /got an array/],
      [() => io.save(t as never, file), tf.ArgumentError, /expected an object mapping names to tensors/],
      [() => io.save({ x: [1, 2] } as never, file), tf.ArgumentError, /"x" is not a Tensor \(got object\)/],
      [() => io.save({ x: dead }, file), tf.DisposedError, /disposed/],
      [() => io.save({ '': t }, file), tf.ArgumentError, /non-empty strings/],
      [() => io.save({ __metadata__: t }, file), tf.ArgumentError, /"__metadata__" is reserved/],
      [() => io.save({ ['a\ud800']: t }, file), tf.ArgumentError, /unpaired UTF-16 surrogate/],
      [() => io.save({ t }, file, { metadata: { step: 5 } as never }), tf.ArgumentError, /metadata "step" must be a string, got number/],
      [() => io.save({ t }, file, { metadata: [] as never }), tf.ArgumentError, /metadata must be an object/],
      [() => io.save({ t }, file, null as never), tf.ArgumentError, /options must be an object/],
      [() => io.save({ t }, '' as never), tf.ArgumentError, /expected a file path, got an empty string/],
      [() => io.save({ t }, 5 as never), tf.ArgumentError, /expected a file path, got number/],
      [() => io.serialize({ t }, { k: '\udc00' }), tf.ArgumentError, /unpaired UTF-16 surrogate/],
      [() => io.load(5 as never), tf.ArgumentError, /expected a file path/],
      [() => io.deserialize('abc' as never), tf.ArgumentError, /expected a Uint8Array/],
    ];
    expectNoLeaks(() => { for (const [fn, Cls, re] of cases) expectThrows(fn, Cls, re); });
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    t.dispose();
  });

  test('a missing file or directory raises the usual ENOENT error', () => {
    expect((thrownBy(() => io.load(tmp('nope.safetensors'))) as NodeJS.ErrnoException).code).toBe('ENOENT');
    const t = tf.tensor([1]);
    expect((thrownBy(() => io.save({ t }, path.join(dir, 'no', 'such', 'dir.safetensors'))) as NodeJS.ErrnoException).code).toBe('ENOENT');
    t.dispose();
  });

  test('save replaces a file atomically: a failure mid-write leaves the old file and no temporary', () => {
    const file = tmp('atomic.safetensors');
    const a = tf.tensor([1, 2, 3]);
    const b = tf.tensor([4, 5, 6, 7]);
    io.save({ a }, file);
    const before = fs.readFileSync(file);
    const realFs = jest.requireActual<typeof fs>('fs');
    let calls = 0;
    const real = realFs.writeSync;
    const spy = jest.spyOn(realFs, 'writeSync').mockImplementation(((...args: Parameters<typeof fs.writeSync>) => {
      if (++calls === 2) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return (real as (...a: unknown[]) => number)(...args);
    }) as typeof fs.writeSync);
    try {
      expect((thrownBy(() => io.save({ a, b }, file)) as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      spy.mockRestore();
    }
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.includes('atomic'))).toEqual(['atomic.safetensors']);
    io.save({ a, b }, file);
    expect(fs.readFileSync(file).equals(io.serialize({ a, b }))).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.includes('atomic'))).toEqual(['atomic.safetensors']);
    a.dispose();
    b.dispose();
  });

  test('a 20 MB tensor is written and read in chunks and round trips', () => {
    const file = tmp('big.safetensors');
    const t = tf.randn([5, 2 ** 20]);
    const tt = t.transpose(0, 1);  // non-contiguous, bigger than one chunk
    io.save({ tt }, file);
    const back = io.load(file).tt;
    expect(back.shape).toEqual([2 ** 20, 5]);
    expect(bytesOf(back).equals(bytesOf(tt))).toBe(true);
    [t, tt, back].forEach((x) => x.dispose());
    fs.rmSync(file);
  });
});

describe('ownership and leaks', () => {
  test('loaded tensors are fresh, owned by the caller, and freed by an enclosing scope', () => {
    const file = path.join(FIXTURES, fixtures.basic.file);
    expectNoLeaks(() => {
      tf.scope(() => {
        const a = io.load(file);
        const b = io.load(file);
        expect(a.weight.storage).not.toBe(b.weight.storage);
        expect(Object.values(a).every((t) => !t.isDisposed && t.requiresGrad === false && t.isLeaf)).toBe(true);
      });
    });
    const kept = tf.scope(() => io.load(file));  // returned from the scope: survives it
    expect(kept.weight.isDisposed).toBe(false);
    disposeAll(kept);
  });

  test('save, serialize and header reads leave nothing behind, also for non-contiguous inputs', () => {
    const t = tf.randn([3, 4]);
    const v = t.transpose(0, 1);
    const e = tf.tensor([1, 2]).expand([3, 2]);
    expectNoLeaks(() => {
      io.save({ v, e }, tmp('leak.safetensors'));
      io.serialize({ v, e });
      io.readHeader(tmp('leak.safetensors'));
      io.deserializeHeader(fixtureBytes('convert'));
    });
    [t, v, e].forEach((x) => x.dispose());
  });
});

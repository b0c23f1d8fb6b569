// The IDX format of MNIST and Fashion-MNIST: a 4-byte magic (0, 0, element type, number of dims),
// each dim as a big-endian uint32, then the elements, big-endian, row-major. Files are often
// gzipped; we tell by the gzip magic (1f 8b) rather than by the file name, since both kinds are
// found under both names. A reader that trusts the header can allocate gigabytes or read past the
// end, so every field is checked against the bytes actually present.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { ArgumentError, FormatError } from '../errors';

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  type: IdxType;
  shape: number[];
  /** row-major elements in host byte order */
  data: IdxData;
}

const typeInfo: Record<IdxType, { code: number; bytes: number; array: new (n: number) => IdxData }> = {
  uint8: { code: 0x08, bytes: 1, array: Uint8Array },
  int8: { code: 0x09, bytes: 1, array: Int8Array },
  int16: { code: 0x0b, bytes: 2, array: Int16Array },
  int32: { code: 0x0c, bytes: 4, array: Int32Array },
  float32: { code: 0x0d, bytes: 4, array: Float32Array },
  float64: { code: 0x0e, bytes: 8, array: Float64Array },
};
const typeByCode = new Map<number, IdxType>(Object.entries(typeInfo).map(([t, i]) => [i.code, t as IdxType]));
const hex = (b: number) => '0x' + b.toString(16).padStart(2, '0');

function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

function gunzip(buf: Uint8Array, what: string): Uint8Array {
  try {
    return zlib.gunzipSync(buf);
  } catch (e) {
    throw new FormatError(`${what}: corrupt gzip data (${(e as Error).message})`);
  }
}

/**
 * Parses IDX bytes (gzipped or not). `what` names the source in error messages. Throws FormatError
 * for a bad magic, an unknown element type, or a byte count that differs from the dims' product.
 */
export function parseIdx(bytes: Uint8Array, what = 'IDX data'): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`parseIdx expects a Uint8Array or Buffer, got ${typeof bytes}`);
  const buf = isGzip(bytes) ? gunzip(bytes, what) : bytes;
  if (buf.length < 4) throw new FormatError(`${what}: ${buf.length} bytes is too short for an IDX header (4-byte magic)`);
  if (buf[0] !== 0 || buf[1] !== 0)
    throw new FormatError(`${what}: bad magic ${[...buf.subarray(0, 4)].map(hex).join(' ')} (expected 0x00 0x00 <type> <ndims>)`);
  const type = typeByCode.get(buf[2]);
  if (type === undefined)
    throw new FormatError(`${what}: unknown element type ${hex(buf[2])} (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)`);
  const ndims = buf[3];
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes)
    throw new FormatError(`${what}: header declares ${ndims} dims (${headerBytes} header bytes) but the data has only ${buf.length} bytes`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const n = view.getUint32(4 + 4 * d, false);
    shape.push(n);
    count *= n;
  }
  const { bytes: size, array } = typeInfo[type];
  const expected = count * size;
  const actual = buf.length - headerBytes;
  if (expected !== actual) {
    const how = actual < expected ? 'truncated' : 'has trailing bytes';
    throw new FormatError(`${what}: ${how}: dims [${shape.join(', ')}] of ${type} need ${expected} data bytes, found ${actual}`);
  }
  const data = array === Uint8Array ? new Uint8Array(count) : new array(count);
  if (size === 1) {
    new Uint8Array(data.buffer).set(buf.subarray(headerBytes));
  } else {
    const read = {
      int16: (o: number) => view.getInt16(o, false),
      int32: (o: number) => view.getInt32(o, false),
      float32: (o: number) => view.getFloat32(o, false),
      float64: (o: number) => view.getFloat64(o, false),
    }[type as 'int16' | 'int32' | 'float32' | 'float64'];
    for (let i = 0, o = headerBytes; i < count; i++, o += size) data[i] = read(o);
  }
  return { type, shape, data };
}

/** Reads an IDX file, plain or gzipped (told apart by content, not name). */
export function readIdx(file: string): IdxArray {
  if (typeof file !== 'string') throw new ArgumentError(`readIdx expects a file path, got ${typeof file}`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new ArgumentError(`cannot read IDX file '${file}': ${(e as Error).message}`);
  }
  return parseIdx(bytes, `IDX file '${file}'`);
}

function defaultType(data: IdxData): IdxType {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  throw new ArgumentError('IDX data must be a Uint8Array, Int8Array, Int16Array, Int32Array, Float32Array or Float64Array, or come with a type');
}

/**
 * Encodes an array as IDX bytes; the element type follows the typed array unless `type` says
 * otherwise (values are then converted, so they must fit). gzip: compress (level 9).
 */
export function encodeIdx(arr: { shape: number[]; data: IdxData | ArrayLike<number>; type?: IdxType }, opts: { gzip?: boolean } = {}): Buffer {
  if (arr === null || typeof arr !== 'object') throw new ArgumentError('encodeIdx expects { shape, data, type? }');
  const { shape, data } = arr;
  if (!Array.isArray(shape) || shape.length > 255 || !shape.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff))
    throw new ArgumentError(`IDX shape must be at most 255 dims, each an integer in [0, 2^32), got ${JSON.stringify(shape)}`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (!data || typeof (data as ArrayLike<number>).length !== 'number' || data.length !== count)
    throw new ArgumentError(`IDX shape [${shape.join(', ')}] needs ${count} elements, got ${data?.length}`);
  const type = arr.type ?? defaultType(data as IdxData);
  if (!(type in typeInfo)) throw new ArgumentError(`unknown IDX type '${String(type)}' (expected ${Object.keys(typeInfo).join(', ')})`);
  const size = typeInfo[type].bytes;
  const header = 4 + 4 * shape.length;
  const out = Buffer.alloc(header + count * size);
  out[2] = typeInfo[type].code;
  out[3] = shape.length;
  shape.forEach((n, d) => out.writeUInt32BE(n, 4 + 4 * d));
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const write = {
    uint8: (o: number, v: number) => view.setUint8(o, v),
    int8: (o: number, v: number) => view.setInt8(o, v),
    int16: (o: number, v: number) => view.setInt16(o, v, false),
    int32: (o: number, v: number) => view.setInt32(o, v, false),
    float32: (o: number, v: number) => view.setFloat32(o, v, false),
    float64: (o: number, v: number) => view.setFloat64(o, v, false),
  }[type];
  const integer = type !== 'float32' && type !== 'float64';
  const limit = { uint8: [0, 255], int8: [-128, 127], int16: [-32768, 32767], int32: [-2147483648, 2147483647] }[type as 'uint8'];
  for (let i = 0, o = header; i < count; i++, o += size) {
    const v = Number(data[i]);
    if (integer && !(Number.isInteger(v) && v >= limit[0] && v <= limit[1]))
      throw new ArgumentError(`value ${v} at position ${i} does not fit IDX type ${type}`);
    write(o, v);
  }
  return opts.gzip ? zlib.gzipSync(out, { level: 9 }) : out;
}

/** Writes an IDX file; gzipped when opts.gzip says so, else when the name ends in .gz. */
export function writeIdx(file: string, arr: { shape: number[]; data: IdxData | ArrayLike<number>; type?: IdxType }, opts: { gzip?: boolean } = {}): void {
  if (typeof file !== 'string') throw new ArgumentError(`writeIdx expects a file path, got ${typeof file}`);
  fs.writeFileSync(file, encodeIdx(arr, { gzip: opts.gzip ?? file.endsWith('.gz') }));
}

// Model files in the safetensors format, byte-compatible with the reference implementation
// (huggingface/safetensors, which PyTorch's ecosystem uses), and safe on untrusted input.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON, then the data buffer. The JSON
// maps each tensor name to {"dtype","shape","data_offsets":[begin,end]} (offsets into the data
// buffer) plus an optional "__metadata__" object of string values. Data is little-endian, row-major.
//
// Writing follows the reference writer byte for byte, so a file equals what Python writes for the
// same tensors: tensors are laid out by descending dtype rank (the reference Dtype enum order, which
// is ascending alignment: F32 before I32 before BOOL), ties by name compared as UTF-8 bytes;
// contiguously, no gaps; the JSON is compact (no spaces), "__metadata__" first when given, then the
// tensors in layout order, each as {"dtype","shape","data_offsets"} in that key order, strings
// escaped as serde_json does (which JSON.stringify matches for well-formed strings); the header is
// padded with spaces to a multiple of 8 bytes. One deliberate choice where the reference has none:
// it writes metadata keys in hash-map order (varies per process); we sort them as UTF-8 bytes.
//
// Reading checks everything before allocating anything sized by the file: the header length against
// a 100 MB limit (the reference's) and the file size, strict UTF-8 and JSON (duplicate keys rejected,
// integers must be exact), each tensor's dtype, shape and offsets, byte length = numel * itemsize,
// and that the tensors cover the data buffer exactly (no overlap, no gap, no trailing bytes), as the
// reference reader does. Every failure is a FormatError naming the file, the tensor and what was
// expected. Data is then streamed in bounded chunks straight into fresh tensors, converting dtypes
// tensorforge lacks: F64/F16/BF16/F8 to float32, I64/U64/I16/U16/I8/U8/U32 to int32 (values that do
// not fit raise ValueError), BOOL to bool. Saving writes F32/I32/BOOL.
import { constants as bufferConstants } from 'buffer';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../tensor';
import { DType, TypedArray, dtypeBytes } from '../dtype';
import { MAX_DIMS, fmt } from '../shape';
import { AllocationError, ArgumentError, FormatError, ShapeError, ValueError } from '../errors';
import { noGrad } from '../autograd';
import { contiguous } from '../ops/movement';
import { getDefaultDevice } from '../backend';
import { Json, JsonNumber, JsonObject, JsonSyntaxError, describe, isWellFormed, parseJson } from './json';

/** The largest header accepted, as in the reference reader. */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
// Bounded staging for file reads and writes: big tensors never need a second full-size copy in JS.
const CHUNK_BYTES = 8 << 20;

// size: bytes per element; rank: position in the reference Dtype enum (its writer sorts by it).
const FILE_DTYPES = {
  BOOL: { size: 1, rank: 0, loadsAs: 'bool' },
  U8: { size: 1, rank: 1, loadsAs: 'int32' },
  I8: { size: 1, rank: 2, loadsAs: 'int32' },
  F8_E5M2: { size: 1, rank: 3, loadsAs: 'float32' },
  F8_E4M3: { size: 1, rank: 4, loadsAs: 'float32' },
  I16: { size: 2, rank: 5, loadsAs: 'int32' },
  U16: { size: 2, rank: 6, loadsAs: 'int32' },
  F16: { size: 2, rank: 7, loadsAs: 'float32' },
  BF16: { size: 2, rank: 8, loadsAs: 'float32' },
  I32: { size: 4, rank: 9, loadsAs: 'int32' },
  U32: { size: 4, rank: 10, loadsAs: 'int32' },
  F32: { size: 4, rank: 11, loadsAs: 'float32' },
  F64: { size: 8, rank: 12, loadsAs: 'float32' },
  I64: { size: 8, rank: 13, loadsAs: 'int32' },
  U64: { size: 8, rank: 14, loadsAs: 'int32' },
} as const satisfies Record<string, { size: number; rank: number; loadsAs: DType }>;

/** A dtype name as safetensors files spell it. */
export type FileDType = keyof typeof FILE_DTYPES;
const SAVE_DTYPE: Record<DType, FileDType> = { float32: 'F32', int32: 'I32', bool: 'BOOL' };

/** One tensor's entry in a file header. */
export interface TensorInfo {
  dtype: FileDType;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data buffer (after the header) */
  dataOffsets: [number, number];
}
export interface SafetensorsHeader {
  /** in the order the header lists them */
  tensors: Record<string, TensorInfo>;
  metadata: Record<string, string>;
}
export interface SaveOptions {
  /** string key/value pairs stored under "__metadata__" (e.g. { format: 'pt' }) */
  metadata?: Record<string, string>;
}

type Named = { name: string } & TensorInfo;
interface ParsedHeader { entries: Named[]; metadata: Record<string, string>; dataStart: number }

/** Where bytes come from: a whole in-memory file or an open file read piecewise. */
interface Source {
  /** names the input in messages */
  where: string;
  size: number;
  /** exactly len bytes at pos; the returned view may be reused by the next call */
  read(pos: number, len: number): Uint8Array;
}

// ---- reading ---------------------------------------------------------------------------------

function fail(message: string): never {
  throw new FormatError(message);
}

// Own-property definition, so a tensor or key named "__proto__" is stored, not a prototype change.
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function readHeaderFrom(src: Source): ParsedHeader {
  const where = src.where;
  if (src.size < 8) fail(`${where}: ${src.size} bytes is too short to be a safetensors file (it starts with an 8-byte header length)`);
  const lenBytes = src.read(0, 8);
  const n64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES))
    fail(`${where}: header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt, or not a safetensors file)`);
  const n = Number(n64);
  if (n > src.size - 8)
    fail(`${where}: header length ${n} runs past the end of the file (only ${src.size - 8} bytes follow the length field; truncated, or not a safetensors file)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(src.read(8, n));
  } catch {
    return fail(`${where}: the ${n}-byte header is not valid UTF-8`);
  }
  let json: Json;
  try {
    json = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) fail(`${where}: the header is not valid JSON: ${e.message}`);
    throw e;
  }
  return { ...validateHeader(json, src.size - 8 - n, where), dataStart: 8 + n };
}

function nonNegativeInt(v: Json | undefined): number | null {
  // "-0" is refused too, as the reference (serde_json reads it as a float) does.
  return v instanceof JsonNumber && !v.text.startsWith('-') ? v.safeInteger : null;
}

function validateHeader(json: Json, dataBytes: number, where: string): Omit<ParsedHeader, 'dataStart'> {
  if (!(json instanceof JsonObject))
    fail(`${where}: the header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}, got ${describe(json)}`);
  const metadata: Record<string, string> = {};
  const entries: Named[] = [];
  for (const [name, v] of json.entries) {
    if (name === METADATA_KEY) {
      if (v === null) continue;
      if (!(v instanceof JsonObject)) fail(`${where}: "${METADATA_KEY}" must be an object of strings, got ${describe(v)}`);
      for (const [k, s] of v.entries) {
        if (typeof s !== 'string') fail(`${where}: metadata ${JSON.stringify(k)} must be a string, got ${describe(s)}`);
        setOwn(metadata, k, s);
      }
      continue;
    }
    if (name === '') fail(`${where}: a tensor has an empty name`);
    const t = `${where}: tensor ${JSON.stringify(name)}`;
    if (!(v instanceof JsonObject)) fail(`${t}: expected an object {dtype, shape, data_offsets}, got ${describe(v)}`);
    const dtype = v.get('dtype');
    if (typeof dtype !== 'string') fail(`${t}: "dtype" must be a string such as "F32", got ${describe(dtype)}`);
    if (!Object.hasOwn(FILE_DTYPES, dtype))
      fail(`${t}: unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(FILE_DTYPES).join(', ')})`);
    const itemSize = FILE_DTYPES[dtype as FileDType].size;
    const shapeJson = v.get('shape');
    if (!Array.isArray(shapeJson)) fail(`${t}: "shape" must be an array of non-negative integers, got ${describe(shapeJson)}`);
    const shape = shapeJson.map((d, i) => {
      const x = nonNegativeInt(d);
      return x ?? fail(`${t}: shape entry ${i} must be a non-negative integer, got ${describe(d)}`);
    });
    // Stopped before any product passes 2^53, so the byte count compared below is exact.
    let numel = shape.includes(0) ? 0 : 1;
    if (numel) for (const d of shape) {
      numel *= d;
      if (numel * itemSize > Number.MAX_SAFE_INTEGER) fail(`${t}: shape ${fmt(shape)} of ${dtype} has too many elements (over 2^53 bytes)`);
    }
    const offsets = v.get('data_offsets');
    if (!Array.isArray(offsets) || offsets.length !== 2)
      fail(`${t}: "data_offsets" must be [begin, end], got ${describe(offsets)}`);
    const [begin, end] = offsets.map(nonNegativeInt);
    if (begin === null || end === null)
      fail(`${t}: data_offsets must be non-negative integers, got [${offsets.map(describe).join(', ')}]`);
    const span = `data_offsets [${begin}, ${end}]`;
    if (end < begin) fail(`${t}: ${span} are reversed (end before begin)`);
    if (end > dataBytes) fail(`${t}: ${span} run past the end of the ${dataBytes}-byte data buffer`);
    if (end - begin !== numel * itemSize)
      fail(`${t}: ${span} hold ${end - begin} bytes, but ${dtype} ${fmt(shape)} needs ${numel * itemSize} (${numel} elements of ${itemSize} bytes)`);
    entries.push({ name, dtype: dtype as FileDType, shape, dataOffsets: [begin, end] });
  }
  // Every data byte must belong to exactly one tensor, as the reference reader demands: a gap could
  // hide content, an overlap makes two tensors alias one another.
  const byOffset = [...entries].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let covered = 0;
  let prev: Named | null = null;
  for (const e of byOffset) {
    const [begin, end] = e.dataOffsets;
    if (prev && begin < covered)
      fail(`${where}: tensor ${JSON.stringify(e.name)} [${begin}, ${end}] overlaps tensor ${JSON.stringify(prev.name)} [${prev.dataOffsets[0]}, ${prev.dataOffsets[1]}]`);
    if (begin > covered)
      fail(`${where}: data bytes [${covered}, ${begin}) belong to no tensor (a gap before tensor ${JSON.stringify(e.name)}); tensors must cover the data buffer exactly`);
    covered = end;
    prev = e;
  }
  if (covered !== dataBytes)
    fail(`${where}: the tensors cover ${covered} of the ${dataBytes} data bytes; the last ${dataBytes - covered} belong to no tensor`);
  return { entries, metadata };
}

// ---- dtype conversion ----------------------------------------------------------------------

let halfTable: Float32Array | null = null;
let e4m3Table: Float32Array | null = null;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
// OCP FP8 E4M3 ("FN": no infinities, S.1111.111 is NaN), bias 7.
function e4m3ToFloat(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> 3) & 0xf;
  const mant = b & 7;
  if (exp === 15 && mant === 7) return NaN;
  if (exp === 0) return sign * mant * 2 ** -9;
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}
function halves(): Float32Array {
  return (halfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h)));
}

function intRangeError(where: string, name: string, dtype: FileDType, index: number, value: bigint | number): ValueError {
  return new ValueError(`${where}: tensor ${JSON.stringify(name)} (${dtype}) holds ${value} at element ${index}, which does not fit in int32 ` +
    '(tensorforge loads integer tensors as int32)');
}

/** k elements of `dtype` in raw (aligned to the element size) as the bytes of the loaded dtype. */
function convert(raw: Uint8Array, k: number, e: Named, first: number, where: string): TypedArray | Uint32Array {
  const { buffer, byteOffset } = raw;
  switch (e.dtype) {
    case 'F32': case 'I32': return raw;
    case 'BOOL': return raw.map((b) => (b !== 0 ? 1 : 0));
    case 'U8': return Int32Array.from(raw);
    case 'I8': return Int32Array.from(new Int8Array(buffer, byteOffset, k));
    case 'I16': return Int32Array.from(new Int16Array(buffer, byteOffset, k));
    case 'U16': return Int32Array.from(new Uint16Array(buffer, byteOffset, k));
    case 'U32': {
      const u = new Uint32Array(buffer, byteOffset, k);
      for (let i = 0; i < k; i++) if (u[i] > 0x7fffffff) throw intRangeError(where, e.name, e.dtype, first + i, u[i]);
      return Int32Array.from(u);
    }
    case 'I64': case 'U64': {
      // As (low, high) 32-bit halves: fits int32 iff high is the sign extension of low.
      const w = new Int32Array(buffer, byteOffset, 2 * k);
      const out = new Int32Array(k);
      const signed = e.dtype === 'I64';
      for (let i = 0; i < k; i++) {
        const lo = w[2 * i], hi = w[2 * i + 1];
        if (hi !== (lo < 0 ? (signed ? -1 : NaN) : 0)) {
          const big = new DataView(buffer, byteOffset + 8 * i, 8);
          throw intRangeError(where, e.name, e.dtype, first + i, signed ? big.getBigInt64(0, true) : big.getBigUint64(0, true));
        }
        out[i] = lo;
      }
      return out;
    }
    case 'F64': return Float32Array.from(new Float64Array(buffer, byteOffset, k));
    case 'F16': {
      const t = halves(), h = new Uint16Array(buffer, byteOffset, k), out = new Float32Array(k);
      for (let i = 0; i < k; i++) out[i] = t[h[i]];
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32: widening is exact.
      const h = new Uint16Array(buffer, byteOffset, k), out = new Uint32Array(k);
      for (let i = 0; i < k; i++) out[i] = h[i] << 16;
      return out;
    }
    case 'F8_E5M2': {
      // E5M2 is the top byte of a float16.
      const t = halves(), out = new Float32Array(k);
      for (let i = 0; i < k; i++) out[i] = t[raw[i] << 8];
      return out;
    }
    case 'F8_E4M3': {
      const t = (e4m3Table ??= Float32Array.from({ length: 256 }, (_, b) => e4m3ToFloat(b)));
      const out = new Float32Array(k);
      for (let i = 0; i < k; i++) out[i] = t[raw[i]];
      return out;
    }
  }
}

function tensorsFrom(src: Source, header: ParsedHeader): Record<string, Tensor> {
  if (!isLittleEndian) throw new FormatError('safetensors data is little-endian; this big-endian host is not supported');
  for (const e of header.entries)
    if (e.shape.length > MAX_DIMS)
      throw new ShapeError(`${src.where}: tensor ${JSON.stringify(e.name)} has ${e.shape.length} dims (shape ${fmt(e.shape)}); tensorforge supports at most ${MAX_DIMS}`);
  const out: Record<string, Tensor> = {};
  const made: Tensor[] = [];
  try {
    for (const e of header.entries) {
      const { size, loadsAs } = FILE_DTYPES[e.dtype];
      const t = Tensor.empty(e.shape, loadsAs, getDefaultDevice());
      made.push(t);
      const n = t.size;
      const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / size));
      for (let i = 0; i < n; i += perChunk) {
        const k = Math.min(perChunk, n - i);
        let raw = src.read(header.dataStart + e.dataOffsets[0] + i * size, k * size);
        if (raw.byteOffset % size !== 0) raw = new Uint8Array(raw);  // a copy: typed-array views need aligned starts
        t.storage.backend.write(t.storage.handle, i * dtypeBytes[loadsAs], convert(raw, k, e, i, src.where));
      }
      setOwn(out, e.name, t);
    }
  } catch (err) {
    for (const t of made) t.dispose();
    throw err;
  }
  return out;
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bufferSource(bytes: Uint8Array, where: string): Source {
  return { where, size: bytes.byteLength, read: (pos, len) => bytes.subarray(pos, pos + len) };
}

function withFile<T>(file: string, fn: (src: Source) => T): T {
  if (typeof file !== 'string' || file === '') throw new ArgumentError(`expected a file path, got ${file === '' ? 'an empty string' : typeof file}`);
  const where = `safetensors file ${JSON.stringify(file)}`;
  const fd = fs.openSync(file, 'r');
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new ArgumentError(`${file} is not a regular file`);
    let scratch = Buffer.allocUnsafeSlow(0);
    const src: Source = {
      where,
      size: stat.size,
      read(pos, len) {
        // A fresh ArrayBuffer (never the shared pool) keeps typed-array views aligned.
        if (scratch.length < len) scratch = Buffer.allocUnsafeSlow(len);
        for (let got = 0; got < len;) {
          const r = fs.readSync(fd, scratch, got, len - got, pos + got);
          if (r === 0) fail(`${where}: the file ended at byte ${pos + got}, before the ${stat.size} bytes it had when opened (changed while being read?)`);
          got += r;
        }
        return scratch.subarray(0, len);
      },
    };
    return fn(src);
  } finally {
    fs.closeSync(fd);
  }
}

function publicHeader(h: ParsedHeader): SafetensorsHeader {
  const tensors: Record<string, TensorInfo> = {};
  for (const e of h.entries) setOwn(tensors, e.name, { dtype: e.dtype, shape: e.shape, dataOffsets: e.dataOffsets });
  return { tensors, metadata: h.metadata };
}

function checkBytes(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`expected a Uint8Array (or Buffer) holding a safetensors file, got ${typeof bytes}`);
}

/** Tensors and metadata from the bytes of a whole safetensors file. */
export function deserialize(bytes: Uint8Array): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  checkBytes(bytes);
  const src = bufferSource(bytes, 'safetensors buffer');
  const header = readHeaderFrom(src);
  return { tensors: tensorsFrom(src, header), metadata: header.metadata };
}

/** The header of in-memory safetensors bytes: names, dtypes, shapes, offsets, metadata. */
export function deserializeHeader(bytes: Uint8Array): SafetensorsHeader {
  checkBytes(bytes);
  return publicHeader(readHeaderFrom(bufferSource(bytes, 'safetensors buffer')));
}

/** Loads every tensor of a safetensors file, as fresh tensors owned by the caller. */
export function load(file: string): Record<string, Tensor> {
  return loadWithMetadata(file).tensors;
}

export function loadWithMetadata(file: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  return withFile(file, (src) => {
    const header = readHeaderFrom(src);
    return { tensors: tensorsFrom(src, header), metadata: header.metadata };
  });
}

/** Reads and validates only the header of a safetensors file (no tensor data is read). */
export function readHeader(file: string): SafetensorsHeader {
  return withFile(file, (src) => publicHeader(readHeaderFrom(src)));
}

// ---- writing ---------------------------------------------------------------------------------

interface Planned { name: string; tensor: Tensor; nbytes: number }
interface Plan { header: Buffer; items: Planned[]; dataBytes: number }

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function plan(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata: Record<string, string> | undefined): Plan {
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors) || tensors instanceof Tensor)
    throw new ArgumentError(`expected an object mapping names to tensors, got ${tensors === null ? 'null' : Array.isArray(tensors) ? 'an array' : typeof tensors}`);
  const pairs = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const items: (Planned & { dtype: FileDType })[] = [];
  for (const [name, t] of pairs) {
    if (typeof name !== 'string' || name === '') throw new ArgumentError('tensor names must be non-empty strings');
    if (name === METADATA_KEY) throw new ArgumentError(`"${METADATA_KEY}" is reserved for metadata and cannot name a tensor`);
    if (!isWellFormed(name)) throw new ArgumentError(`tensor name ${JSON.stringify(name)} holds an unpaired UTF-16 surrogate (not encodable as UTF-8)`);
    if (!(t instanceof Tensor)) throw new ArgumentError(`${JSON.stringify(name)} is not a Tensor (got ${t === null ? 'null' : typeof t})`);
    t.assertAlive();
    items.push({ name, tensor: t, dtype: SAVE_DTYPE[t.dtype], nbytes: t.size * dtypeBytes[t.dtype] });
  }
  items.sort((a, b) => FILE_DTYPES[b.dtype].rank - FILE_DTYPES[a.dtype].rank || utf8Compare(a.name, b.name));

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
      throw new ArgumentError(`metadata must be an object of strings, got ${metadata === null ? 'null' : typeof metadata}`);
    const keys = Object.keys(metadata).sort(utf8Compare);
    for (const k of keys) {
      if (typeof metadata[k] !== 'string') throw new ArgumentError(`metadata ${JSON.stringify(k)} must be a string, got ${typeof metadata[k]}`);
      if (!isWellFormed(k) || !isWellFormed(metadata[k]))
        throw new ArgumentError(`metadata ${JSON.stringify(k)} holds an unpaired UTF-16 surrogate (not encodable as UTF-8)`);
    }
    parts.push(`"${METADATA_KEY}":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  let offset = 0;
  for (const it of items) {
    const shape = it.tensor.shape.join(',');
    parts.push(`${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${shape}],"data_offsets":[${offset},${offset + it.nbytes}]}`);
    offset += it.nbytes;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  if (padded > MAX_HEADER_BYTES) throw new ArgumentError(`the header would be ${padded} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers accept`);
  const header = Buffer.alloc(8 + padded, 0x20);
  header.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(header, 8);
  return { header, items, dataBytes: offset };
}

/** Calls sink with the tensor's bytes in row-major order, in chunks of at most CHUNK_BYTES (or
 *  straight into `into` when given). Non-contiguous tensors go through one contiguous copy. */
function tensorBytes(t: Tensor, nbytes: number, sink: (bytes: Uint8Array) => void, into?: Uint8Array): void {
  if (nbytes === 0) return;
  const src = t.isContiguous ? t : noGrad(() => contiguous(t));
  try {
    const base = src.offset * dtypeBytes[t.dtype];
    if (into) {
      src.storage.backend.read(src.storage.handle, base, into);
      return;
    }
    const scratch = Buffer.allocUnsafeSlow(Math.min(CHUNK_BYTES, nbytes));
    for (let at = 0; at < nbytes; at += CHUNK_BYTES) {
      const chunk = scratch.subarray(0, Math.min(CHUNK_BYTES, nbytes - at));
      src.storage.backend.read(src.storage.handle, base + at, chunk);
      sink(chunk);
    }
  } finally {
    if (src !== t) src.dispose();
  }
}

/** The bytes of a safetensors file holding these tensors (identical to what the reference writes). */
export function serialize(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Buffer {
  if (!isLittleEndian) throw new FormatError('safetensors data is little-endian; this big-endian host is not supported');
  const p = plan(tensors, metadata);
  const total = p.header.length + p.dataBytes;
  if (total > bufferConstants.MAX_LENGTH)
    throw new AllocationError(`the file would be ${total} bytes, more than one Buffer holds (${bufferConstants.MAX_LENGTH}); use save() to write it`);
  const out = Buffer.allocUnsafe(total);
  p.header.copy(out, 0);
  let at = p.header.length;
  for (const it of p.items) {
    tensorBytes(it.tensor, it.nbytes, () => {}, out.subarray(at, at + it.nbytes));
    at += it.nbytes;
  }
  return out;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/**
 * Saves tensors to a safetensors file. The file is written under a temporary name in the same
 * directory, flushed, then renamed over `file`, so a crash leaves either the old file or the new
 * one, never half of one.
 */
export function save(tensors: Record<string, Tensor> | Map<string, Tensor>, file: string, opts: SaveOptions = {}): void {
  if (typeof file !== 'string' || file === '') throw new ArgumentError(`expected a file path, got ${file === '' ? 'an empty string' : typeof file}`);
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('save options must be an object');
  if (!isLittleEndian) throw new FormatError('safetensors data is little-endian; this big-endian host is not supported');
  const p = plan(tensors, opts.metadata);
  const target = path.resolve(file);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'wx');
  let open = true;
  let renamed = false;
  try {
    writeAll(fd, p.header);
    for (const it of p.items) tensorBytes(it.tensor, it.nbytes, (chunk) => writeAll(fd, chunk));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    open = false;
    fs.renameSync(tmp, target);
    renamed = true;
  } finally {
    if (open) fs.closeSync(fd);
    if (!renamed) fs.rmSync(tmp, { force: true });
  }
}

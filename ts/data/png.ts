// PNG images in and out, without dependencies: decode (8-bit grayscale, gray+alpha, RGB, RGBA
// and palette; 1/2/4-bit grayscale and palette too; non-interlaced) to grayscale, and encode
// 8-bit grayscale. Enough for `tensorforge predict` on a photo or a drawn digit, and for tests.
// Every chunk length, CRC, size and filter byte is checked: a malformed file raises FormatError.
import * as zlib from 'zlib';
import { FormatError } from '../errors';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const MAX_PIXELS = 1 << 26;  // 64 Mpixel: larger images are refused before inflating

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface GrayImage { width: number; height: number; /** row-major, 0..255 */ pixels: Uint8Array }

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Decodes a PNG to 8-bit grayscale (ITU-R BT.601 luma; alpha composited over black). */
export function decodePng(bytes: Uint8Array, name = 'PNG image'): GrayImage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string): never => { throw new FormatError(`${name}: ${why}`); };
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) fail('not a PNG file (bad signature)');
  let pos = 8;
  let header: { width: number; height: number; depth: number; type: number } | null = null;
  let palette: Uint8Array | null = null;
  const idat: Buffer[] = [];
  for (;;) {
    if (pos + 12 > buf.length) fail('truncated (no IEND chunk)');
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    if (len > buf.length - pos - 12) fail(`chunk ${type} of ${len} bytes runs past the end of the file`);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (crc32(buf.subarray(pos + 4, pos + 8 + len)) !== buf.readUInt32BE(pos + 8 + len)) fail(`chunk ${type} has a bad CRC`);
    pos += 12 + len;
    if (type === 'IHDR') {
      if (len !== 13) fail('IHDR must be 13 bytes');
      header = { width: data.readUInt32BE(0), height: data.readUInt32BE(4), depth: data[8], type: data[9] };
      if (data[10] !== 0 || data[11] !== 0) fail('unknown compression or filter method');
      if (data[12] !== 0) fail('interlaced PNGs are not supported (save it without interlacing)');
      if (!(header.type in CHANNELS)) fail(`unknown colour type ${header.type}`);
      const depthOk = header.type === 0 ? [1, 2, 4, 8].includes(header.depth) : header.type === 3 ? [1, 2, 4, 8].includes(header.depth) : header.depth === 8;
      if (!depthOk) fail(`bit depth ${header.depth} with colour type ${header.type} is not supported (8-bit images are)`);
      if (header.width === 0 || header.height === 0 || header.width * header.height > MAX_PIXELS)
        fail(`image size ${header.width}×${header.height} is empty or over ${MAX_PIXELS} pixels`);
    } else if (type === 'PLTE') {
      if (len % 3 !== 0 || len === 0) fail('PLTE length must be a positive multiple of 3');
      palette = data;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
  }
  if (!header) return fail('no IHDR chunk');
  const { width, height, depth, type } = header;
  if (type === 3 && !palette) fail('palette image without a PLTE chunk');
  const bitsPerPixel = CHANNELS[type] * depth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(Buffer.concat(idat), { maxOutputLength: (stride + 1) * height + 1 });
  } catch (e) {
    return fail(`image data does not inflate (${(e as Error).message})`);
  }
  if (raw.length !== (stride + 1) * height) fail(`image data is ${raw.length} bytes, expected ${(stride + 1) * height}`);

  const bpp = Math.max(1, bitsPerPixel >> 3);
  const rows = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = rows.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? rows.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? out[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      let v: number;
      switch (filter) {
        case 0: v = 0; break;
        case 1: v = a; break;
        case 2: v = b; break;
        case 3: v = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: return fail(`row ${y} has unknown filter type ${filter}`);
      }
      out[i] = (src[i] + v) & 0xff;
    }
  }

  const pixels = new Uint8Array(width * height);
  const luma = (r: number, g: number, b: number) => Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  for (let y = 0; y < height; y++) {
    const row = rows.subarray(y * stride, (y + 1) * stride);
    for (let x = 0; x < width; x++) {
      let v: number;
      if (depth < 8) {
        const bit = x * depth;
        const sample = (row[bit >> 3] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
        if (type === 3) {
          if (sample * 3 + 2 >= palette!.length) fail(`palette index ${sample} out of range`);
          v = luma(palette![sample * 3], palette![sample * 3 + 1], palette![sample * 3 + 2]);
        } else v = Math.round((sample * 255) / ((1 << depth) - 1));
      } else {
        const p = x * CHANNELS[type];
        switch (type) {
          case 0: v = row[p]; break;
          case 4: v = Math.round((row[p] * row[p + 1]) / 255); break;
          case 2: v = luma(row[p], row[p + 1], row[p + 2]); break;
          case 6: v = Math.round((luma(row[p], row[p + 1], row[p + 2]) * row[p + 3]) / 255); break;
          default: {
            const idx = row[p];
            if (idx * 3 + 2 >= palette!.length) fail(`palette index ${idx} out of range`);
            v = luma(palette![idx * 3], palette![idx * 3 + 1], palette![idx * 3 + 2]);
          }
        }
      }
      pixels[y * width + x] = v;
    }
  }
  return { width, height, pixels };
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes an 8-bit grayscale PNG. */
export function encodePng(img: GrayImage): Buffer {
  const { width, height, pixels } = img;
  if (!(Number.isSafeInteger(width) && Number.isSafeInteger(height) && width > 0 && height > 0) || pixels.length !== width * height)
    throw new FormatError(`encodePng: ${pixels.length} pixels do not make a ${width}×${height} image`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;  // bit depth; colour type 0 (gray), compression, filter and interlace all 0
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

/** Resizes by area averaging (each output pixel is the mean of the input pixels it covers). */
export function resizeGray(img: GrayImage, width: number, height: number): GrayImage {
  if (img.width === width && img.height === height) return img;
  const out = new Uint8Array(width * height);
  const sx = img.width / width, sy = img.height / height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0, area = 0;
      const y0 = y * sy, y1 = (y + 1) * sy, x0 = x * sx, x1 = (x + 1) * sx;
      for (let iy = Math.floor(y0); iy < Math.min(Math.ceil(y1), img.height); iy++) {
        const wy = Math.min(iy + 1, y1) - Math.max(iy, y0);
        for (let ix = Math.floor(x0); ix < Math.min(Math.ceil(x1), img.width); ix++) {
          const w = wy * (Math.min(ix + 1, x1) - Math.max(ix, x0));
          sum += w * img.pixels[iy * img.width + ix];
          area += w;
        }
      }
      out[y * width + x] = Math.round(sum / area);
    }
  }
  return { width, height, pixels: out };
}

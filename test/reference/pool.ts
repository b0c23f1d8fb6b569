// 2-D pooling in float64 on [N, C, H, W], with torch.nn.functional's semantics, and the VJPs.
// Plain loops over every output cell and every tap of its window.
import { RefTensor, zeros } from './tensor';

export interface RefPoolOptions {
  kernelSize: [number, number];
  stride?: [number, number];      // default: kernelSize
  padding?: [number, number];     // default: [0, 0]
  dilation?: [number, number];    // max pooling only; default [1, 1]
  ceilMode?: boolean;
  countIncludePad?: boolean;      // avg pooling only; default true
  divisorOverride?: number;       // avg pooling only
}

/** torch's output size along one dim: floor (or ceil) of the window count, where in ceil mode a
 *  window that would start beyond the input and its left padding is dropped. */
export function pooledSize(n: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = n + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= n + p) out--;
  return out;
}

function geometry(x: RefTensor, o: RefPoolOptions) {
  const [N, C, H, W] = x.shape;
  const [kh, kw] = o.kernelSize;
  const [sh, sw] = o.stride ?? o.kernelSize;
  const [ph, pw] = o.padding ?? [0, 0];
  const [dh, dw] = o.dilation ?? [1, 1];
  const ceil = o.ceilMode ?? false;
  const OH = pooledSize(H, kh, sh, ph, dh, ceil);
  const OW = pooledSize(W, kw, sw, pw, dw, ceil);
  return { N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw };
}

const at = (shape: number[], n: number, c: number, h: number, w: number) => ((n * shape[1] + c) * shape[2] + h) * shape[3] + w;

/** Calls visit(n, c, oh, ow, outFlat) for every output cell. */
function eachOutput(N: number, C: number, OH: number, OW: number, visit: (n: number, c: number, oh: number, ow: number, i: number) => void) {
  let i = 0;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) visit(n, c, oh, ow, i++);
}

/**
 * max_pool2d: each output is the maximum of its window's taps inside the input (padding acts as
 * -inf). Taps are scanned row by row; a strictly larger value or a NaN replaces the best, so ties
 * keep the first tap and a NaN wins. indices: flat h*W + w within the plane (-1 for a window with
 * no tap inside the input, which torch leaves undefined).
 */
export function maxPool2d(x: RefTensor, o: RefPoolOptions): { values: RefTensor; indices: RefTensor } {
  const g = geometry(x, o);
  const shape = [g.N, g.C, g.OH, g.OW];
  const values = zeros(shape), indices = zeros(shape);
  eachOutput(g.N, g.C, g.OH, g.OW, (n, c, oh, ow, i) => {
    let best = -Infinity, bestAt = -1;
    for (let i2 = 0; i2 < g.kh; i2++)
      for (let j = 0; j < g.kw; j++) {
        const h = oh * g.sh - g.ph + i2 * g.dh, w = ow * g.sw - g.pw + j * g.dw;
        if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
        const v = x.data[at(x.shape, n, c, h, w)];
        if (bestAt < 0 || v > best || Number.isNaN(v)) {
          best = v;
          bestAt = h * g.W + w;
        }
      }
    values.data[i] = best;
    indices.data[i] = bestAt;
  });
  return { values, indices };
}

/** Routes each output gradient to the input position its window's maximum came from. */
function scatterToIndices(xShape: number[], indices: RefTensor, gy: RefTensor): RefTensor {
  const [N, C, H, W] = xShape;
  const [, , OH, OW] = gy.shape;
  const gx = zeros(xShape);
  eachOutput(N, C, OH, OW, (n, c, _oh, _ow, i) => {
    const k = indices.data[i];
    if (k >= 0) gx.data[(n * C + c) * H * W + k] += gy.data[i];
  });
  return gx;
}

export function maxPool2dVjp(x: RefTensor, o: RefPoolOptions, gy: RefTensor): RefTensor {
  return scatterToIndices(x.shape, maxPool2d(x, o).indices, gy);
}

/** torch's avg_pool2d divisor for one window, and its taps inside the input: [lo, hi) per dim. */
function avgWindow(o: RefPoolOptions, g: ReturnType<typeof geometry>, oh: number, ow: number) {
  const hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
  const he = Math.min(hs + g.kh, g.H + g.ph), we = Math.min(ws + g.kw, g.W + g.pw);
  const h0 = Math.max(hs, 0), w0 = Math.max(ws, 0), h1 = Math.min(he, g.H), w1 = Math.min(we, g.W);
  let divisor: number;
  if (o.divisorOverride) divisor = o.divisorOverride;
  else if (o.countIncludePad ?? true) divisor = (he - hs) * (we - ws);  // clipped to the padded input
  else divisor = (h1 - h0) * (w1 - w0);
  return { h0, h1, w0, w1, divisor };
}

/** avg_pool2d: the sum of a window's taps inside the input over torch's divisor. */
export function avgPool2d(x: RefTensor, o: RefPoolOptions): RefTensor {
  const g = geometry(x, { ...o, dilation: [1, 1] });
  const y = zeros([g.N, g.C, g.OH, g.OW]);
  eachOutput(g.N, g.C, g.OH, g.OW, (n, c, oh, ow, i) => {
    const win = avgWindow(o, g, oh, ow);
    let s = 0;
    for (let h = win.h0; h < win.h1; h++)
      for (let w = win.w0; w < win.w1; w++) s += x.data[at(x.shape, n, c, h, w)];
    y.data[i] = s / win.divisor;
  });
  return y;
}

export function avgPool2dVjp(x: RefTensor, o: RefPoolOptions, gy: RefTensor): RefTensor {
  const g = geometry(x, { ...o, dilation: [1, 1] });
  const gx = zeros(x.shape);
  eachOutput(g.N, g.C, g.OH, g.OW, (n, c, oh, ow, i) => {
    const win = avgWindow(o, g, oh, ow);
    for (let h = win.h0; h < win.h1; h++)
      for (let w = win.w0; w < win.w1; w++) gx.data[at(x.shape, n, c, h, w)] += gy.data[i] / win.divisor;
  });
  return gx;
}

/** Output cell i of o covers input [floor(i*n/o), ceil((i+1)*n/o)). */
const adaptiveRange = (i: number, n: number, o: number): [number, number] => [Math.floor((i * n) / o), Math.ceil(((i + 1) * n) / o)];

export function adaptiveAvgPool2d(x: RefTensor, [OH, OW]: [number, number]): RefTensor {
  const [N, C] = x.shape;
  const y = zeros([N, C, OH, OW]);
  eachOutput(N, C, OH, OW, (n, c, oh, ow, i) => {
    const [h0, h1] = adaptiveRange(oh, x.shape[2], OH), [w0, w1] = adaptiveRange(ow, x.shape[3], OW);
    let s = 0;
    for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += x.data[at(x.shape, n, c, h, w)];
    y.data[i] = s / ((h1 - h0) * (w1 - w0));
  });
  return y;
}

export function adaptiveAvgPool2dVjp(x: RefTensor, size: [number, number], gy: RefTensor): RefTensor {
  const [N, C] = x.shape;
  const gx = zeros(x.shape);
  eachOutput(N, C, size[0], size[1], (n, c, oh, ow, i) => {
    const [h0, h1] = adaptiveRange(oh, x.shape[2], size[0]), [w0, w1] = adaptiveRange(ow, x.shape[3], size[1]);
    for (let h = h0; h < h1; h++)
      for (let w = w0; w < w1; w++) gx.data[at(x.shape, n, c, h, w)] += gy.data[i] / ((h1 - h0) * (w1 - w0));
  });
  return gx;
}

/** adaptive_max_pool2d, with max_pool2d's scan order, NaN rule and index convention. */
export function adaptiveMaxPool2d(x: RefTensor, [OH, OW]: [number, number]): { values: RefTensor; indices: RefTensor } {
  const [N, C, , W] = x.shape;
  const values = zeros([N, C, OH, OW]), indices = zeros([N, C, OH, OW]);
  eachOutput(N, C, OH, OW, (n, c, oh, ow, i) => {
    const [h0, h1] = adaptiveRange(oh, x.shape[2], OH), [w0, w1] = adaptiveRange(ow, W, OW);
    let best = -Infinity, bestAt = -1;
    for (let h = h0; h < h1; h++)
      for (let w = w0; w < w1; w++) {
        const v = x.data[at(x.shape, n, c, h, w)];
        if (bestAt < 0 || v > best || Number.isNaN(v)) {
          best = v;
          bestAt = h * W + w;
        }
      }
    values.data[i] = best;
    indices.data[i] = bestAt;
  });
  return { values, indices };
}

export function adaptiveMaxPool2dVjp(x: RefTensor, size: [number, number], gy: RefTensor): RefTensor {
  return scatterToIndices(x.shape, adaptiveMaxPool2d(x, size).indices, gy);
}

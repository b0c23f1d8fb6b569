// torch.nn.functional.conv2d in float64 (NCHW cross-correlation) and its vector-Jacobian
// product, as plain loops over every output element and kernel tap.
import { RefTensor, zeros } from './tensor';

export interface RefConv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number] | 'valid' | 'same';
  dilation?: number | [number, number];
  groups?: number;
}

interface Geometry {
  n: number; cin: number; h: number; w: number;
  cout: number; kh: number; kw: number; ho: number; wo: number;
  sh: number; sw: number; dh: number; dw: number; top: number; left: number; groups: number;
}

const asPair = (v: number | [number, number] | undefined, dflt: number): [number, number] =>
  v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;

/** Shapes and options of a batched ([N, C, H, W]) convolution. 'same' pads dilation·(k - 1) in
 *  total per dim, the smaller half before (top/left), as torch does. */
function geometry(xShape: readonly number[], wShape: readonly number[], o: RefConv2dOptions): Geometry {
  const [n, cin, h, w] = xShape, [cout, cg, kh, kw] = wShape;
  const groups = o.groups ?? 1;
  const [sh, sw] = asPair(o.stride, 1), [dh, dw] = asPair(o.dilation, 1);
  if (cin % groups || cout % groups || cg * groups !== cin) throw new Error('conv2d: channels do not match groups');
  let pads: [number, number, number, number];  // top, bottom, left, right
  if (o.padding === 'same') {
    if (sh !== 1 || sw !== 1) throw new Error("conv2d: padding='same' needs stride 1");
    const th = dh * (kh - 1), tw = dw * (kw - 1);
    pads = [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
  } else if (o.padding === 'valid') {
    pads = [0, 0, 0, 0];
  } else {
    const [ph, pw] = asPair(o.padding, 0);
    pads = [ph, ph, pw, pw];
  }
  const ho = Math.floor((h + pads[0] + pads[1] - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((w + pads[2] + pads[3] - dw * (kw - 1) - 1) / sw) + 1;
  if (ho < 1 || wo < 1) throw new Error('conv2d: kernel larger than the padded input');
  return { n, cin, h, w, cout, kh, kw, ho, wo, sh, sw, dh, dw, top: pads[0], left: pads[2], groups };
}

/** Calls visit(xIndex, wIndex, outIndex) for every product x·w that one output sums: output
 *  (b, co, oy, ox) adds x[b, g·cg + c, oy·sh - top + i·dh, ox·sw - left + j·dw] · w[co, c, i, j]
 *  over c, i, j, where g = the group of co, skipping taps that land in the zero padding. */
function forEachTap(gm: Geometry, visit: (xi: number, wi: number, oi: number) => void): void {
  const cg = gm.cin / gm.groups, cog = gm.cout / gm.groups;
  for (let b = 0; b < gm.n; b++)
    for (let co = 0; co < gm.cout; co++) {
      const g = Math.floor(co / cog);
      for (let oy = 0; oy < gm.ho; oy++)
        for (let ox = 0; ox < gm.wo; ox++) {
          const oi = ((b * gm.cout + co) * gm.ho + oy) * gm.wo + ox;
          for (let c = 0; c < cg; c++)
            for (let i = 0; i < gm.kh; i++)
              for (let j = 0; j < gm.kw; j++) {
                const y = oy * gm.sh - gm.top + i * gm.dh, x = ox * gm.sw - gm.left + j * gm.dw;
                if (y < 0 || y >= gm.h || x < 0 || x >= gm.w) continue;
                const xi = ((b * gm.cin + g * cg + c) * gm.h + y) * gm.w + x;
                const wi = ((co * cg + c) * gm.kh + i) * gm.kw + j;
                visit(xi, wi, oi);
              }
        }
    }
}

const batched = (x: RefTensor): RefTensor => (x.shape.length === 3 ? { shape: [1, ...x.shape], data: x.data } : x);

/** conv2d(x, w, b?, opts): x [N, C, H, W] or unbatched [C, H, W], w [Cout, C / groups, kh, kw],
 *  b [Cout] or null. */
export function conv2d(x: RefTensor, w: RefTensor, b: RefTensor | null, opts: RefConv2dOptions = {}): RefTensor {
  const gm = geometry(batched(x).shape, w.shape, opts);
  const out = zeros([gm.n, gm.cout, gm.ho, gm.wo]);
  forEachTap(gm, (xi, wi, oi) => { out.data[oi] += x.data[xi] * w.data[wi]; });
  if (b)
    for (let oi = 0; oi < out.data.length; oi++) out.data[oi] += b.data[Math.floor(oi / (gm.ho * gm.wo)) % gm.cout];
  return x.shape.length === 3 ? { shape: out.shape.slice(1), data: out.data } : out;
}

/** The VJP of conv2d: [gx, gw, gb] (gb null without a bias) for output gradient g. Each
 *  product x·w of the forward sends g·w to x and g·x to w; the bias gets the sum of g over
 *  batch and positions. */
export function conv2dVjp(x: RefTensor, w: RefTensor, b: RefTensor | null, opts: RefConv2dOptions, g: RefTensor): [RefTensor, RefTensor, RefTensor | null] {
  const gm = geometry(batched(x).shape, w.shape, opts);
  const gx = zeros(x.shape), gw = zeros(w.shape);
  forEachTap(gm, (xi, wi, oi) => {
    gx.data[xi] += g.data[oi] * w.data[wi];
    gw.data[wi] += g.data[oi] * x.data[xi];
  });
  let gb: RefTensor | null = null;
  if (b) {
    gb = zeros(b.shape);
    for (let oi = 0; oi < g.data.length; oi++) gb.data[Math.floor(oi / (gm.ho * gm.wo)) % gm.cout] += g.data[oi];
  }
  return [gx, gw, gb];
}

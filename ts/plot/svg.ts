// SVG charts for training and benchmark reports, written as strings with no dependency: a line
// chart for loss and accuracy curves, grouped bars (the benchmark's GFLOP/s beside its peers') and a
// confusion-matrix heat map. Open the files in any browser.
import { ArgumentError, ValueError } from '../errors';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const FONT = 'font-family="sans-serif"';

export function escapeXml(s: string): string {
  return String(s).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The number printed without float noise, in at most `digits` significant digits. */
function label(v: number, digits = 4): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(digits)));
}
const px = (v: number) => String(Math.round(v * 100) / 100);

/** The opening of every chart: the <svg> element, a white background and, when given, the
 *  title centred at the top (the caller closes the element). */
function canvas(width: number, height: number, title?: string): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
  ];
  if (title !== undefined)
    out.push(`<text class="title" x="${px(width / 2)}" y="26" text-anchor="middle" font-size="16" font-weight="bold" ${FONT}>${escapeXml(title)}</text>`);
  return out;
}

/** About `count` ticks at 1, 2 or 5 × 10^k steps covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) throw new ValueError(`tick range must be finite, got [${lo}, ${hi}]`);
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let k = Math.floor(lo / step); k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)));
  if (ticks[0] > lo) ticks.unshift(Number((ticks[0] - step).toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

export interface Series {
  name: string;
  values: ArrayLike<number>;
  /** x of each value; default 1, 2, 3, ... (epochs) */
  x?: ArrayLike<number>;
}

export interface LineChartOptions {
  title: string;
  xLabel?: string;
  yLabel?: string;
  series: Series[];
  width?: number;
  height?: number;
}

function checkSize(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= 100 && v <= 10000)) throw new ValueError(`${what} must be a number in [100, 10000], got ${String(v)}`);
  return v;
}

/**
 * Lines for one or more series on shared axes, with ticks, gridlines and a legend. Values that are
 * not finite (a diverged loss) leave a gap in their line instead of wrecking the scale.
 */
export function lineChart(opts: LineChartOptions): string {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('lineChart expects { title, series, ... }');
  const { title, xLabel = '', yLabel = '', series } = opts;
  const width = checkSize(opts.width, 'width', 720);
  const height = checkSize(opts.height, 'height', 420);
  if (!Array.isArray(series) || series.length === 0) throw new ArgumentError('lineChart needs a non-empty series array');
  const points = series.map((s, i) => {
    if (s === null || typeof s !== 'object' || typeof s.name !== 'string') throw new ArgumentError(`series ${i} needs a string name`);
    if (!s.values || typeof s.values.length !== 'number') throw new ArgumentError(`series '${s.name}': values must be an array of numbers`);
    if (s.x !== undefined && (!s.x || s.x.length !== s.values.length))
      throw new ArgumentError(`series '${s.name}': x has ${s.x?.length} entries for ${s.values.length} values`);
    return Array.from({ length: s.values.length }, (_, k) => [s.x ? Number(s.x[k]) : k + 1, Number(s.values[k])] as [number, number]);
  });
  const finite = points.flat().filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (finite.length === 0) throw new ValueError('lineChart: no series has a finite value to draw');

  const legendWidth = Math.min(220, 40 + 7 * Math.max(...series.map((s) => s.name.length)));
  const m = { left: 70, right: 20 + legendWidth, top: 44, bottom: 56 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  if (plotW < 50 || plotH < 50) throw new ValueError(`a ${width}×${height} chart leaves no room to plot; make it larger`);
  const xs = niceTicks(Math.min(...finite.map((p) => p[0])), Math.max(...finite.map((p) => p[0])));
  const ys = niceTicks(Math.min(...finite.map((p) => p[1])), Math.max(...finite.map((p) => p[1])));
  const [x0, x1, y0, y1] = [xs[0], xs[xs.length - 1], ys[0], ys[ys.length - 1]];
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => m.top + plotH - ((y - y0) / (y1 - y0)) * plotH;

  const out = canvas(width, height, title);
  out.push('<g class="grid" stroke="#e5e5e5" stroke-width="1">');
  for (const t of xs) out.push(`<line x1="${px(sx(t))}" y1="${m.top}" x2="${px(sx(t))}" y2="${m.top + plotH}"/>`);
  for (const t of ys) out.push(`<line x1="${m.left}" y1="${px(sy(t))}" x2="${m.left + plotW}" y2="${px(sy(t))}"/>`);
  out.push('</g>');
  out.push(`<g class="axes" stroke="#333" stroke-width="1"><line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${m.top + plotH}"/><line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}"/></g>`);
  out.push(`<g class="ticks" font-size="11" fill="#333" ${FONT}>`);
  for (const t of xs) out.push(`<text class="xtick" x="${px(sx(t))}" y="${m.top + plotH + 16}" text-anchor="middle">${label(t)}</text>`);
  for (const t of ys) out.push(`<text class="ytick" x="${m.left - 6}" y="${px(sy(t) + 4)}" text-anchor="end">${label(t)}</text>`);
  out.push('</g>');
  out.push(`<text class="xlabel" x="${px(m.left + plotW / 2)}" y="${height - 14}" text-anchor="middle" font-size="13" ${FONT}>${escapeXml(xLabel)}</text>`);
  out.push(`<text class="ylabel" x="16" y="${px(m.top + plotH / 2)}" text-anchor="middle" font-size="13" transform="rotate(-90 16 ${px(m.top + plotH / 2)})" ${FONT}>${escapeXml(yLabel)}</text>`);
  points.forEach((pts, i) => {
    const color = PALETTE[i % PALETTE.length];
    // a new "M" after every non-finite value: the line has a gap there
    let d = '';
    let pen = false;
    for (const [x, y] of pts) {
      if (!(Number.isFinite(x) && Number.isFinite(y))) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${px(sx(x))} ${px(sy(y))} `;
      pen = true;
    }
    out.push(`<g class="series" data-name="${escapeXml(series[i].name)}">`);
    out.push(`<path d="${d.trim()}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`);
    // dots, so a series of one point (or isolated points between gaps) still shows
    if (pts.length <= 60) for (const [x, y] of pts) if (Number.isFinite(x) && Number.isFinite(y))
      out.push(`<circle cx="${px(sx(x))}" cy="${px(sy(y))}" r="2.5" fill="${color}"/>`);
    out.push('</g>');
  });
  out.push(`<g class="legend" font-size="12" ${FONT}>`);
  series.forEach((s, i) => {
    const y = m.top + 8 + i * 20;
    const x = m.left + plotW + 16;
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="3"/><text x="${x + 28}" y="${y + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</g>', '</svg>');
  return out.join('\n') + '\n';
}

export interface BarChartOptions {
  title: string;
  /** the groups along the x axis */
  categories: readonly string[];
  /** one bar per category in each series; a value that is not finite (not measured) draws no bar */
  series: Series[];
  yLabel?: string;
  /** print each bar's value above it; default true */
  valueLabels?: boolean;
  /** a line of small print under the chart (what a missing bar means, ...) */
  note?: string;
  /** default: wide enough for every bar */
  width?: number;
  height?: number;
}

/**
 * Grouped bars: one group per category, one bar per series in each, on a y axis from 0, with the
 * values printed on the bars and a legend. Long category names are slanted. Bars that are missing
 * (a value that is not finite) leave their slot empty, so groups stay aligned.
 */
export function barChart(opts: BarChartOptions): string {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('barChart expects { title, categories, series, ... }');
  const { title, categories, series, yLabel = '', valueLabels = true, note = '' } = opts;
  if (!Array.isArray(categories) || categories.length === 0 || !categories.every((c) => typeof c === 'string'))
    throw new ArgumentError('barChart: categories must be a non-empty array of strings');
  if (!Array.isArray(series) || series.length === 0) throw new ArgumentError('barChart needs a non-empty series array');
  const values = series.map((s, i) => {
    if (s === null || typeof s !== 'object' || typeof s.name !== 'string') throw new ArgumentError(`series ${i} needs a string name`);
    if (!s.values || s.values.length !== categories.length)
      throw new ArgumentError(`series '${s.name}': ${s.values?.length} values for ${categories.length} categories`);
    return Array.from(s.values, (v) => {
      if (Number.isFinite(v) && Number(v) < 0) throw new ValueError(`series '${s.name}': bar values must be >= 0, got ${v}`);
      return Number(v);
    });
  });
  const finite = values.flat().filter((v) => Number.isFinite(v));
  if (finite.length === 0) throw new ValueError('barChart: no series has a finite value to draw');

  const nc = categories.length, ns = series.length;
  const slot = Math.max(10, Math.min(22, Math.floor(200 / ns)));
  const groupW = ns * slot + 16;
  const longest = Math.max(...categories.map((c) => c.length));
  // about 7 px a character at 12 px: a label wider than its group would run into the next one
  const slant = longest * 7.2 > groupW;
  const legendWidth = Math.min(320, 40 + 7 * Math.max(...series.map((s) => s.name.length)));
  const m = { left: 70, right: 24 + legendWidth, top: 44, bottom: (slant ? 30 + Math.min(160, longest * 5) : 56) + (note ? 18 : 0) };
  const width = checkSize(opts.width, 'width', Math.min(10000, Math.max(720, m.left + m.right + nc * groupW)));
  const height = checkSize(opts.height, 'height', 480 + m.bottom - 56);
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  if (plotW < nc * ns * 2 || plotH < 50) throw new ValueError(`a ${width}×${height} chart leaves no room for ${nc * ns} bars; make it larger`);
  const ys = niceTicks(0, Math.max(...finite));
  const y1 = ys[ys.length - 1];
  const sy = (y: number) => m.top + plotH - (y / y1) * plotH;
  const gw = plotW / nc;
  const bw = Math.min(slot, (gw - 8) / ns);

  const out = canvas(width, height, title);
  out.push('<g class="grid" stroke="#e5e5e5" stroke-width="1">');
  for (const t of ys) out.push(`<line x1="${m.left}" y1="${px(sy(t))}" x2="${m.left + plotW}" y2="${px(sy(t))}"/>`);
  out.push('</g>');
  out.push(`<g class="ticks" font-size="11" fill="#333" ${FONT}>`);
  for (const t of ys) out.push(`<text class="ytick" x="${m.left - 6}" y="${px(sy(t) + 4)}" text-anchor="end">${label(t)}</text>`);
  out.push('</g>');
  out.push(`<g class="bars" ${FONT}>`);
  values.forEach((vals, i) => {
    const color = PALETTE[i % PALETTE.length];
    out.push(`<g class="series" data-name="${escapeXml(series[i].name)}" fill="${color}">`);
    vals.forEach((v, c) => {
      if (!Number.isFinite(v)) return;
      const x = m.left + c * gw + (gw - ns * bw) / 2 + i * bw;
      const top = sy(v);
      out.push(`<rect class="bar" x="${px(x + 1)}" y="${px(top)}" width="${px(bw - 2)}" height="${px(m.top + plotH - top)}"><title>${escapeXml(`${series[i].name}, ${categories[c]}: ${label(v)}`)}</title></rect>`);
      if (valueLabels) {
        // upright above the bar: the number reads along the bar, so a narrow bar still fits it
        const cx = x + bw / 2, ty = top - 3;
        out.push(`<text class="value" x="${px(cx)}" y="${px(ty)}" font-size="${Math.max(8, Math.min(11, Math.floor(bw * 0.8)))}" fill="#222" transform="rotate(-90 ${px(cx + 3)} ${px(ty)})">${label(v, 3)}</text>`);
      }
    });
    out.push('</g>');
  });
  out.push('</g>');
  out.push(`<g class="axes" stroke="#333" stroke-width="1"><line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${m.top + plotH}"/><line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}"/></g>`);
  out.push(`<g class="categories" font-size="12" fill="#222" ${FONT}>`);
  categories.forEach((c, k) => {
    const cx = m.left + (k + 0.5) * gw, ty = m.top + plotH + 16;
    out.push(slant
      ? `<text class="category" x="${px(cx)}" y="${ty}" text-anchor="end" transform="rotate(-30 ${px(cx)} ${ty})">${escapeXml(c)}</text>`
      : `<text class="category" x="${px(cx)}" y="${ty}" text-anchor="middle">${escapeXml(c)}</text>`);
  });
  out.push('</g>');
  out.push(`<text class="ylabel" x="16" y="${px(m.top + plotH / 2)}" text-anchor="middle" font-size="13" transform="rotate(-90 16 ${px(m.top + plotH / 2)})" ${FONT}>${escapeXml(yLabel)}</text>`);
  if (note) out.push(`<text class="note" x="${m.left}" y="${height - 8}" font-size="11" fill="#555" ${FONT}>${escapeXml(note)}</text>`);
  out.push(`<g class="legend" font-size="12" ${FONT}>`);
  series.forEach((s, i) => {
    const y = m.top + 8 + i * 20;
    const x = m.left + plotW + 16;
    out.push(`<rect x="${x}" y="${y - 6}" width="14" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${x + 20}" y="${y + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</g>', '</svg>');
  return out.join('\n') + '\n';
}

export interface ConfusionMatrixOptions {
  /** matrix[trueClass][predictedClass] = count */
  matrix: ArrayLike<ArrayLike<number>>;
  labels: readonly string[];
  title?: string;
  cellSize?: number;
}

/** Counts of (true, predicted) label pairs: result[t][p]. */
export function confusionCounts(trueLabels: ArrayLike<number>, predicted: ArrayLike<number>, numClasses: number): number[][] {
  if (!(Number.isSafeInteger(numClasses) && numClasses > 0)) throw new ValueError(`numClasses must be a positive integer, got ${numClasses}`);
  if (!trueLabels || !predicted || trueLabels.length !== predicted.length)
    throw new ArgumentError(`confusionCounts: ${trueLabels?.length} true labels but ${predicted?.length} predictions`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < trueLabels.length; i++) {
    const t = trueLabels[i];
    const p = predicted[i];
    for (const v of [t, p]) if (!(Number.isInteger(v) && v >= 0 && v < numClasses))
      throw new ValueError(`confusionCounts: label ${v} at position ${i} is not a class index below ${numClasses}`);
    m[t][p]++;
  }
  return m;
}

/**
 * A heat map of a confusion matrix: rows are true classes, columns predicted ones, each cell shows
 * its count. Shading follows the count as a share of its row (for the diagonal, the recall of that row's
 * class), so classes with few examples read as clearly as common ones.
 */
export function confusionMatrix(opts: ConfusionMatrixOptions): string {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('confusionMatrix expects { matrix, labels, title? }');
  const { matrix, labels, title = 'Confusion matrix' } = opts;
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string'))
    throw new ArgumentError('confusionMatrix: labels must be a non-empty array of strings');
  const n = labels.length;
  if (!matrix || matrix.length !== n) throw new ArgumentError(`confusionMatrix: matrix has ${matrix?.length} rows for ${n} labels`);
  const rows: number[][] = [];
  for (let r = 0; r < n; r++) {
    const row = matrix[r];
    if (!row || row.length !== n) throw new ArgumentError(`confusionMatrix: row ${r} has ${row?.length} entries, expected ${n}`);
    rows.push(Array.from(row, (v, c) => {
      if (!(Number.isFinite(v) && v >= 0)) throw new ValueError(`confusionMatrix: entry [${r}][${c}] is ${v}, expected a count >= 0`);
      return v;
    }));
  }
  const cell = opts.cellSize === undefined ? Math.max(28, Math.min(56, Math.floor(560 / n))) : opts.cellSize;
  if (!(Number.isFinite(cell) && cell >= 8 && cell <= 200)) throw new ValueError(`cellSize must be in [8, 200], got ${cell}`);
  const longest = Math.max(...labels.map((l) => l.length));
  const m = { left: 40 + 7 * longest, top: 50, bottom: 30 + 6 * longest, right: 20 };
  const width = m.left + n * cell + m.right;
  const height = m.top + n * cell + m.bottom;
  const fontSize = Math.max(7, Math.min(13, Math.floor(cell / 3.2)));
  const total = rows.flat().reduce((a, b) => a + b, 0);
  const correct = rows.reduce((s, row, i) => s + row[i], 0);

  const out = canvas(width, height);
  const accuracy = total > 0 ? ` (accuracy ${(100 * correct / total).toFixed(2)}%)` : '';
  out.push(`<text class="title" x="${px(width / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold" ${FONT}>${escapeXml(title + accuracy)}</text>`);
  out.push(`<g class="cells" font-size="${fontSize}" text-anchor="middle" ${FONT}>`);
  rows.forEach((row, r) => {
    const rowSum = row.reduce((a, b) => a + b, 0);
    row.forEach((v, c) => {
      // the square root lifts the few-percent confusions out of the white; text turns white on dark cells
      const share = rowSum > 0 ? Math.sqrt(v / rowSum) : 0;
      const shade = (from: number, to: number) => Math.round(from + (to - from) * share);
      const fill = `rgb(${shade(247, 8)},${shade(251, 48)},${shade(255, 107)})`;
      const x = m.left + c * cell;
      const y = m.top + r * cell;
      out.push(`<rect class="cell" data-row="${r}" data-col="${c}" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"><title>true ${escapeXml(labels[r])}, predicted ${escapeXml(labels[c])}: ${v}</title></rect>`);
      out.push(`<text class="count" x="${px(x + cell / 2)}" y="${px(y + cell / 2 + fontSize / 3)}" fill="${share > 0.7 ? 'white' : '#222'}">${label(v, 6)}</text>`);
    });
  });
  out.push('</g>');
  out.push(`<g class="labels" font-size="12" ${FONT}>`);
  labels.forEach((l, i) => {
    const cy = m.top + i * cell + cell / 2;
    out.push(`<text class="rowlabel" x="${m.left - 6}" y="${px(cy + 4)}" text-anchor="end">${escapeXml(l)}</text>`);
    const cx = m.left + i * cell + cell / 2;
    const ty = m.top + n * cell + 10;
    out.push(`<text class="collabel" x="${px(cx)}" y="${ty}" text-anchor="end" transform="rotate(-45 ${px(cx)} ${ty})">${escapeXml(l)}</text>`);
  });
  out.push('</g>');
  out.push(`<text x="14" y="${px(m.top + (n * cell) / 2)}" text-anchor="middle" font-size="13" transform="rotate(-90 14 ${px(m.top + (n * cell) / 2)})" ${FONT}>true class</text>`);
  out.push(`<text x="${px(m.left + (n * cell) / 2)}" y="${height - 8}" text-anchor="middle" font-size="13" ${FONT}>predicted class</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// SVG charts: well-formed XML (a small checker: balanced tags, quoted attributes, escaped text),
// the right number of series, points, ticks and cells, values where they belong, gaps for
// non-finite values, escaping of user text, and typed errors for bad input.
import * as tf from '../ts';
import * as plot from '../ts/plot';
import { expectThrows } from './helpers';

interface El { name: string; attrs: Record<string, string>; children: El[]; text: string }

/** Parses the XML subset the writers emit; throws on anything malformed. */
function parseXml(s: string): El {
  const root: El = { name: '#root', attrs: {}, children: [], text: '' };
  const stack = [root];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  while ((m = token.exec(s))) {
    const [, close, name, attrText, selfClose, text, stray] = m;
    if (stray) throw new Error(`malformed markup at ${m.index}: ${s.slice(m.index, m.index + 40)}`);
    const top = stack[stack.length - 1];
    if (text !== undefined) {
      if (/&(?!(lt|gt|amp|quot|apos);)/.test(text)) throw new Error(`unescaped & in text: ${text}`);
      top.text += text;
      continue;
    }
    if (close) {
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      if (a[1] in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      if (/&(?!(lt|gt|amp|quot|apos);)/.test(a[2])) throw new Error(`unescaped & in attribute ${a[1]}`);
      attrs[a[1]] = a[2];
    }
    const el: El = { name, attrs, children: [], text: '' };
    top.children.push(el);
    if (!selfClose) stack.push(el);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  if (root.children.length !== 1 || root.children[0].name !== 'svg') throw new Error('expected one <svg> root');
  return root.children[0];
}
function all(el: El, pred: (e: El) => boolean): El[] {
  return [...(pred(el) ? [el] : []), ...el.children.flatMap((c) => all(c, pred))];
}
const byClass = (el: El, cls: string) => all(el, (e) => (e.attrs.class ?? '').split(' ').includes(cls));
const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

test('the XML checker rejects what a browser would', () => {
  expect(() => parseXml('<svg><g></svg>')).toThrow(/closes/);
  expect(() => parseXml('<svg><g>')).toThrow(/unclosed/);
  expect(() => parseXml('<svg>a & b</svg>')).toThrow(/unescaped &/);
  expect(() => parseXml('<svg><text x=1>a</text></svg>')).toThrow(/malformed/);
  expect(() => parseXml('<svg>a < b</svg>')).toThrow(/malformed/);
  expect(() => parseXml('<svg/><svg/>')).toThrow(/one <svg> root/);
  expect(parseXml('<svg a="1"><g/>x &amp; y</svg>').children.length).toBe(1);
});

describe('niceTicks', () => {
  test.each([[0, 1], [0.39, 2.3], [-3, 7], [1, 100], [0.0012, 0.0031], [5, 5], [0, 0], [-1e6, 2e6]])('[%p, %p]', (lo, hi) => {
    const t = plot.niceTicks(lo, hi);
    expect(t.length).toBeGreaterThanOrEqual(3);
    expect(t.length).toBeLessThanOrEqual(13);
    expect(t[0]).toBeLessThanOrEqual(lo);
    expect(t[t.length - 1]).toBeGreaterThanOrEqual(hi);
    const step = t[1] - t[0];
    const mantissa = step / 10 ** Math.floor(Math.log10(step));
    expect([1, 2, 5, 10].some((x) => Math.abs(mantissa - x) < 1e-6)).toBe(true);
    for (let i = 1; i < t.length; i++) expect(t[i] - t[i - 1]).toBeCloseTo(step, 9);
  });
  test('non-finite ranges are refused', () => {
    expectThrows(() => plot.niceTicks(0, Infinity), tf.ValueError, /finite/);
  });
});

describe('lineChart', () => {
  const series = [
    { name: 'train loss', values: [2.3, 1.2, 0.8, 0.6, 0.5] },
    { name: 'validation <loss> & "acc"', values: [2.1, 1.1, NaN, 0.7, 0.72] },
  ];

  test('well-formed SVG with a line and legend entry per series, ticks and labels', () => {
    const svg = plot.lineChart({ title: 'Loss <per> epoch & more', xLabel: 'epoch', yLabel: 'loss', series });
    const root = parseXml(svg);
    expect(root.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(unescape(byClass(root, 'title')[0].text)).toBe('Loss <per> epoch & more');
    expect(byClass(root, 'xlabel')[0].text).toBe('epoch');
    expect(byClass(root, 'ylabel')[0].text).toBe('loss');
    const groups = byClass(root, 'series');
    expect(groups.map((g) => unescape(g.attrs['data-name']))).toEqual(series.map((s) => s.name));
    const legend = byClass(root, 'legend')[0];
    expect(all(legend, (e) => e.name === 'text').map((e) => unescape(e.text))).toEqual(series.map((s) => s.name));
    const paths = groups.map((g) => all(g, (e) => e.name === 'path')[0].attrs.d);
    // the NaN breaks the second line into two pieces; the first is one piece of five points
    expect(paths[0].match(/M/g)!.length).toBe(1);
    expect(paths[0].match(/[ML]/g)!.length).toBe(5);
    expect(paths[1].match(/M/g)!.length).toBe(2);
    expect(paths[1].match(/[ML]/g)!.length).toBe(4);
    expect(groups.map((g) => all(g, (e) => e.name === 'circle').length)).toEqual([5, 4]);
    // x ticks cover epochs 1..5, y ticks cover 0.5..2.3, and every coordinate is inside the svg
    const xt = byClass(root, 'xtick').map((e) => Number(e.text));
    const yt = byClass(root, 'ytick').map((e) => Number(e.text));
    expect(Math.min(...xt)).toBeLessThanOrEqual(1);
    expect(Math.max(...xt)).toBeGreaterThanOrEqual(5);
    expect(Math.min(...yt)).toBeLessThanOrEqual(0.5);
    expect(Math.max(...yt)).toBeGreaterThanOrEqual(2.3);
    const [w, h] = [Number(root.attrs.width), Number(root.attrs.height)];
    for (const d of paths) for (const [, x, y] of d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)) {
      expect(Number(x)).toBeGreaterThan(0); expect(Number(x)).toBeLessThan(w);
      expect(Number(y)).toBeGreaterThan(0); expect(Number(y)).toBeLessThan(h);
    }
  });

  test('higher values are drawn higher, and x positions follow the given x', () => {
    const root = parseXml(plot.lineChart({ title: 't', series: [{ name: 'acc', values: [0.1, 0.9, 0.5], x: [0, 10, 20] }] }));
    const pts = [...all(root, (e) => e.name === 'path')[0].attrs.d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(pts[1][1]).toBeLessThan(pts[2][1]);
    expect(pts[2][1]).toBeLessThan(pts[0][1]);
    expect(pts[1][0] - pts[0][0]).toBeCloseTo(pts[2][0] - pts[1][0], 1);
    // a single point and a constant series still make a chart
    parseXml(plot.lineChart({ title: 'one', series: [{ name: 'a', values: [3] }] }));
    parseXml(plot.lineChart({ title: 'flat', series: [{ name: 'a', values: new Float32Array([0, 0, 0]) }] }));
  });

  test('bad input raises typed errors', () => {
    expectThrows(() => plot.lineChart({ title: 't', series: [] }), tf.ArgumentError, /non-empty series/);
    expectThrows(() => plot.lineChart({ title: 't', series: [{ name: 'a', values: [1, 2], x: [1] }] }), tf.ArgumentError, /x has 1 entries for 2 values/);
    expectThrows(() => plot.lineChart({ title: 't', series: [{ name: 'a', values: [NaN, Infinity] }] }), tf.ValueError, /no series has a finite value/);
    expectThrows(() => plot.lineChart({ title: 't', series: [{ values: [1] } as unknown as plot.Series] }), tf.ArgumentError, /string name/);
    expectThrows(() => plot.lineChart({ title: 't', series, width: 20 }), tf.ValueError, /width/);
    expectThrows(() => plot.lineChart(null as unknown as plot.LineChartOptions), tf.ArgumentError, /expects/);
  });
});

describe('barChart', () => {
  const categories = ['matmul 1024³', 'conv <fwd> & "bwd"', 'CNN step'];
  const series = [
    { name: 'tensorforge', values: [400, 120, 45] },
    { name: 'numpy', values: [310, NaN, NaN] },
    { name: 'pytorch', values: [200, 90, 30] },
  ];

  test('well-formed SVG: one bar per finite value, grouped by category, with values, labels and a legend', () => {
    const svg = parseXml(plot.barChart({ title: 'GFLOP/s', categories, series, yLabel: 'GFLOP/s' }));
    const groups = byClass(svg, 'series');
    expect(groups.map((g) => unescape(g.attrs['data-name']))).toEqual(series.map((s) => s.name));
    expect(groups.map((g) => byClass(g, 'bar').length)).toEqual([3, 1, 3]);
    expect(byClass(svg, 'value').map((t) => t.text)).toEqual(['400', '120', '45', '310', '200', '90', '30']);
    expect(byClass(svg, 'category').map((t) => unescape(t.text))).toEqual(categories);
    expect(byClass(svg, 'legend')[0].children.filter((c) => c.name === 'text').map((t) => t.text)).toEqual(series.map((s) => s.name));
    // the axis starts at 0 and covers the largest value
    const ticks = byClass(svg, 'ytick').map((t) => Number(t.text));
    expect(ticks[0]).toBe(0);
    expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(400);
  });

  test('heights follow values, bars of a category sit in its slot, series in order', () => {
    const svg = parseXml(plot.barChart({ title: 't', categories, series, valueLabels: false }));
    expect(byClass(svg, 'value')).toHaveLength(0);
    const bars = byClass(svg, 'series').map((g) => byClass(g, 'bar').map((b) => ({ x: Number(b.attrs.x), y: Number(b.attrs.y), h: Number(b.attrs.height) })));
    const [tf0, np0, pt0] = [bars[0][0], bars[1][0], bars[2][0]];
    // all bars stand on the same baseline
    for (const b of bars.flat()) expect(b.y + b.h).toBeCloseTo(tf0.y + tf0.h, 1);
    expect(tf0.h / pt0.h).toBeCloseTo(400 / 200, 2);
    expect(tf0.h / np0.h).toBeCloseTo(400 / 310, 2);
    expect(tf0.x).toBeLessThan(np0.x);
    expect(np0.x).toBeLessThan(pt0.x);
    // the second category's bars are right of every bar of the first
    expect(bars[0][1].x).toBeGreaterThan(pt0.x);
  });

  test('bad input raises typed errors', () => {
    expectThrows(() => plot.barChart({ title: 't', categories: [], series }), tf.ArgumentError, /categories/);
    expectThrows(() => plot.barChart({ title: 't', categories, series: [] }), tf.ArgumentError, /non-empty series/);
    expectThrows(() => plot.barChart({ title: 't', categories, series: [{ name: 'a', values: [1, 2] }] }), tf.ArgumentError, /2 values for 3 categories/);
    expectThrows(() => plot.barChart({ title: 't', categories, series: [{ name: 'a', values: [1, -2, 3] }] }), tf.ValueError, />= 0/);
    expectThrows(() => plot.barChart({ title: 't', categories, series: [{ name: 'a', values: [NaN, NaN, NaN] }] }), tf.ValueError, /no series has a finite value/);
    expectThrows(() => plot.barChart({ title: 't', categories, series, width: 50 }), tf.ValueError, /width/);
    expectThrows(() => plot.barChart(null as never), tf.ArgumentError, /barChart expects/);
  });
});

describe('confusionMatrix', () => {
  const labels = ['cat', 'dog & wolf', '<bird>'];
  const matrix = [[5, 1, 0], [2, 7, 1], [0, 0, 4]];

  test('one shaded cell per pair with its count, labels on both axes, accuracy in the title', () => {
    const root = parseXml(plot.confusionMatrix({ matrix, labels, title: 'Pets' }));
    const cells = byClass(root, 'cell');
    expect(cells.length).toBe(9);
    expect(cells.map((c) => [Number(c.attrs['data-row']), Number(c.attrs['data-col'])])).toEqual(
      [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => [r, c])));
    expect(byClass(root, 'count').map((e) => Number(e.text))).toEqual(matrix.flat());
    expect(byClass(root, 'rowlabel').map((e) => unescape(e.text))).toEqual(labels);
    expect(byClass(root, 'collabel').map((e) => unescape(e.text))).toEqual(labels);
    expect(byClass(root, 'title')[0].text).toBe('Pets (accuracy 80.00%)');
    // darker (smaller red channel) for a larger share of the row; an empty cell stays lightest
    const red = (r: number, c: number) => Number(/rgb\((\d+)/.exec(cells[r * 3 + c].attrs.fill)![1]);
    expect(red(0, 0)).toBeLessThan(red(0, 1));
    expect(red(0, 1)).toBeLessThan(red(0, 2));
    expect(red(2, 2)).toBe(8);
    expect(red(2, 0)).toBe(247);
    // cells tile a square without overlap
    const xs = new Set(cells.map((c) => c.attrs.x));
    const ys = new Set(cells.map((c) => c.attrs.y));
    expect([xs.size, ys.size]).toEqual([3, 3]);
  });

  test('confusionCounts tallies (true, predicted) pairs', () => {
    expect(plot.confusionCounts([0, 1, 1, 2, 2, 2], [0, 1, 0, 2, 2, 1], 3)).toEqual([[1, 0, 0], [1, 1, 0], [0, 1, 2]]);
    expect(plot.confusionCounts(new Int32Array(0), [], 2)).toEqual([[0, 0], [0, 0]]);
    expectThrows(() => plot.confusionCounts([0, 3], [0, 1], 3), tf.ValueError, /label 3 at position 1/);
    expectThrows(() => plot.confusionCounts([0], [0, 1], 3), tf.ArgumentError, /1 true labels but 2 predictions/);
  });

  test('bad input raises typed errors', () => {
    expectThrows(() => plot.confusionMatrix({ matrix: [[1, 2], [3]], labels: ['a', 'b'] }), tf.ArgumentError, /row 1 has 1 entries, expected 2/);
    expectThrows(() => plot.confusionMatrix({ matrix: [[1]], labels: ['a', 'b'] }), tf.ArgumentError, /1 rows for 2 labels/);
    expectThrows(() => plot.confusionMatrix({ matrix: [[1, -1], [0, 0]], labels: ['a', 'b'] }), tf.ValueError, /entry \[0\]\[1\] is -1/);
    expectThrows(() => plot.confusionMatrix({ matrix: [[NaN]], labels: ['a'] }), tf.ValueError, /entry \[0\]\[0\] is NaN/);
    expectThrows(() => plot.confusionMatrix({ matrix: [], labels: [] }), tf.ArgumentError, /labels must be a non-empty array/);
    // an all-zero matrix is fine: no accuracy to state
    const root = parseXml(plot.confusionMatrix({ matrix: [[0, 0], [0, 0]], labels: ['a', 'b'] }));
    expect(byClass(root, 'title')[0].text).toBe('Confusion matrix');
  });
});

// nn.RNN, nn.LSTM, nn.GRU with PyTorch 1.13's semantics: shapes ([T, B, F], batchFirst [B, T, F],
// unbatched [T, F]), gate order (LSTM i, f, g, o; GRU r, z, n with r applied to W_hn·h + b_hn),
// state-dict names (weight_ih_l{k}[_reverse], ...), initial/final states laid out
// [numLayers·numDirections, B, H], and dropout on every layer's output but the last.
//
// Composed from differentiable ops, so autograd needs nothing of its own. Per layer and direction
// the input projection x·W_ihᵀ + b for all T steps is one [T·B, in] matmul; only h·W_hhᵀ runs
// inside the time loop. No layout copies: the time dim stays where the input has it (0, or 1 with
// batchFirst) and each step reads a strided view of the projection.
//
// Lifetimes. Every intermediate is ours to free, and in a long sequence they add up, so each is
// freed as early as the backward pass allows (see drop and retire below): in inference (noGrad or
// nothing requiring grad) right after use, under autograd as soon as backward has passed the last
// node that reads it. A tensor whose values no backward formula reads (sums feeding sigmoid/tanh,
// slices, h·W_hhᵀ) is freed in the forward pass itself; matmul keeps its own handles on its operands.
import { Tensor } from '../tensor';
import { Module } from './module';
import { uniform, zeros } from '../ops/creation';
import { matmul } from '../ops/linalg';
import { relu, sigmoid, tanh } from '../ops/elementwise';
import { cat, reshape, slice, squeeze, stack, transpose, unsqueeze } from '../ops/movement';
import { dropout as dropoutOp } from '../ops/norm';
import { releaseTemporaries } from '../autograd';
import { ArgumentError, DTypeError, ShapeError, ValueError } from '../errors';
import { fmt, sameShape } from '../shape';

export type RNNNonlinearity = 'tanh' | 'relu';
export interface RNNBaseOptions {
  /** stacked layers; layer k > 0 reads layer k − 1's output (default 1) */
  numLayers?: number;
  /** b_ih and b_hh (default true) */
  bias?: boolean;
  /** input and output as [B, T, F] instead of [T, B, F]; states keep [L·D, B, H] (default false) */
  batchFirst?: boolean;
  /** dropout probability on each layer's output except the last, in training mode (default 0) */
  dropout?: number;
  /** a second pass over the sequence in reverse; outputs are [forward, reverse] along the last dim */
  bidirectional?: boolean;
}
export interface RNNOptions extends RNNBaseOptions { nonlinearity?: RNNNonlinearity }

type Mode = 'RNN_TANH' | 'RNN_RELU' | 'LSTM' | 'GRU';
const GATES: Record<Mode, number> = { RNN_TANH: 1, RNN_RELU: 1, LSTM: 4, GRU: 3 };

interface Cell { wIh: Tensor; wHh: Tensor; bIh: Tensor | null; bHh: Tensor | null }

/** Frees tensors now: nothing in the backward pass reads their values. A view's storage lives on
 *  while other views or op handles hold it. */
function drop(...ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) t?.dispose();
}
/** Frees t once backward can no longer read it: with its own graph node (whose backward runs after
 *  every consumer's), or, for a tensor outside the graph, with the node of `reader`, the one
 *  recorded op that reads it. Outside autograd: now. Call it when the forward pass is done with t. */
function retire(t: Tensor, reader?: Tensor): void {
  releaseTemporaries(t.gradFn ? t : reader ?? t, [t]);
}

/** x.select(dim, i) without the slice handle select keeps for its backward, which would hold
 *  x's storage (all T steps of the projection) until backward reaches that step. */
function pick(x: Tensor, dim: number, i: number): Tensor {
  const s = slice(x, dim, i, i + 1);
  const r = squeeze(s, dim);
  drop(s);
  return r;
}

function count(v: unknown, what: string, min: number): number {
  if (!Number.isSafeInteger(v) || (v as number) < min) throw new ArgumentError(`${what} must be an integer >= ${min}, got ${String(v)}`);
  return v as number;
}
function flag(v: unknown, what: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ArgumentError(`${what} must be a boolean, got ${String(v)}`);
  return v;
}

abstract class RNNBase<H> extends Module<[input: Tensor, hx?: H | null], [Tensor, H]> {
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;
  /** layer-major, direction-minor: cell l·D + d */
  private readonly _cells: Cell[] = [];

  constructor(protected readonly _mode: Mode, readonly inputSize: number, readonly hiddenSize: number, opts: RNNBaseOptions) {
    super();
    const name = new.target.name;
    if (opts === null || typeof opts !== 'object') throw new ArgumentError(`${name}: options must be an object`);
    count(inputSize, `${name}: inputSize`, 1);
    count(hiddenSize, `${name}: hiddenSize`, 1);
    this.numLayers = count(opts.numLayers ?? 1, `${name}: numLayers`, 1);
    this.bias = flag(opts.bias, `${name}: bias`, true);
    this.batchFirst = flag(opts.batchFirst, `${name}: batchFirst`, false);
    this.bidirectional = flag(opts.bidirectional, `${name}: bidirectional`, false);
    const p = opts.dropout ?? 0;
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError(`${name}: dropout must be a number in [0, 1], got ${String(p)}`);
    this.dropout = p;

    const G = GATES[_mode] * hiddenSize, k = 1 / Math.sqrt(hiddenSize);
    const init = (shape: number[]) => uniform(shape, -k, k);
    for (let l = 0; l < this.numLayers; l++) {
      const inSize = l === 0 ? inputSize : hiddenSize * this.numDirections;
      for (let d = 0; d < this.numDirections; d++) {
        const suffix = `_l${l}${d ? '_reverse' : ''}`;
        const cell: Cell = { wIh: init([G, inSize]), wHh: init([G, hiddenSize]), bIh: null, bHh: null };
        this.registerParameter(`weight_ih${suffix}`, cell.wIh);
        this.registerParameter(`weight_hh${suffix}`, cell.wHh);
        if (this.bias) {
          cell.bIh = init([G]);
          cell.bHh = init([G]);
          this.registerParameter(`bias_ih${suffix}`, cell.bIh);
          this.registerParameter(`bias_hh${suffix}`, cell.bHh);
        }
        this._cells.push(cell);
      }
    }
  }

  get numDirections(): number { return this.bidirectional ? 2 : 1; }
  /** Per layer and direction, [weight_ih, weight_hh, bias_ih, bias_hh] (torch's all_weights). */
  get allWeights(): Tensor[][] {
    return this._cells.map((c) => [c.wIh, c.wHh, ...(c.bIh && c.bHh ? [c.bIh, c.bHh] : [])]);
  }

  protected extraRepr(): string {
    return `${this.inputSize}, ${this.hiddenSize}` +
      (this.numLayers !== 1 ? `, numLayers=${this.numLayers}` : '') +
      (this._mode === 'RNN_RELU' ? `, nonlinearity='relu'` : '') +
      (this.bias ? '' : ', bias=false') + (this.batchFirst ? ', batchFirst=true' : '') +
      (this.dropout ? `, dropout=${this.dropout}` : '') + (this.bidirectional ? ', bidirectional=true' : '');
  }

  /** Checks the input and returns whether it is unbatched ([T, F]). */
  protected checkInput(x: unknown): boolean {
    const name = this.constructor.name;
    if (!(x instanceof Tensor)) throw new ArgumentError(`${name}: input must be a Tensor, got ${x === null ? 'null' : typeof x}`);
    x.assertAlive();
    if (x.dtype !== 'float32') throw new DTypeError(`${name}: input must be float32, got ${x.dtype}`);
    if (x.ndim !== 2 && x.ndim !== 3)
      throw new ShapeError(`${name}: expected a 3-D input ([T, B, F]${this.batchFirst ? ' as [B, T, F] with batchFirst' : ''}) or a 2-D unbatched one ([T, F]), got ${fmt(x.shape)}`);
    if (x.shape[x.ndim - 1] !== this.inputSize)
      throw new ShapeError(`${name}: input.size(-1) must equal inputSize ${this.inputSize}, got ${fmt(x.shape)}`);
    if (x.shape[x.ndim === 3 && this.batchFirst ? 1 : 0] === 0) throw new ValueError(`${name}: the sequence length must be at least 1, got ${fmt(x.shape)}`);
    return x.ndim === 2;
  }

  /** Checks an initial state (h0 or c0) against the input's batch. */
  protected checkState(h: unknown, what: string, x: Tensor, unbatched: boolean): Tensor {
    const name = this.constructor.name;
    if (!(h instanceof Tensor)) throw new ArgumentError(`${name}: ${what} must be a Tensor, got ${h === null ? 'null' : typeof h}`);
    h.assertAlive();
    if (h.dtype !== 'float32') throw new DTypeError(`${name}: ${what} must be float32, got ${h.dtype}`);
    const LD = this.numLayers * this.numDirections, H = this.hiddenSize;
    if (unbatched && h.ndim !== 2) throw new ShapeError(`${name}: for an unbatched 2-D input, ${what} must be 2-D [${LD}, ${H}] as well, got ${fmt(h.shape)}`);
    if (!unbatched && h.ndim !== 3) throw new ShapeError(`${name}: for a batched 3-D input, ${what} must be 3-D as well, got ${fmt(h.shape)}`);
    const want = unbatched ? [LD, H] : [LD, x.shape[this.batchFirst ? 0 : 1], H];
    if (!sameShape(h.shape, want))
      throw new ShapeError(`${name}: expected ${what} of shape ${fmt(want)} ([numLayers*numDirections, ${unbatched ? '' : 'batch, '}hiddenSize]), got ${fmt(h.shape)}`);
    return h;
  }

  /** The whole stack over the sequence: output, and the final states as [L·D, B, H] (2-D when unbatched). */
  protected run(x: Tensor, h0: Tensor | null, c0: Tensor | null, unbatched: boolean): { output: Tensor; h: Tensor; c: Tensor | null } {
    const isLSTM = this._mode === 'LSTM';
    const L = this.numLayers, D = this.numDirections, H = this.hiddenSize;
    const tdim = this.batchFirst ? 1 : 0, bdim = 1 - tdim;
    const xb = unbatched ? unsqueeze(x, bdim) : x;
    const T = xb.shape[tdim], B = xb.shape[bdim];
    // States as [L·D, B, H]; without one given, zeros (outside the graph, like a user's h0).
    const states = (s: Tensor | null) => (s === null ? zeros([L * D, B, H]) : unbatched ? unsqueeze(s, 1) : s);
    const hx = states(h0), cx = isLSTM ? states(c0) : null;
    const finalH: Tensor[] = [], finalC: Tensor[] = [];

    let inp = xb;
    for (let l = 0; l < L; l++) {
      const x2d = reshape(inp, [T * B, inp.shape[2]]);
      if (inp !== x) drop(inp);  // reshape and matmul read no values through this handle
      const dirOuts: Tensor[] = [];
      for (let d = 0; d < D; d++) {
        const k = l * D + d;
        const hk = pick(hx, 0, k), ck = cx ? pick(cx, 0, k) : null;
        const r = this.sweep(this._cells[k], x2d, T, B, tdim, d === 1, hk, ck);
        dirOuts.push(r.out);
        finalH.push(r.h);
        if (r.c) finalC.push(r.c);
      }
      drop(x2d);
      const out = D === 1 ? dirOuts[0] : cat(dirOuts, 2);
      if (D > 1) drop(...dirOuts);
      if (l < L - 1 && this.training && this.dropout > 0) {
        inp = dropoutOp(out, this.dropout, true);
        retire(out, inp);  // the mask multiply reads it
      } else inp = out;
    }
    if (hx !== h0) drop(hx);
    if (cx && cx !== c0) drop(cx);

    const h = stack(finalH, 0), c = isLSTM ? stack(finalC, 0) : null;
    finalH.forEach((t) => retire(t));
    finalC.forEach((t) => retire(t));
    if (!unbatched) return { output: inp, h, c };
    const out = { output: squeeze(inp, bdim), h: squeeze(h, 1), c: c && squeeze(c, 1) };
    drop(inp, h, c);  // squeezed views read no values
    return out;
  }

  /** One layer in one direction: the input projection for all steps at once, then the recurrence.
   *  Returns the stacked per-step outputs (time dim tdim) and the final states. */
  private sweep(cell: Cell, x2d: Tensor, T: number, B: number, tdim: number, reverse: boolean, h0: Tensor, c0: Tensor | null) {
    const mode = this._mode, H = this.hiddenSize, G = GATES[mode] * H;
    const wT = transpose(cell.wIh, 0, 1);
    const mm = matmul(x2d, wT);
    drop(wT);
    // RNN and LSTM add b_ih and b_hh to the same pre-activation: both go into the projection, once
    // per layer instead of once per step (GRU cannot: r multiplies W_hn·h + b_hn). Two adds rather
    // than one of b_ih + b_hh, whose backward would hand both bias gradients one shared buffer.
    let xp2 = mm;
    if (cell.bIh && cell.bHh) {
      const withIh = mm.add(cell.bIh);
      xp2 = mode === 'GRU' ? withIh : withIh.add(cell.bHh);
      drop(mm, xp2 === withIh ? null : withIh);
    }
    const xp = reshape(xp2, tdim === 0 ? [T, B, G] : [B, T, G]);
    drop(xp2);
    const whhT = transpose(cell.wHh, 0, 1);
    const hs = new Array<Tensor>(T);
    let h = h0, c = c0;
    for (let s = 0; s < T; s++) {
      const t = reverse ? T - 1 - s : s;
      const xt = pick(xp, tdim, t);
      const hh = matmul(h, whhT);
      let hNew: Tensor;
      if (mode === 'LSTM') [hNew, c] = lstmStep(xt, hh, c!, H);
      else if (mode === 'GRU') hNew = gruStep(xt, hh, cell.bHh, h, H);
      else {
        const pre = xt.add(hh);
        hNew = mode === 'RNN_RELU' ? relu(pre) : tanh(pre);
        if (mode === 'RNN_RELU') retire(pre); else drop(pre);  // relu's backward reads its input, tanh's its output
      }
      drop(xt, hh);
      if (s === 0) drop(h0);  // read only by matmul (own handle) and, in GRU, by a subtraction
      hs[t] = hNew;
      h = hNew;
    }
    drop(xp, whhT);
    const out = stack(hs, tdim);
    // hs[last] is h; the caller stacks it into the final state and retires it
    for (const t of hs) if (t !== h) retire(t);
    return { out, h, c };
  }
}

/** i, f, g, o = σ, σ, tanh, σ of the gate slices; c' = f·c + i·g; h' = o·tanh(c'). Retires c. */
function lstmStep(xt: Tensor, hh: Tensor, c: Tensor, H: number): [Tensor, Tensor] {
  const gates = xt.add(hh);
  const [pi, pf, pg, po] = [0, 1, 2, 3].map((k) => slice(gates, 1, k * H, (k + 1) * H));
  drop(gates);
  const i = sigmoid(pi), f = sigmoid(pf), g = tanh(pg), o = sigmoid(po);
  drop(pi, pf, pg, po);  // sigmoid and tanh differentiate through their outputs
  const fc = f.mul(c), ig = i.mul(g);
  retire(f, fc); retire(c, fc); retire(i, ig); retire(g, ig);
  const cNew = fc.add(ig);
  drop(fc, ig);
  const tc = tanh(cNew);
  const hNew = o.mul(tc);
  retire(o, hNew); retire(tc, hNew);
  return [hNew, cNew];
}

/** r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r·(W_hn·h + b_hn)), h' = n + z·(h − n). */
function gruStep(xt: Tensor, hh: Tensor, bHh: Tensor | null, h: Tensor, H: number): Tensor {
  const gh = bHh ? hh.add(bHh) : hh;
  const part = (t: Tensor, k: number) => slice(t, 1, k * H, (k + 1) * H);
  const [xr, xz, xn] = [0, 1, 2].map((k) => part(xt, k));
  const [hr, hz, hn] = [0, 1, 2].map((k) => part(gh, k));
  if (gh !== hh) drop(gh);
  const sr = xr.add(hr), sz = xz.add(hz);
  drop(xr, xz, hr, hz);
  const r = sigmoid(sr), z = sigmoid(sz);
  drop(sr, sz);
  const rhn = r.mul(hn);
  retire(r, rhn); retire(hn, rhn);
  const sn = xn.add(rhn);
  drop(xn, rhn);
  const n = tanh(sn);
  drop(sn);
  const diff = h.sub(n);
  const zd = z.mul(diff);
  retire(z, zd); retire(diff, zd);
  const hNew = n.add(zd);
  drop(zd);
  retire(n);
  return hNew;
}

/** Elman RNN: h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh) (or relu). forward(x, h0?) → [output, hN]. */
export class RNN extends RNNBase<Tensor> {
  constructor(inputSize: number, hiddenSize: number, opts: RNNOptions = {}) {
    const nl = opts?.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu') throw new ValueError(`RNN: nonlinearity must be 'tanh' or 'relu', got '${String(nl)}'`);
    super(nl === 'relu' ? 'RNN_RELU' : 'RNN_TANH', inputSize, hiddenSize, opts);
  }
  get nonlinearity(): RNNNonlinearity { return this._mode === 'RNN_RELU' ? 'relu' : 'tanh'; }
  forward(x: Tensor, hx: Tensor | null = null): [Tensor, Tensor] {
    const unbatched = this.checkInput(x);
    const h0 = hx === null || hx === undefined ? null : this.checkState(hx, 'h0', x, unbatched);
    const r = this.run(x, h0, null, unbatched);
    return [r.output, r.h];
  }
}

/** Long short-term memory. forward(x, [h0, c0]?) → [output, [hN, cN]]. */
export class LSTM extends RNNBase<[Tensor, Tensor]> {
  constructor(inputSize: number, hiddenSize: number, opts: RNNBaseOptions = {}) { super('LSTM', inputSize, hiddenSize, opts); }
  forward(x: Tensor, hx: [Tensor, Tensor] | null = null): [Tensor, [Tensor, Tensor]] {
    const unbatched = this.checkInput(x);
    let h0: Tensor | null = null, c0: Tensor | null = null;
    if (hx !== null && hx !== undefined) {
      if (!Array.isArray(hx) || hx.length !== 2) throw new ArgumentError('LSTM: hx must be a pair [h0, c0] of Tensors');
      h0 = this.checkState(hx[0], 'h0', x, unbatched);
      c0 = this.checkState(hx[1], 'c0', x, unbatched);
    }
    const r = this.run(x, h0, c0, unbatched);
    return [r.output, [r.h, r.c!]];
  }
}

/** Gated recurrent unit. forward(x, h0?) → [output, hN]. */
export class GRU extends RNNBase<Tensor> {
  constructor(inputSize: number, hiddenSize: number, opts: RNNBaseOptions = {}) { super('GRU', inputSize, hiddenSize, opts); }
  forward(x: Tensor, hx: Tensor | null = null): [Tensor, Tensor] {
    const unbatched = this.checkInput(x);
    const h0 = hx === null || hx === undefined ? null : this.checkState(hx, 'h0', x, unbatched);
    const r = this.run(x, h0, null, unbatched);
    return [r.output, r.h];
  }
}

// nn.MultiheadAttention, nn.TransformerEncoderLayer and nn.TransformerEncoder with PyTorch 1.13's
// semantics, constructor defaults, initialisation and state-dict names/shapes.
//
// Two attention paths give the same values:
//   - fused: F.scaledDotProductAttention (native, never materialises the L×S scores), taken when
//     the weights are not asked for and attention dropout is off (eval, or dropout 0);
//   - explicit: softmax(q·kᵀ·scale + mask), then dropout, then ·v, with existing ops, taken when
//     needWeights is true (torch's default for MultiheadAttention.forward) or dropout is active.
// The key padding mask, the attention mask and the causal mask are folded into one mask for
// either path: bool (true = may attend) while every given mask is bool, else float (added).
//
// Where this differs from torch 1.13, on purpose:
//   - A query row that may attend no key at all (every key padded or masked) outputs 0 and has
//     weights 0 on both paths; torch's math path gives NaN there, and its nested-tensor fast path
//     (TransformerEncoder in eval with a key padding mask) gives 0 at padded positions.
//   - isCausal (a torch 2 argument) applies torch's causal mask ones(L, S).tril(); given with an
//     attnMask both masks apply (torch 2 takes isCausal as a hint that attnMask is causal, and
//     then the result is the same).
//   - Masks are constants: a mask that requires grad is refused while autograd records, as in
//     F.scaledDotProductAttention.
//
// Memory: while autograd records (a parameter or an input requires grad), the intermediate
// tensors are inputs of the graph and stay alive until the caller's tf.scope closes, as in
// Sequential; without a graph (tf.noGrad, frozen parameters) they are freed before forward returns.
import { Tensor } from '../tensor';
import type { Device } from '../backend';
import { Module } from './module';
import { Linear, LayerNorm, Dropout } from './layers';
import { xavierUniform_ } from './init';
import { empty, tensor, zeros } from '../ops/creation';
import { where, maximum, minimum, eq, gt } from '../ops/elementwise';
import { matmul, linear } from '../ops/linalg';
import { softmax } from '../ops/softmax';
import { dropout } from '../ops/norm';
import { gelu, relu } from '../ops/activation';
import { scaledDotProductAttention } from '../ops/attention';
import { isGradEnabled, noGrad } from '../autograd';
import { scope } from '../storage';
import { ArgumentError, DTypeError, ShapeError, ValueError } from '../errors';
import { fmt } from '../shape';

function size(v: unknown, what: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ArgumentError(`${what} must be an integer >= 1, got ${String(v)}`);
  return v as number;
}
function probability(v: unknown, what: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ValueError(`${what} must be a probability in [0, 1], got ${String(v)}`);
  return v;
}
function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new ArgumentError(`${what} must be a boolean, got ${String(v)}`);
  return v;
}
function options<T extends object>(o: T | undefined | null, what: string): T {
  if (o === undefined) return {} as T;
  if (o === null || typeof o !== 'object') throw new ArgumentError(`${what}: options must be an object`);
  return o;
}

/** Runs body in a tf.scope when no graph will be recorded (nothing needs the intermediates), else
 *  directly, leaving the intermediates, which the graph uses, to the caller's scope. */
function temporaries<T>(recording: boolean, body: () => T): T {
  return recording ? body() : scope(body);
}
const records = (ts: (Tensor | null | undefined)[]) => isGradEnabled() && ts.some((t) => t?.requiresGrad);

export interface MultiheadAttentionOptions {
  /** Dropout probability on the attention weights (training only). Default 0. */
  dropout?: number;
  /** Biases on the input and output projections. Default true. */
  bias?: boolean;
  /** Features of key and value; default embedDim. Other sizes use separate q/k/v projection
   *  weights (q_proj_weight, k_proj_weight, v_proj_weight), as torch does. */
  kdim?: number;
  vdim?: number;
  /** Inputs and output as [N, L, E] instead of [L, N, E]. Default false. */
  batchFirst?: boolean;
}

export interface MultiheadAttentionForwardOptions {
  /** [N, S] (or [S] for unbatched input). bool: true = ignore that key; float: added to the scores. */
  keyPaddingMask?: Tensor | null;
  /** Return the attention weights too. Default true, as in torch. */
  needWeights?: boolean;
  /** [L, S] or [N·numHeads, L, S] (unbatched: [L, S] or [numHeads, L, S]). bool: true = may NOT
   *  attend (torch's MultiheadAttention convention, the opposite of F.scaledDotProductAttention);
   *  float: added to the scores. */
  attnMask?: Tensor | null;
  /** Average the returned weights over heads ([N, L, S]) or not ([N, numHeads, L, S]). Default true. */
  averageAttnWeights?: boolean;
  /** Apply the causal mask ones(L, S).tril(): query i attends keys j <= i. Default false. */
  isCausal?: boolean;
}

/** The folded mask, broadcastable to the scores [N, H, L, S]. */
type FoldedMask = { kind: 'none' } | { kind: 'causal' } | { kind: 'bool'; allowed: Tensor } | { kind: 'float'; add: Tensor };

export class MultiheadAttention extends Module<[Tensor, Tensor, Tensor, MultiheadAttentionForwardOptions?], [Tensor, Tensor | null]> {
  inProjWeight: Tensor | null;
  qProjWeight: Tensor | null;
  kProjWeight: Tensor | null;
  vProjWeight: Tensor | null;
  inProjBias: Tensor | null;
  outProj: Linear;
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;

  constructor(readonly embedDim: number, readonly numHeads: number, opts: MultiheadAttentionOptions = {}) {
    super();
    const o = options(opts, 'MultiheadAttention');
    size(embedDim, 'MultiheadAttention: embedDim');
    size(numHeads, 'MultiheadAttention: numHeads');
    if (embedDim % numHeads !== 0)
      throw new ValueError(`MultiheadAttention: embedDim (${embedDim}) must be divisible by numHeads (${numHeads})`);
    this.headDim = embedDim / numHeads;
    this.kdim = size(o.kdim ?? embedDim, 'MultiheadAttention: kdim');
    this.vdim = size(o.vdim ?? embedDim, 'MultiheadAttention: vdim');
    this.dropout = probability(o.dropout ?? 0, 'MultiheadAttention: dropout');
    this.batchFirst = bool(o.batchFirst ?? false, 'MultiheadAttention: batchFirst');
    const bias = bool(o.bias ?? true, 'MultiheadAttention: bias');
    const E = embedDim;
    const xavier = (shape: number[]) => {
      const t = empty(shape);
      xavierUniform_(t);
      return this.param(t);
    };
    if (this.kdim === E && this.vdim === E) {
      this.inProjWeight = xavier([3 * E, E]);
      this.qProjWeight = this.kProjWeight = this.vProjWeight = null;
    } else {
      this.inProjWeight = null;
      this.qProjWeight = xavier([E, E]);
      this.kProjWeight = xavier([E, this.kdim]);
      this.vProjWeight = xavier([E, this.vdim]);
    }
    this.inProjBias = bias ? this.param(zeros([3 * E])) : null;
    this.outProj = new Linear(E, E, { bias });
    this.outProj.bias?.fill_(0);
  }

  /**
   * query [L, N, E] (batchFirst: [N, L, E]; unbatched: [L, E]), key [S, N, kdim], value
   * [S, N, vdim] -> [output shaped like query, weights [N, L, S] (or per head [N, H, L, S]) or null].
   */
  forward(query: Tensor, key: Tensor, value: Tensor, opts: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const o = options(opts, 'MultiheadAttention.forward');
    const needWeights = bool(o.needWeights ?? true, 'MultiheadAttention.forward: needWeights');
    const average = bool(o.averageAttnWeights ?? true, 'MultiheadAttention.forward: averageAttnWeights');
    const isCausal = bool(o.isCausal ?? false, 'MultiheadAttention.forward: isCausal');
    const { batched, N, L, S } = this.checkInputs(query, key, value);
    const kpm = o.keyPaddingMask ?? null, attnMask = o.attnMask ?? null;
    this.checkMasks(kpm, attnMask, batched, N, L, S);
    const recording = records([query, key, value, ...this.parameters()]);
    return temporaries(recording, () => {
      // Everything below works on batch-first [N, T, features] views.
      const toBatchFirst = (x: Tensor) => (!batched ? x.unsqueeze(0) : this.batchFirst ? x : x.transpose(0, 1));
      const [q, k, v] = this.project(toBatchFirst(query), query === key && key === value ? null : [toBatchFirst(key), toBatchFirst(value)]);
      const heads = (x: Tensor, T: number) => x.reshape([N, T, this.numHeads, this.headDim]).permute([0, 2, 1, 3]);
      const qh = heads(q, L), kh = heads(k, S), vh = heads(v, S);
      const mask = foldMasks(kpm, attnMask, isCausal, N, this.numHeads, L, S);
      const dropoutActive = this.training && this.dropout > 0;
      let out: Tensor, weights: Tensor | null = null;
      if (!needWeights && !dropoutActive) {
        out = scaledDotProductAttention(qh, kh, vh, mask.kind === 'none' ? {}
          : mask.kind === 'causal' ? { isCausal: true }
          : { attnMask: mask.kind === 'bool' ? mask.allowed : mask.add });
      } else {
        let p = explicitAttention(qh, kh, mask, 1 / Math.sqrt(this.headDim));
        // torch returns the weights after dropout (they are what multiplied v)
        if (dropoutActive) p = dropout(p, this.dropout, true);
        out = matmul(p, vh);
        if (needWeights) weights = average ? p.mean(1) : p;
        if (weights && !batched) weights = weights.squeeze(0);
      }
      // [N, H, L, Dh] -> [L, N, H, Dh] or [N, L, H, Dh] -> ... E, so the result is contiguous in the caller's layout
      const seqFirst = batched && !this.batchFirst;
      const merged = out.permute(seqFirst ? [2, 0, 1, 3] : [0, 2, 1, 3]).reshape(seqFirst ? [L, N, this.embedDim] : [N, L, this.embedDim]);
      let y = this.outProj.forward(merged);
      if (!batched) y = y.squeeze(0);
      return [y, weights] as [Tensor, Tensor | null];
    });
  }

  /** q, k, v [N, T, E] from batch-first inputs; kv null: self-attention on x with one packed product. */
  private project(x: Tensor, kv: [Tensor, Tensor] | null): [Tensor, Tensor, Tensor] {
    const E = this.embedDim, b = this.inProjBias;
    const part = (t: Tensor | null, i: number) => (t ? t.slice(0, i * E, (i + 1) * E) : null);
    if (kv === null && this.inProjWeight) {
      const qkv = linear(x, this.inProjWeight, b);
      return [qkv.slice(-1, 0, E), qkv.slice(-1, E, 2 * E), qkv.slice(-1, 2 * E, 3 * E)];
    }
    const [k, v] = kv ?? [x, x];
    const w = (sep: Tensor | null, i: number) => sep ?? part(this.inProjWeight, i)!;
    return [linear(x, w(this.qProjWeight, 0), part(b, 0)), linear(k, w(this.kProjWeight, 1), part(b, 1)),
      linear(v, w(this.vProjWeight, 2), part(b, 2))];
  }

  private checkInputs(query: Tensor, key: Tensor, value: Tensor): { batched: boolean; N: number; L: number; S: number } {
    const op = 'MultiheadAttention';
    for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const) {
      if (!(t instanceof Tensor)) throw new ArgumentError(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
      t.assertAlive();
      if (t.dtype !== 'float32') throw new DTypeError(`${op}: ${name} must be float32, got ${t.dtype}`);
    }
    if (query.ndim !== 2 && query.ndim !== 3)
      throw new ShapeError(`${op}: query must be 3-D (batched) or 2-D (unbatched), got ${fmt(query.shape)}`);
    const batched = query.ndim === 3;
    if (key.ndim !== query.ndim || value.ndim !== query.ndim)
      throw new ShapeError(`${op}: key and value must be ${query.ndim}-D like query, got key ${fmt(key.shape)} and value ${fmt(value.shape)}`);
    const layout = !batched ? '[T, features]' : this.batchFirst ? '[N, T, features]' : '[T, N, features]';
    const seqDim = batched && this.batchFirst ? 1 : 0, batchDim = this.batchFirst ? 0 : 1;
    const feat = (t: Tensor) => t.shape[t.ndim - 1];
    const expectFeatures = (name: string, t: Tensor, n: number) => {
      if (feat(t) !== n) throw new ShapeError(`${op}: ${name} must have ${n} features (last dim), got ${fmt(t.shape)} (layout ${layout})`);
    };
    expectFeatures('query', query, this.embedDim);
    expectFeatures('key', key, this.kdim);
    expectFeatures('value', value, this.vdim);
    const N = batched ? query.shape[batchDim] : 1;
    if (batched && (key.shape[batchDim] !== N || value.shape[batchDim] !== N))
      throw new ShapeError(`${op}: query, key and value must share the batch size (layout ${layout}), got ${fmt(query.shape)}, ${fmt(key.shape)}, ${fmt(value.shape)}`);
    if (key.shape[seqDim] !== value.shape[seqDim])
      throw new ShapeError(`${op}: key and value must have the same sequence length (layout ${layout}), got ${fmt(key.shape)} and ${fmt(value.shape)}`);
    return { batched, N, L: query.shape[seqDim], S: key.shape[seqDim] };
  }

  private checkMasks(kpm: Tensor | null, attnMask: Tensor | null, batched: boolean, N: number, L: number, S: number): void {
    const op = 'MultiheadAttention';
    for (const [name, m] of [['keyPaddingMask', kpm], ['attnMask', attnMask]] as const) {
      if (m === null) continue;
      if (!(m instanceof Tensor)) throw new ArgumentError(`${op}: ${name} must be a Tensor or null`);
      m.assertAlive();
      if (m.dtype !== 'bool' && m.dtype !== 'float32') throw new DTypeError(`${op}: ${name} must be bool or float32, got ${m.dtype}`);
      if (m.requiresGrad && isGradEnabled())
        throw new ArgumentError(`${op}: ${name} receives no gradient (it is treated as a constant); pass ${name}.detach()`);
    }
    if (kpm) {
      const want = batched ? [N, S] : [S];
      if (kpm.shape.join() !== want.join())
        throw new ShapeError(`${op}: keyPaddingMask must have shape ${fmt(want)} (${batched ? '[N, S]' : '[S] for unbatched input'}), got ${fmt(kpm.shape)}`);
    }
    if (attnMask) {
      const want3 = [N * this.numHeads, L, S];
      const ok = attnMask.shape.join() === [L, S].join() || attnMask.shape.join() === want3.join();
      if (!ok)
        throw new ShapeError(`${op}: attnMask must have shape ${fmt([L, S])} or ${fmt(want3)} ([L, S] or ` +
          `[${batched ? 'N·numHeads' : 'numHeads'}, L, S]), got ${fmt(attnMask.shape)}`);
    }
  }

  protected extraRepr() {
    return `embedDim=${this.embedDim}, numHeads=${this.numHeads}, dropout=${this.dropout}, batchFirst=${this.batchFirst}` +
      (this.inProjWeight ? '' : `, kdim=${this.kdim}, vdim=${this.vdim}`);
  }
}

/** torch's causal mask ones(L, S).tril() as bool, true = may attend. */
function causalMask(L: number, S: number, device: Device): Tensor {
  const data = new Uint8Array(L * S);
  for (let i = 0; i < L; i++) for (let j = 0; j <= Math.min(i, S - 1); j++) data[i * S + j] = 1;
  return tensor(data, [L, S], { dtype: 'bool', device });
}

/** Folds the key padding mask [N, S], attention mask [L, S] | [N·H, L, S] and causal flag into one
 *  mask broadcastable to [N, H, L, S]: bool (true = may attend) while all are bool, else float. */
function foldMasks(kpm: Tensor | null, attnMask: Tensor | null, isCausal: boolean, N: number, H: number, L: number, S: number): FoldedMask {
  return noGrad(() => {
    if (!kpm && !attnMask) return isCausal ? { kind: 'causal' } : { kind: 'none' };
    const allowed: Tensor[] = [];  // bool pieces, true = may attend
    const added: Tensor[] = [];    // float pieces
    if (kpm) {
      const k = kpm.reshape([N, 1, 1, S]);
      if (kpm.dtype === 'bool') allowed.push(eq(k, false)); else added.push(k);
    }
    if (attnMask) {
      const a = attnMask.ndim === 3 ? attnMask.reshape([N, H, L, S]) : attnMask;
      if (attnMask.dtype === 'bool') allowed.push(eq(a, false)); else added.push(a);
    }
    if (isCausal) allowed.push(causalMask(L, S, (kpm ?? attnMask)!.device));
    const all = allowed.length ? allowed.reduce((a, b) => minimum(a, b)) : null;
    if (!added.length) return { kind: 'bool', allowed: all! };
    let add = added.reduce((a, b) => a.add(b));
    if (all) add = where(all, add, -Infinity);
    return { kind: 'float', add };
  });
}

/** softmax(q·kᵀ·scale + mask) over keys, [N, H, L, S]; a row that may attend no key is all 0. */
function explicitAttention(q: Tensor, k: Tensor, mask: FoldedMask, scale: number): Tensor {
  let scores = matmul(q, k.transpose(-1, -2)).mul(scale);
  if (mask.kind === 'none') return softmax(scores, -1);
  const m: Tensor = mask.kind === 'causal' ? causalMask(q.shape[2], k.shape[2], q.device) : mask.kind === 'bool' ? mask.allowed : mask.add;
  // Rows with no finite score would give NaN in softmax (and its backward); they are computed on
  // zeros instead and zeroed after, so neither values nor gradients see a NaN.
  const rowLive = noGrad(() => (m.dtype === 'bool' ? gt(m.toDType('float32').max(-1, true), 0) : gt(m.max(-1, true), -Infinity)));
  scores = m.dtype === 'bool' ? where(m, scores, -Infinity) : scores.add(m);
  const p = softmax(where(rowLive, scores, 0), -1);
  return where(rowLive, p, 0);
}

// ---- encoder ----------------------------------------------------------------------------------
export type TransformerActivation = 'relu' | 'gelu' | ((x: Tensor) => Tensor);

export interface TransformerEncoderLayerOptions {
  /** Width of the feed-forward block. Default 2048. */
  dimFeedforward?: number;
  /** Dropout after attention, inside and after the feed-forward block, and on the attention
   *  weights. Default 0.1. */
  dropout?: number;
  /** Default 'relu'. */
  activation?: TransformerActivation;
  /** Default 1e-5. */
  layerNormEps?: number;
  /** [N, S, E] instead of [S, N, E]. Default false. */
  batchFirst?: boolean;
  /** Pre-norm (x + f(norm(x))) instead of post-norm (norm(x + f(x))). Default false. */
  normFirst?: boolean;
}

export interface TransformerEncoderForwardOptions {
  /** The self-attention's attnMask: [S, S] or [N·nhead, S, S]; bool true = may NOT attend, float added. */
  srcMask?: Tensor | null;
  /** [N, S] (unbatched: [S]); bool true = padding (ignored as a key). */
  srcKeyPaddingMask?: Tensor | null;
  /** Apply the causal mask (see MultiheadAttentionForwardOptions.isCausal). */
  isCausal?: boolean;
}

export class TransformerEncoderLayer extends Module<[Tensor, TransformerEncoderForwardOptions?], Tensor> {
  selfAttn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;
  readonly normFirst: boolean;
  readonly batchFirst: boolean;
  private readonly _activation: (x: Tensor) => Tensor;
  private readonly _config: Required<TransformerEncoderLayerOptions>;

  constructor(readonly dModel: number, readonly nhead: number, opts: TransformerEncoderLayerOptions = {}) {
    super();
    const o = options(opts, 'TransformerEncoderLayer');
    size(dModel, 'TransformerEncoderLayer: dModel');
    size(nhead, 'TransformerEncoderLayer: nhead');
    const dimFeedforward = size(o.dimFeedforward ?? 2048, 'TransformerEncoderLayer: dimFeedforward');
    const p = probability(o.dropout ?? 0.1, 'TransformerEncoderLayer: dropout');
    const eps = o.layerNormEps ?? 1e-5;
    if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps))
      throw new ValueError(`TransformerEncoderLayer: layerNormEps must be a finite number >= 0, got ${String(eps)}`);
    const activation = o.activation ?? 'relu';
    if (activation === 'relu') this._activation = relu;
    else if (activation === 'gelu') this._activation = (x) => gelu(x);
    else if (typeof activation === 'function') this._activation = activation;
    else throw new ArgumentError(`TransformerEncoderLayer: activation must be 'relu', 'gelu' or a function, got ${String(activation)}`);
    this.batchFirst = bool(o.batchFirst ?? false, 'TransformerEncoderLayer: batchFirst');
    this.normFirst = bool(o.normFirst ?? false, 'TransformerEncoderLayer: normFirst');
    this._config = { dimFeedforward, dropout: p, activation, layerNormEps: eps, batchFirst: this.batchFirst, normFirst: this.normFirst };
    this.selfAttn = new MultiheadAttention(dModel, nhead, { dropout: p, batchFirst: this.batchFirst });
    this.linear1 = new Linear(dModel, dimFeedforward);
    this.dropout = new Dropout(p);
    this.linear2 = new Linear(dimFeedforward, dModel);
    this.norm1 = new LayerNorm(dModel, { eps });
    this.norm2 = new LayerNorm(dModel, { eps });
    this.dropout1 = new Dropout(p);
    this.dropout2 = new Dropout(p);
  }

  /** src [S, N, E] (batchFirst: [N, S, E]; unbatched: [S, E]) -> the same shape. */
  forward(src: Tensor, opts: TransformerEncoderForwardOptions = {}): Tensor {
    const o = options(opts, 'TransformerEncoderLayer.forward');
    if (!(src instanceof Tensor)) throw new ArgumentError(`TransformerEncoderLayer: src must be a Tensor, got ${src === null ? 'null' : typeof src}`);
    const attnOpts: MultiheadAttentionForwardOptions = {
      attnMask: o.srcMask ?? null, keyPaddingMask: o.srcKeyPaddingMask ?? null, isCausal: o.isCausal ?? false, needWeights: false,
    };
    const selfAttention = (x: Tensor) => this.dropout1.forward(this.selfAttn.forward(x, x, x, attnOpts)[0]);
    const feedForward = (x: Tensor) => this.dropout2.forward(this.linear2.forward(this.dropout.forward(this._activation(this.linear1.forward(x)))));
    return temporaries(records([src, ...this.parameters()]), () => {
      let x = src;
      if (this.normFirst) {
        x = x.add(selfAttention(this.norm1.forward(x)));
        x = x.add(feedForward(this.norm2.forward(x)));
      } else {
        x = this.norm1.forward(x.add(selfAttention(x)));
        x = this.norm2.forward(x.add(feedForward(x)));
      }
      return x;
    });
  }

  /** A new layer with the same configuration and a copy of this one's parameters and mode. */
  clone(): TransformerEncoderLayer {
    const copy = new TransformerEncoderLayer(this.dModel, this.nhead, this._config);
    copy.loadStateDict(this.stateDict());
    return copy.train(this.training);
  }

  protected extraRepr() {
    const c = this._config;
    return `dModel=${this.dModel}, nhead=${this.nhead}, dimFeedforward=${c.dimFeedforward}, dropout=${c.dropout}, ` +
      `activation=${typeof c.activation === 'function' ? 'custom' : c.activation}, batchFirst=${c.batchFirst}, normFirst=${c.normFirst}`;
  }
}

/** numLayers copies of encoderLayer (each starting from its parameters, as torch deep-copies it),
 *  applied in order, then the optional final norm. encoderLayer itself is not one of them. */
export interface TransformerEncoderStackForwardOptions {
  /** The layers' srcMask (torch's name here). */
  mask?: Tensor | null;
  srcKeyPaddingMask?: Tensor | null;
  isCausal?: boolean;
}

export class TransformerEncoder extends Module<[Tensor, TransformerEncoderStackForwardOptions?], Tensor> {
  layers: TransformerEncoderLayer[];
  norm: Module<[Tensor], Tensor> | null;
  constructor(encoderLayer: TransformerEncoderLayer, readonly numLayers: number, opts: { norm?: Module<[Tensor], Tensor> | null } = {}) {
    super();
    if (!(encoderLayer instanceof TransformerEncoderLayer))
      throw new ArgumentError('TransformerEncoder: encoderLayer must be a TransformerEncoderLayer');
    size(numLayers, 'TransformerEncoder: numLayers');
    const o = options(opts, 'TransformerEncoder');
    const norm = o.norm ?? null;
    if (norm !== null && !(norm instanceof Module)) throw new ArgumentError('TransformerEncoder: norm must be a Module or null');
    this.layers = Array.from({ length: numLayers }, () => encoderLayer.clone());
    this.norm = norm;
  }

  /** src [S, N, E] (batchFirst: [N, S, E]; unbatched: [S, E]) -> the same shape. */
  forward(src: Tensor, opts: TransformerEncoderStackForwardOptions = {}): Tensor {
    const o = options(opts, 'TransformerEncoder.forward');
    if (!(src instanceof Tensor)) throw new ArgumentError(`TransformerEncoder: src must be a Tensor, got ${src === null ? 'null' : typeof src}`);
    const layerOpts: TransformerEncoderForwardOptions = {
      srcMask: o.mask ?? null, srcKeyPaddingMask: o.srcKeyPaddingMask ?? null, isCausal: o.isCausal ?? false,
    };
    return temporaries(records([src, ...this.parameters()]), () => {
      let x = src;
      for (const layer of this.layers) x = layer.forward(x, layerOpts);
      return this.norm ? this.norm.forward(x) : x;
    });
  }
}

// The standard layers, each a thin Module around its tf.F op, with PyTorch's constructor
// arguments (camelCase), defaults, parameter shapes, state-dict names and initialisation.
import { Tensor } from '../tensor';
import { Module } from './module';
import { defaultUniform } from './init';
import { randn, zeros, ones } from '../ops/creation';
import { linear } from '../ops/linalg';
import { conv2d, Conv2dOptions, Pair } from '../ops/conv';
import { maxPool2d, avgPool2d, adaptiveAvgPool2d, MaxPool2dOptions, AvgPool2dOptions, OutputSize } from '../ops/pool';
import { batchNorm, layerNorm, dropout, embedding } from '../ops/norm';
import { gelu, relu, sigmoid, tanh } from '../ops/activation';
import { softmax, logSoftmax } from '../ops/softmax';
import { flatten } from '../ops/movement';
import { noGrad } from '../autograd';
import { ArgumentError, IndexError, ShapeError, ValueError } from '../errors';
import { fmt } from '../shape';

function size(v: unknown, what: string, min = 1): number {
  if (!Number.isSafeInteger(v) || (v as number) < min) throw new ArgumentError(`${what} must be an integer >= ${min}, got ${String(v)}`);
  return v as number;
}
const pair = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : p);

export class Identity extends Module {
  forward(x: Tensor): Tensor { return x.view_(x.shape, x.strides, x.offset); }
}

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    size(inFeatures, 'Linear: inFeatures', 0);
    size(outFeatures, 'Linear: outFeatures', 0);
    this.weight = this.param(defaultUniform([outFeatures, inFeatures], inFeatures));
    this.bias = opts.bias ?? true ? this.param(defaultUniform([outFeatures], inFeatures)) : null;
  }
  forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures)
      throw new ShapeError(`Linear: expected input with last dim ${this.inFeatures}, got ${fmt(x.shape)}`);
    return linear(x, this.weight, this.bias);
  }
  protected extraRepr() { return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`; }
}

export interface Conv2dLayerOptions extends Omit<Conv2dOptions, 'groups'> { groups?: number; bias?: boolean }
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly kernelSize: [number, number];
  private readonly _conv: Conv2dOptions;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, opts: Conv2dLayerOptions = {}) {
    super();
    const groups = size(opts.groups ?? 1, 'Conv2d: groups');
    size(inChannels, 'Conv2d: inChannels');
    size(outChannels, 'Conv2d: outChannels');
    if (inChannels % groups || outChannels % groups)
      throw new ValueError(`Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${groups})`);
    this.kernelSize = pair(kernelSize);
    const [kh, kw] = this.kernelSize.map((k) => size(k, 'Conv2d: kernelSize'));
    const fanIn = (inChannels / groups) * kh * kw;
    this.weight = this.param(defaultUniform([outChannels, inChannels / groups, kh, kw], fanIn));
    this.bias = opts.bias ?? true ? this.param(defaultUniform([outChannels], fanIn)) : null;
    this._conv = { stride: opts.stride, padding: opts.padding, dilation: opts.dilation, groups };
  }
  forward(x: Tensor): Tensor { return conv2d(x, this.weight, this.bias, this._conv); }
  protected extraRepr() {
    const o = this._conv;
    return `${this.inChannels}, ${this.outChannels}, kernelSize=[${this.kernelSize}]` +
      (o.stride !== undefined ? `, stride=${JSON.stringify(o.stride)}` : '') +
      (o.padding !== undefined ? `, padding=${JSON.stringify(o.padding)}` : '') +
      (o.groups !== 1 ? `, groups=${o.groups}` : '') + (this.bias ? '' : ', bias=false');
  }
}

export class MaxPool2d extends Module {
  private readonly _opts: MaxPool2dOptions;
  constructor(kernelSize: Pair, opts: Omit<MaxPool2dOptions, 'kernelSize' | 'returnIndices'> = {}) {
    super();
    this._opts = { ...opts, kernelSize };
  }
  forward(x: Tensor): Tensor { return maxPool2d(x, this._opts); }
  protected extraRepr() { return `kernelSize=${JSON.stringify(this._opts.kernelSize)}, stride=${JSON.stringify(this._opts.stride ?? this._opts.kernelSize)}`; }
}

export class AvgPool2d extends Module {
  private readonly _opts: AvgPool2dOptions;
  constructor(kernelSize: Pair, opts: Omit<AvgPool2dOptions, 'kernelSize'> = {}) {
    super();
    this._opts = { ...opts, kernelSize };
  }
  forward(x: Tensor): Tensor { return avgPool2d(x, this._opts); }
  protected extraRepr() { return `kernelSize=${JSON.stringify(this._opts.kernelSize)}, stride=${JSON.stringify(this._opts.stride ?? this._opts.kernelSize)}`; }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: OutputSize) { super(); }
  forward(x: Tensor): Tensor { return adaptiveAvgPool2d(x, this.outputSize); }
  protected extraRepr() { return `outputSize=${JSON.stringify(this.outputSize)}`; }
}

export interface BatchNormLayerOptions {
  eps?: number;
  /** weight of the newest batch in the running statistics; null: a cumulative average */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}
/** Batch normalisation over dim 1 of [N, C, ...] (BatchNorm1d/2d differ only in the rank they accept). */
abstract class BatchNormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean: Tensor | null;
  runningVar: Tensor | null;
  numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;
  protected abstract readonly ranks: number[];
  constructor(readonly numFeatures: number, opts: BatchNormLayerOptions = {}) {
    super();
    size(numFeatures, `${new.target.name}: numFeatures`);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1))
      throw new ValueError(`${new.target.name}: momentum must be in [0, 1] or null, got ${this.momentum}`);
    const affine = opts.affine ?? true;
    this.weight = affine ? this.param(ones([numFeatures])) : null;
    this.bias = affine ? this.param(zeros([numFeatures])) : null;
    const track = opts.trackRunningStats ?? true;
    this.runningMean = track ? zeros([numFeatures]) : null;
    this.runningVar = track ? ones([numFeatures]) : null;
    this.numBatchesTracked = track ? zeros([], { dtype: 'int32' }) : null;
    this.registerBuffer('running_mean', this.runningMean);
    this.registerBuffer('running_var', this.runningVar);
    this.registerBuffer('num_batches_tracked', this.numBatchesTracked);
  }
  forward(x: Tensor): Tensor {
    if (!this.ranks.includes(x.ndim))
      throw new ShapeError(`${this.constructor.name}: expected a ${this.ranks.join('-D or ')}-D input, got ${fmt(x.shape)}`);
    let momentum = this.momentum ?? 0;
    if (this.training && this.numBatchesTracked) {
      const n = noGrad(() => {
        const next = this.numBatchesTracked!.item() + 1;
        this.numBatchesTracked!.fill_(next);
        return next;
      });
      if (this.momentum === null) momentum = 1 / n;
    }
    // Without running statistics, eval mode normalises with the batch's own, as torch does.
    return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias,
      { training: this.training || this.runningMean === null, momentum, eps: this.eps });
  }
  protected extraRepr() { return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.weight !== null}, trackRunningStats=${this.runningMean !== null}`; }
}
export class BatchNorm1d extends BatchNormBase { protected readonly ranks = [2, 3]; }
export class BatchNorm2d extends BatchNormBase { protected readonly ranks = [4]; }

export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly normalizedShape: number[];
  constructor(normalizedShape: number | number[], readonly opts: { eps?: number; elementwiseAffine?: boolean; bias?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.normalizedShape.forEach((s) => size(s, 'LayerNorm: normalizedShape'));
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? this.param(ones(this.normalizedShape)) : null;
    this.bias = affine && (opts.bias ?? true) ? this.param(zeros(this.normalizedShape)) : null;
  }
  forward(x: Tensor): Tensor { return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.opts.eps ?? 1e-5); }
  protected extraRepr() { return `[${this.normalizedShape}], eps=${this.opts.eps ?? 1e-5}, elementwiseAffine=${this.weight !== null}`; }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError(`Dropout: p must be in [0, 1], got ${String(p)}`);
  }
  forward(x: Tensor): Tensor { return dropout(x, this.p, this.training); }
  protected extraRepr() { return `p=${this.p}`; }
}

export class Embedding extends Module {
  weight: Tensor;
  readonly paddingIdx: number | null;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: { paddingIdx?: number | null } = {}) {
    super();
    size(numEmbeddings, 'Embedding: numEmbeddings');
    size(embeddingDim, 'Embedding: embeddingDim');
    let pad = opts.paddingIdx ?? null;
    if (pad !== null) {
      if (!Number.isSafeInteger(pad) || pad < -numEmbeddings || pad >= numEmbeddings)
        throw new IndexError(`Embedding: paddingIdx must be within [${-numEmbeddings}, ${numEmbeddings}), got ${pad}`);
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    const w = randn([numEmbeddings, embeddingDim]);
    if (pad !== null) {
      const row = w.select(0, pad);  // a view: fills the row in place
      row.fill_(0);
      row.dispose();
    }
    this.weight = this.param(w);
  }
  forward(indices: Tensor): Tensor { return embedding(indices, this.weight, { paddingIdx: this.paddingIdx }); }
  protected extraRepr() { return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, paddingIdx=${this.paddingIdx}` : ''}`; }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) { super(); }
  forward(x: Tensor): Tensor { return flatten(x, this.startDim, this.endDim); }
  protected extraRepr() { return `startDim=${this.startDim}, endDim=${this.endDim}`; }
}

/** Modules applied in order; children are named 0, 1, 2, ... as in PyTorch. */
export class Sequential extends Module {
  private readonly _layers: Module<[Tensor], Tensor>[];
  constructor(...layers: Module<[Tensor], Tensor>[]) {
    super();
    layers.forEach((m, i) => { if (!(m instanceof Module)) throw new ArgumentError(`Sequential: argument ${i} is not a Module`); });
    this._layers = layers;
  }
  *namedChildren(): Generator<[string, Module<any, any>]> {
    for (let i = 0; i < this._layers.length; i++) yield [String(i), this._layers[i]];
  }
  get length(): number { return this._layers.length; }
  at(i: number): Module<[Tensor], Tensor> {
    const m = this._layers[i < 0 ? i + this._layers.length : i];
    if (!m) throw new ArgumentError(`Sequential: index ${i} out of range for ${this._layers.length} layers`);
    return m;
  }
  forward(x: Tensor): Tensor {
    // Intermediate activations stay alive: autograd needs them; a tf.scope around the step frees them.
    let y = x;
    for (const m of this._layers) y = m.forward(y);
    return y;
  }
}

/** A module wrapping a stateless function (the activation layers). */
abstract class Activation extends Module {
  protected abstract fn(x: Tensor): Tensor;
  forward(x: Tensor): Tensor { return this.fn(x); }
}
export class ReLU extends Activation { protected fn(x: Tensor) { return relu(x); } }
export class Sigmoid extends Activation { protected fn(x: Tensor) { return sigmoid(x); } }
export class Tanh extends Activation { protected fn(x: Tensor) { return tanh(x); } }
export class GELU extends Activation {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') { super(); }
  protected fn(x: Tensor) { return gelu(x, { approximate: this.approximate }); }
  protected extraRepr() { return `approximate='${this.approximate}'`; }
}
export class Softmax extends Activation {
  constructor(readonly dim: number) { super(); }
  protected fn(x: Tensor) { return softmax(x, this.dim); }
  protected extraRepr() { return `dim=${this.dim}`; }
}
export class LogSoftmax extends Activation {
  constructor(readonly dim: number) { super(); }
  protected fn(x: Tensor) { return logSoftmax(x, this.dim); }
  protected extraRepr() { return `dim=${this.dim}`; }
}

// The ready-made models the training CLI and the parity tests build. Their state-dict names are
// those of the same nn.Sequential in PyTorch, so weights move between the two.
import { Tensor } from '../tensor';
import { Module } from '../nn/module';
import { Sequential, Flatten, Linear, ReLU, Conv2d, MaxPool2d, Embedding } from '../nn/layers';
import { TransformerEncoder, TransformerEncoderLayer } from '../nn/transformer';
import { LSTM } from '../nn/rnn';
import { normal } from '../ops/creation';
import { ShapeError } from '../errors';
import { fmt } from '../shape';

/** 784-128-10 by default: Flatten, Linear, ReLU, Linear (state names 1.*, 3.*). */
export function mlp(opts: { inFeatures?: number; hidden?: number; classes?: number } = {}): Sequential {
  const { inFeatures = 784, hidden = 128, classes = 10 } = opts;
  return new Sequential(new Flatten(), new Linear(inFeatures, hidden), new ReLU(), new Linear(hidden, classes));
}

/** (conv 3×3 pad 1 → ReLU → maxpool 2) × 2, then Linear → ReLU → Linear. Defaults: channels
 *  32 and 64, hidden 128, 10 classes, 28×28 single-channel images (Fashion-MNIST). */
export function cnn(opts: { inChannels?: number; channels?: [number, number]; hidden?: number; classes?: number; imageSize?: number } = {}): Sequential {
  const { inChannels = 1, channels = [32, 64], hidden = 128, classes = 10, imageSize = 28 } = opts;
  const side = Math.floor(Math.floor(imageSize / 2) / 2);
  return new Sequential(
    new Conv2d(inChannels, channels[0], 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
    new Conv2d(channels[0], channels[1], 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
    new Flatten(), new Linear(channels[1] * side * side, hidden), new ReLU(), new Linear(hidden, classes),
  );
}

export interface TransformerClassifierOptions {
  vocabSize: number;
  classes: number;
  dModel?: number;
  numHeads?: number;
  dimFeedforward?: number;
  numLayers?: number;
  /** the longest token sequence (the learned position table's size) */
  maxLength?: number;
  dropout?: number;
}

/** A text classifier: token + learned position embeddings, a post-norm transformer encoder
 *  (batch first; token 0 is padding and is masked out), the mean over real tokens, a linear head. */
export class TransformerClassifier extends Module<[Tensor], Tensor> {
  embedding: Embedding;
  posEmbedding: Tensor;
  encoder: TransformerEncoder;
  fc: Linear;
  readonly config: Required<TransformerClassifierOptions>;
  constructor(opts: TransformerClassifierOptions) {
    super();
    const c = { dModel: 64, numHeads: 4, dimFeedforward: 128, numLayers: 2, maxLength: 256, dropout: 0.1, ...opts };
    this.config = c;
    this.embedding = new Embedding(c.vocabSize, c.dModel, { paddingIdx: 0 });
    this.posEmbedding = this.param(normal([c.maxLength, c.dModel], 0, 0.02));
    const layer = new TransformerEncoderLayer(c.dModel, c.numHeads, { dimFeedforward: c.dimFeedforward, dropout: c.dropout, batchFirst: true });
    this.encoder = new TransformerEncoder(layer, c.numLayers);
    layer.dispose();  // the encoder holds copies
    this.fc = new Linear(c.dModel, c.classes);
  }
  /** tokens: int32 [B, T] with T <= maxLength; 0 = padding. */
  forward(tokens: Tensor): Tensor {
    if (tokens.ndim !== 2 || tokens.shape[1] > this.config.maxLength)
      throw new ShapeError(`TransformerClassifier: expected int32 tokens [batch, length <= ${this.config.maxLength}], got ${fmt(tokens.shape)}`);
    const pad = tokens.eq(0);
    const pos = this.posEmbedding.slice(0, 0, tokens.shape[1]);
    const h = this.encoder.forward(this.embedding.forward(tokens).add(pos), { srcKeyPaddingMask: pad });
    const real = tokens.ne(0).float().unsqueeze(-1);
    return this.fc.forward(h.mul(real).sum(1).div(real.sum(1).clamp(1)));
  }
}

export interface LstmClassifierOptions {
  vocabSize: number;
  classes: number;
  embedDim?: number;
  hiddenSize?: number;
  numLayers?: number;
  dropout?: number;
}

/** A text classifier: embeddings (token 0 is padding), a batch-first LSTM, and a linear head on
 *  the last layer's final hidden state. */
export class LstmClassifier extends Module<[Tensor], Tensor> {
  embedding: Embedding;
  lstm: LSTM;
  fc: Linear;
  constructor(opts: LstmClassifierOptions) {
    super();
    const { vocabSize, classes, embedDim = 64, hiddenSize = 128, numLayers = 1, dropout = 0 } = opts;
    this.embedding = new Embedding(vocabSize, embedDim, { paddingIdx: 0 });
    this.lstm = new LSTM(embedDim, hiddenSize, { numLayers, batchFirst: true, dropout });
    this.fc = new Linear(hiddenSize, classes);
  }
  /** tokens: int32 [B, T]. */
  forward(tokens: Tensor): Tensor {
    if (tokens.ndim !== 2) throw new ShapeError(`LstmClassifier: expected int32 tokens [batch, length], got ${fmt(tokens.shape)}`);
    const [, [h]] = this.lstm.forward(this.embedding.forward(tokens));
    return this.fc.forward(h.select(0, h.shape[0] - 1));
  }
}

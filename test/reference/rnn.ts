// Recurrent layers (torch.nn.RNN / LSTM / GRU, PyTorch 1.13 semantics) in float64 plain loops:
// one scalar at a time, the textbook equations, each layer and direction over each time step.
//   RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)                      act = tanh or relu
//   LSTM: i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh) split in that order
//         c' = f c + i g;  h' = o tanh(c')
//   GRU:  r, z = σ of the first two thirds;  n = tanh(W_in x + b_in + r (W_hn h + b_hn))
//         h' = (1 − z) n + z h
// Weights are keyed by PyTorch's state-dict names (weight_ih_l0, bias_hh_l1_reverse, ...).
import { RefTensor } from './tensor';

export type RnnMode = 'RNN_TANH' | 'RNN_RELU' | 'LSTM' | 'GRU';
export interface RnnConfig {
  mode: RnnMode;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bias: boolean;
  batchFirst: boolean;
  bidirectional: boolean;
}
export interface RnnResult { output: RefTensor; h: RefTensor; c: RefTensor | null }

export const rnnGates = (mode: RnnMode) => ({ RNN_TANH: 1, RNN_RELU: 1, LSTM: 4, GRU: 3 })[mode];

/** State-dict names and shapes, in PyTorch's order. */
export function rnnParamShapes(cfg: RnnConfig): [string, number[]][] {
  const D = cfg.bidirectional ? 2 : 1, G = rnnGates(cfg.mode) * cfg.hiddenSize;
  const out: [string, number[]][] = [];
  for (let l = 0; l < cfg.numLayers; l++)
    for (let d = 0; d < D; d++) {
      const sfx = `_l${l}${d ? '_reverse' : ''}`;
      const inSize = l === 0 ? cfg.inputSize : D * cfg.hiddenSize;
      out.push([`weight_ih${sfx}`, [G, inSize]], [`weight_hh${sfx}`, [G, cfg.hiddenSize]]);
      if (cfg.bias) out.push([`bias_ih${sfx}`, [G]], [`bias_hh${sfx}`, [G]]);
    }
  return out;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** W [rows, n] · v + b (b may be null), as a plain array. */
function affine(W: RefTensor, v: ArrayLike<number>, b: RefTensor | null): number[] {
  const [rows, n] = W.shape;
  const out = new Array<number>(rows);
  for (let r = 0; r < rows; r++) {
    let s = b ? b.data[r] : 0;
    for (let k = 0; k < n; k++) s += W.data[r * n + k] * v[k];
    out[r] = s;
  }
  return out;
}

/**
 * The whole stack. x: [T, B, F] ([B, T, F] with batchFirst) or unbatched [T, F]; h0/c0:
 * [L·D, B, H] ([L·D, H] unbatched) or null for zeros. masks[l] (for layers l < L − 1) multiplies
 * layer l's output elementwise, laid out like that output ([T, B, D·H] or [B, T, D·H]): dropout
 * with a given mask. Returns output in x's layout and the final states like h0.
 */
export function rnn(cfg: RnnConfig, x: RefTensor, w: Record<string, RefTensor>, h0: RefTensor | null = null,
  c0: RefTensor | null = null, masks: (RefTensor | null)[] = []): RnnResult {
  const { mode, hiddenSize: H, numLayers: L, batchFirst } = cfg;
  const D = cfg.bidirectional ? 2 : 1;
  const unbatched = x.shape.length === 2;
  const T = unbatched ? x.shape[0] : x.shape[batchFirst ? 1 : 0];
  const B = unbatched ? 1 : x.shape[batchFirst ? 0 : 1];
  const F = x.shape[x.shape.length - 1];
  // seq[t][b] = the layer input vector at step t for batch entry b
  let seq: number[][][] = [];
  for (let t = 0; t < T; t++) {
    seq.push([]);
    for (let b = 0; b < B; b++) {
      const base = unbatched ? t * F : batchFirst ? (b * T + t) * F : (t * B + b) * F;
      seq[t].push(Array.from(x.data.subarray(base, base + F)));
    }
  }
  const state = (s: RefTensor | null, k: number, b: number) => {
    const v = new Array<number>(H).fill(0);
    if (s) for (let j = 0; j < H; j++) v[j] = s.data[(k * B + b) * H + j];
    return v;
  };
  const hOut = new Float64Array(L * D * B * H), cOut = new Float64Array(L * D * B * H);

  for (let l = 0; l < L; l++) {
    const next: number[][][] = Array.from({ length: T }, () => Array.from({ length: B }, () => new Array<number>(D * H)));
    for (let d = 0; d < D; d++) {
      const k = l * D + d, sfx = `_l${l}${d ? '_reverse' : ''}`;
      const wih = w[`weight_ih${sfx}`], whh = w[`weight_hh${sfx}`];
      const bih = cfg.bias ? w[`bias_ih${sfx}`] : null, bhh = cfg.bias ? w[`bias_hh${sfx}`] : null;
      for (let b = 0; b < B; b++) {
        let h = state(h0, k, b), c = state(c0, k, b);
        for (let s = 0; s < T; s++) {
          const t = d ? T - 1 - s : s;
          const gi = affine(wih, seq[t][b], bih), gh = affine(whh, h, bhh);
          const hn = new Array<number>(H), cn = new Array<number>(H);
          for (let j = 0; j < H; j++) {
            if (mode === 'RNN_TANH') hn[j] = Math.tanh(gi[j] + gh[j]);
            else if (mode === 'RNN_RELU') hn[j] = Math.max(0, gi[j] + gh[j]);
            else if (mode === 'LSTM') {
              const i = sigmoid(gi[j] + gh[j]), f = sigmoid(gi[H + j] + gh[H + j]);
              const g = Math.tanh(gi[2 * H + j] + gh[2 * H + j]), o = sigmoid(gi[3 * H + j] + gh[3 * H + j]);
              cn[j] = f * c[j] + i * g;
              hn[j] = o * Math.tanh(cn[j]);
            } else {
              const r = sigmoid(gi[j] + gh[j]), z = sigmoid(gi[H + j] + gh[H + j]);
              const n = Math.tanh(gi[2 * H + j] + r * gh[2 * H + j]);
              hn[j] = (1 - z) * n + z * h[j];
            }
          }
          h = hn;
          if (mode === 'LSTM') c = cn;
          for (let j = 0; j < H; j++) next[t][b][d * H + j] = h[j];
        }
        for (let j = 0; j < H; j++) {
          hOut[(k * B + b) * H + j] = h[j];
          cOut[(k * B + b) * H + j] = c[j];
        }
      }
    }
    const mask = l < L - 1 ? masks[l] : null;
    if (mask)
      for (let t = 0; t < T; t++)
        for (let b = 0; b < B; b++)
          for (let j = 0; j < D * H; j++) next[t][b][j] *= mask.data[(batchFirst ? b * T + t : t * B + b) * D * H + j];
    seq = next;
  }

  const DH = D * H;
  const out = new Float64Array(T * B * DH);
  for (let t = 0; t < T; t++)
    for (let b = 0; b < B; b++)
      for (let j = 0; j < DH; j++) out[(batchFirst ? b * T + t : t * B + b) * DH + j] = seq[t][b][j];
  const outShape = unbatched ? [T, DH] : batchFirst ? [B, T, DH] : [T, B, DH];
  const stateShape = unbatched ? [L * D, H] : [L * D, B, H];
  return {
    output: { shape: outShape, data: out },
    h: { shape: stateShape, data: hOut },
    c: mode === 'LSTM' ? { shape: stateShape, data: cOut } : null,
  };
}

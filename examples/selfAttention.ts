// Self-attention, Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k)·V, from seed article 001, §3.5 "自注意力
// 机制" and the formula in §3.6 (the article gives no code for it, so this is written from them).
//
// Part 1 computes the formula step by step on a 5-token toy sentence (queries, keys and values
// from random projections of random embeddings), prints the attention matrix, and checks it
// against tf.F.scaledDotProductAttention, the fused kernel that never forms that matrix.
// Part 2 shows attention being learned: a one-head nn.MultiheadAttention, fed token plus
// position embeddings and with no residual path, is trained to output at each position the token
// one place earlier. The only way to do that is to attend to the previous position, and the
// learned weights end up on the sub-diagonal.
//
// Run: npx tsc -p tsconfig.build.json && node dist/examples/selfAttention.js
import * as tf from '../ts';

type Tensor = tf.Tensor;

const fmtRow = (row: ArrayLike<number>) => Array.from(row, (v) => v.toFixed(2).padStart(5)).join(' ');

/** Token + learned position embeddings → one-head self-attention → a linear read-out. */
class PreviousTokenModel extends tf.nn.Module {
  tok: tf.nn.Embedding;
  pos: tf.nn.Embedding;
  attn: tf.nn.MultiheadAttention;
  out: tf.nn.Linear;
  constructor(readonly vocab: number, readonly length: number, dim: number) {
    super();
    this.tok = new tf.nn.Embedding(vocab, dim);
    this.pos = new tf.nn.Embedding(length, dim);
    this.attn = new tf.nn.MultiheadAttention(dim, 1, { batchFirst: true });
    this.out = new tf.nn.Linear(dim, vocab);
  }
  /** ids [N, T] → logits [N, T, vocab] and the attention weights [N, T, T]. */
  run(ids: Tensor): { logits: Tensor; weights: Tensor } {
    const positions = tf.arange(0, this.length, 1, { dtype: 'int32' });
    const h = this.tok.forward(ids).add(this.pos.forward(positions));
    const [a, weights] = this.attn.forward(h, h, h, { needWeights: true });
    return { logits: this.out.forward(a), weights: weights! };
  }
  forward(ids: Tensor): Tensor { return this.run(ids).logits; }
}

export interface SelfAttentionResult {
  /** part 1: the attention matrix [T, T] and how far the formula is from the fused kernel */
  weights: number[][];
  maxDifference: number;
  /** part 2 */
  learnedWeights: number[][];
  /** mean attention weight on the previous position (positions 1..T-1) */
  previousTokenWeight: number;
  accuracy: number;
  initialLoss: number;
  finalLoss: number;
  seconds: number;
  liveTensors: number;
}

export function main(opts: { log?: boolean; seed?: number; steps?: number } = {}): SelfAttentionResult {
  const { log: verbose = true, seed = 0, steps = 150 } = opts;
  const log = (s: string) => verbose && console.log(s);
  tf.manualSeed(seed);
  const start = performance.now();

  // ---- part 1: the formula, by hand
  const part1 = tf.scope(() => tf.noGrad(() => {
    const tokens = ['the', 'cat', 'sat', 'on', 'mats'];
    const T = tokens.length, dModel = 16, dK = 8;
    const x = tf.randn([T, dModel]);                 // one embedding per token
    const [wq, wk, wv] = [0, 1, 2].map(() => tf.randn([dModel, dK]).mul(1 / Math.sqrt(dModel)));
    const q = x.matmul(wq), k = x.matmul(wk), v = x.matmul(wv);
    const scores = q.matmul(k.T).div(Math.sqrt(dK)); // [T, T]: how well query i matches key j
    const weights = tf.F.softmax(scores, -1);        // each row a distribution over the keys
    const out = weights.matmul(v);                   // each output a weighted mix of the values
    const fused = tf.F.scaledDotProductAttention(q, k, v);
    const maxDifference = out.sub(fused).abs().max().item();
    const w = weights.toArray() as number[][];
    log('part 1: softmax(QKᵀ/√d_k) for a 5-token sentence (row: query, column: key)');
    log('       ' + tokens.map((t) => t.padStart(5)).join(' ') + '   row sum');
    w.forEach((row, i) => log(`  ${tokens[i].padEnd(5)}${fmtRow(row)}   ${row.reduce((s, v) => s + v, 0).toFixed(4)}`));
    log(`  max |formula - tf.F.scaledDotProductAttention| = ${maxDifference.toExponential(2)}`);
    return { weights: w, maxDifference };
  }));

  // ---- part 2: learning to attend to the previous token
  const vocab = 10, T = 8, batch = 64;
  const model = new PreviousTokenModel(vocab, T, 32);
  const optimizer = new tf.optim.Adam(model.parameters(), { lr: 0.01 });
  const criterion = new tf.nn.CrossEntropyLoss({ ignoreIndex: -100 });
  /** Random sequences; the target at t is the token at t-1 (none at t = 0). */
  const sample = (n: number) => tf.scope(() => {
    const ids = tf.randint(0, vocab, [n, T]);
    const target = tf.cat([tf.full([n, 1], -100, { dtype: 'int32' }), ids.slice(1, 0, T - 1)], 1);
    return { ids, target };
  });
  const losses: number[] = [];
  log(`part 2: training one attention head to copy the previous token (${steps} steps of ${batch} sequences)`);
  for (let step = 0; step < steps; step++) {
    tf.scope(() => {
      const { ids, target } = sample(batch);
      optimizer.zeroGrad();
      const logits = model.forward(ids);
      const loss = criterion.forward(logits.reshape([batch * T, vocab]), target.reshape([batch * T]));
      loss.backward();
      optimizer.step();
      losses.push(loss.item());
    });
    if (step % 25 === 0 || step === steps - 1) log(`  step ${String(step).padStart(3)}  loss ${losses[step].toFixed(4)}`);
  }

  model.eval();
  const part2 = tf.scope(() => tf.noGrad(() => {
    const { ids, target } = sample(1000);
    const { logits, weights } = model.run(ids);
    const predicted = logits.argmax(2).slice(1, 1);
    const accuracy = predicted.eq(target.slice(1, 1)).float().mean().item();
    const mean = weights.mean(0);  // [T, T], averaged over the 1000 sequences
    const learned = mean.toArray() as number[][];
    let prev = 0;
    for (let t = 1; t < T; t++) prev += learned[t][t - 1] / (T - 1);
    return { accuracy, learned, prev };
  }));
  log('  learned attention, averaged over 1000 test sequences (row: position, column: attended position)');
  log('       ' + Array.from({ length: T }, (_, j) => String(j).padStart(5)).join(' '));
  part2.learned.forEach((row, i) => log(`  ${String(i).padStart(3)}  ${fmtRow(row)}`));
  log(`  mean weight on the previous position: ${part2.prev.toFixed(3)}; ` +
    `copy accuracy ${(100 * part2.accuracy).toFixed(1)}% (chance ${(100 / vocab).toFixed(0)}%)`);

  model.dispose();
  optimizer.dispose();
  const seconds = (performance.now() - start) / 1000;
  const liveTensors = tf.memory().numTensors;
  log(`${seconds.toFixed(2)} s, live tensors at the end: ${liveTensors}`);
  return {
    weights: part1.weights, maxDifference: part1.maxDifference, learnedWeights: part2.learned,
    previousTokenWeight: part2.prev, accuracy: part2.accuracy,
    initialLoss: losses[0], finalLoss: losses[losses.length - 1], seconds, liveTensors,
  };
}

if (require.main === module) main();

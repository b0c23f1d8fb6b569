// A two-layer network trained numpy-style: forward pass, backward pass and update written out by
// hand with tensor ops, no autograd. From seed article 004, §4.1 (its "多层感知机" training loop:
// normalise the rows of X, initialise W and b, then per epoch Z = X·W + b, loss = mean((Z - y)²),
// dZ = 2(Z - y), dW = Xᵀ·dZ, db = Σ dZ, W -= lr·dW; accuracy = mean(round(Z) == y)), with the
// sigmoid hidden layer of the network described in seed article 000, §3 (h = σ(W·x)).
//
// Changes from the seed, which does not run as written:
//   - It loads X.npy and y.npy, which it never provides. Here the data are generated: 400 points
//     in four Gaussian clusters around (±1, ±1), labelled 1 in the 2nd and 4th quadrants and 0 in
//     the others (XOR). The seed's row normalisation X / ‖X‖ is kept: it maps every point onto
//     the unit circle, where the class is still decided by the angle.
//   - Its "multilayer perceptron" has a single linear layer, which cannot separate XOR. The seed's
//     model is run first, as written except for the next fix, to show it stuck near 50%; then the
//     same loop with a hidden layer of 16 sigmoid units learns the task.
//   - Its gradients are sums over all samples (dW = Xᵀ·dZ), so the step grows with the data set
//     and lr 0.01 would be too small or unstable depending on N; here they are means (the true
//     gradient of the mean-squared loss it prints), with lr 0.5 for the linear and 0.3 for the
//     two-layer model.
//   - The hand-written gradients are checked against tensorforge's autograd before training.
//
// Run: npx tsc -p tsconfig.build.json && node dist/examples/numpyTwoLayer.js
import * as tf from '../ts';

type Tensor = tf.Tensor;

export interface TwoLayerResult {
  linear: { accuracy: number; initialLoss: number; finalLoss: number };
  twoLayer: { accuracy: number; initialLoss: number; finalLoss: number; losses: number[] };
  /** largest |hand-written gradient - autograd gradient| over all parameters, at initialisation */
  gradientCheck: number;
  seconds: number;
  liveTensors: number;
}

interface Params { W1: Tensor; b1: Tensor; W2: Tensor; b2: Tensor }

/** Forward and backward of ŷ = σ(X·W1 + b1)·W2 + b2 under loss = mean((ŷ - y)²). */
function forwardBackward(X: Tensor, y: Tensor, { W1, b1, W2, b2 }: Params) {
  const n = X.shape[0];
  // forward
  const A = X.matmul(W1).add(b1);
  const H = A.sigmoid();
  const Z = H.matmul(W2).add(b2);
  const loss = Z.sub(y).square().mean();
  // backward, layer by layer
  const dZ = Z.sub(y).mul(2 / n);
  const dW2 = H.T.matmul(dZ);
  const db2 = dZ.sum(0);
  const dH = dZ.matmul(W2.T);
  const dA = dH.mul(H).mul(H.neg().add(1));  // σ'(a) = σ(a)·(1 - σ(a))
  const dW1 = X.T.matmul(dA);
  const db1 = dA.sum(0);
  return { Z, loss, grads: { W1: dW1, b1: db1, W2: dW2, b2: db2 } as Params };
}

/** XOR of four Gaussian clusters: X [n, 2], y [n, 1] in {0, 1}. */
function xorData(n: number): { X: Tensor; y: Tensor } {
  return tf.scope(() => {
    const signs = tf.randint(0, 2, [n, 2]).float().mul(2).sub(1);      // cluster centres (±1, ±1)
    const X = signs.add(tf.randn([n, 2]).mul(0.3));
    const y = signs.select(1, 0).mul(signs.select(1, 1)).lt(0).float().unsqueeze(1);
    return { X, y };
  });
}

export function main(opts: { log?: boolean; seed?: number; epochs?: number; lr?: number } = {}): TwoLayerResult {
  const { log: verbose = true, seed = 0, epochs = 600 } = opts;
  const log = (s: string) => verbose && console.log(s);
  tf.manualSeed(seed);
  const start = performance.now();

  const data = xorData(400);
  // 预处理数据: each row scaled to unit length, as the seed does
  const X = tf.scope(() => data.X.div(data.X.square().sum(1, true).sqrt()));
  const y = data.y;
  data.X.dispose();
  const accuracyOf = (Z: Tensor) => tf.scope(() => Z.round().eq(y).float().mean().item());

  // ---- the seed's model: one linear layer (W, b), the same loop
  let W = tf.randn([2, 1]);
  let b = tf.zeros([1, 1]);
  const linearLosses: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const next = tf.scope(() => {
      const Z = X.matmul(W).add(b);
      linearLosses.push(Z.sub(y).square().mean().item());
      const dZ = Z.sub(y).mul(2 / X.shape[0]);
      return { W: W.sub(X.T.matmul(dZ).mul(0.5)), b: b.sub(dZ.sum(0, true).mul(0.5)) };
    });
    W.dispose(); b.dispose();
    ({ W, b } = next);
  }
  const linearAccuracy = tf.scope(() => accuracyOf(X.matmul(W).add(b)));
  W.dispose(); b.dispose();
  log(`seed's linear model: mse ${linearLosses[0].toFixed(4)} -> ${linearLosses[epochs - 1].toFixed(4)}, ` +
    `accuracy ${(100 * linearAccuracy).toFixed(1)}% (a line cannot separate XOR)`);

  // ---- two layers: 2 → 16 sigmoid units → 1
  const hidden = 16;
  let p: Params = { W1: tf.randn([2, hidden]), b1: tf.zeros([hidden]), W2: tf.randn([hidden, 1]), b2: tf.zeros([1]) };

  // check the hand-written backward against autograd at the initial parameters
  const gradientCheck = tf.scope(() => {
    const { grads } = forwardBackward(X, y, p);
    const leaves = Object.fromEntries(Object.entries(p).map(([k, t]) => [k, t.clone().requiresGrad_()])) as unknown as Params;
    forwardBackward(X, y, leaves).loss.backward();
    let worst = 0;
    for (const k of Object.keys(p) as (keyof Params)[]) {
      worst = Math.max(worst, grads[k].sub(leaves[k].grad!).abs().max().item());
      leaves[k].zeroGrad();
    }
    return worst;
  });
  log(`hand-written gradients vs autograd: max difference ${gradientCheck.toExponential(2)}`);

  const lr = opts.lr ?? 0.3;
  const losses: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const next = tf.scope(() => {
      const { loss, grads } = forwardBackward(X, y, p);
      losses.push(loss.item());
      return {
        W1: p.W1.sub(grads.W1.mul(lr)), b1: p.b1.sub(grads.b1.mul(lr)),
        W2: p.W2.sub(grads.W2.mul(lr)), b2: p.b2.sub(grads.b2.mul(lr)),
      };
    });
    Object.values(p).forEach((t) => t.dispose());
    p = next;
    if (epoch % 100 === 0) log(`epoch ${String(epoch).padStart(4)}  mse ${losses[epoch].toFixed(4)}`);
  }
  const accuracy = tf.scope(() => accuracyOf(forwardBackward(X, y, p).Z));
  log(`two-layer network: mse ${losses[0].toFixed(4)} -> ${losses[epochs - 1].toFixed(4)}, Accuracy: ${(100 * accuracy).toFixed(1)}%`);

  Object.values(p).forEach((t) => t.dispose());
  X.dispose();
  y.dispose();
  const seconds = (performance.now() - start) / 1000;
  const liveTensors = tf.memory().numTensors;
  log(`${seconds.toFixed(2)} s, live tensors at the end: ${liveTensors}`);
  return {
    linear: { accuracy: linearAccuracy, initialLoss: linearLosses[0], finalLoss: linearLosses[epochs - 1] },
    twoLayer: { accuracy, initialLoss: losses[0], finalLoss: losses[epochs - 1], losses },
    gradientCheck, seconds, liveTensors,
  };
}

if (require.main === module) main();

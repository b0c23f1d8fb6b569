// Logistic regression, P(y=1|x) = 1 / (1 + e^(-θ0 - θ1·x)), fitted by gradient descent on the
// binary cross-entropy. From seed article 001, §3.6 "逻辑回归" (the formula; the article gives no
// code for it, so this is written from the formula).
//
// The data are drawn from that very model with known θ, so the fit can be compared with the truth:
// x ~ N(0, 1.5²), y ~ Bernoulli(σ(θ0 + θ1·x)). The labels are random, so even the true θ does not
// classify every point; its accuracy on the same points is printed as the ceiling to compare with.
// The logit θ0 + θ1·x goes to BCEWithLogitsLoss, which is stable where σ saturates.
//
// Run: npx tsc -p tsconfig.build.json && node dist/examples/logisticRegression.js
import * as tf from '../ts';

export interface LogisticRegressionResult {
  truth: { theta0: number; theta1: number };
  learned: { theta0: number; theta1: number };
  /** training accuracy of the learned and of the true model (the best one can expect) */
  accuracy: number;
  trueModelAccuracy: number;
  /** the x where P(y=1|x) = 1/2, learned and true */
  boundary: number;
  trueBoundary: number;
  initialLoss: number;
  finalLoss: number;
  seconds: number;
  liveTensors: number;
}

export function main(opts: { log?: boolean; seed?: number; steps?: number } = {}): LogisticRegressionResult {
  const { log: verbose = true, seed = 0, steps = 500 } = opts;
  const log = (s: string) => verbose && console.log(s);
  tf.manualSeed(seed);
  const start = performance.now();

  const truth = { theta0: -1.0, theta1: 2.5 };
  const n = 2000;
  const { x, y } = tf.scope(() => {
    const x = tf.randn([n]).mul(1.5);
    const p = x.mul(truth.theta1).add(truth.theta0).sigmoid();
    const y = tf.rand([n]).lt(p).float();  // Bernoulli(p)
    return { x, y };
  });

  // θ as two scalar leaves; the optimizer updates them in place
  const theta0 = tf.zeros([], { requiresGrad: true });
  const theta1 = tf.zeros([], { requiresGrad: true });
  const optimizer = new tf.optim.SGD([theta0, theta1], { lr: 0.5 });
  const criterion = new tf.nn.BCEWithLogitsLoss();
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    tf.scope(() => {
      optimizer.zeroGrad();
      const loss = criterion.forward(x.mul(theta1).add(theta0), y);
      loss.backward();
      optimizer.step();
      losses.push(loss.item());
    });
    if (step % 100 === 0) log(`step ${String(step).padStart(3)}  bce ${losses[step].toFixed(4)}`);
  }
  const learned = { theta0: theta0.item(), theta1: theta1.item() };
  // a point is predicted positive where its logit is positive (P > 1/2)
  const accuracyOf = (t0: number, t1: number) =>
    tf.scope(() => x.mul(t1).add(t0).gt(0).float().eq(y).float().mean().item());
  const accuracy = accuracyOf(learned.theta0, learned.theta1);
  const trueModelAccuracy = accuracyOf(truth.theta0, truth.theta1);
  const boundary = -learned.theta0 / learned.theta1;
  const trueBoundary = -truth.theta0 / truth.theta1;
  log(`truth:   θ0 = ${truth.theta0.toFixed(3)}, θ1 = ${truth.theta1.toFixed(3)}, boundary x = ${trueBoundary.toFixed(3)}`);
  log(`learned: θ0 = ${learned.theta0.toFixed(3)}, θ1 = ${learned.theta1.toFixed(3)}, boundary x = ${boundary.toFixed(3)}`);
  log(`accuracy ${(100 * accuracy).toFixed(1)}% on ${n} points (the true model scores ${(100 * trueModelAccuracy).toFixed(1)}% on them)`);

  [x, y, theta0, theta1].forEach((t) => { t.zeroGrad(); t.dispose(); });
  optimizer.dispose();
  const seconds = (performance.now() - start) / 1000;
  const liveTensors = tf.memory().numTensors;
  log(`${seconds.toFixed(2)} s, live tensors at the end: ${liveTensors}`);
  return {
    truth, learned, accuracy, trueModelAccuracy, boundary, trueBoundary,
    initialLoss: losses[0], finalLoss: losses[losses.length - 1], seconds, liveTensors,
  };
}

if (require.main === module) main();

// Linear regression by gradient descent, numpy style: the gradient is written out by hand, no
// autograd. Port of seed article 001, §4.1 "线性回归代码实例" (y = θ0 + θ1·x, α = 0.01, 1000 epochs).
//
// Changes from the seed, which does not run as written:
//   - Its gradients had the wrong sign (-2·(ŷ - y) followed by θ -= α·grad climbs the loss) and
//     were per-sample arrays, so θ turned into an array. Here they are the mean-squared-error
//     gradients 2·mean(ŷ - y) and 2·mean(x·(ŷ - y)).
//   - Besides the seed's five exact points (y = 2x), a second fit on 200 noisy points from a known
//     line shows the method recovering a slope and intercept that are not trivially 2 and 0; its
//     answer is checked against the closed-form least-squares solution.
//
// Run: npx tsc -p tsconfig.build.json && node dist/examples/linearRegression.js
import * as tf from '../ts';

type Tensor = tf.Tensor;

export interface LinearFit { theta0: number; theta1: number; losses: number[] }
export interface LinearRegressionResult {
  /** the seed's data, y = 2x at x = 1..5 */
  seed: LinearFit & { predictions: number[] };
  /** 200 noisy points from y = truth.slope·x + truth.intercept */
  noisy: LinearFit & { truth: { slope: number; intercept: number }; leastSquares: { slope: number; intercept: number } };
  seconds: number;
  liveTensors: number;
}

/** Plain gradient descent on the mean squared error of ŷ = θ0 + θ1·x. */
function fit(x: Tensor, y: Tensor, alpha: number, epochs: number): LinearFit {
  let theta0 = 0, theta1 = 0;
  const losses: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    tf.scope(() => {
      const yPred = x.mul(theta1).add(theta0);
      const residual = yPred.sub(y);
      losses.push(residual.square().mean().item());
      const gradTheta0 = residual.mean().mul(2).item();
      const gradTheta1 = x.mul(residual).mean().mul(2).item();
      theta0 -= alpha * gradTheta0;
      theta1 -= alpha * gradTheta1;
    });
  }
  return { theta0, theta1, losses };
}

/** Ordinary least squares in closed form, for checking the descent's answer. */
function leastSquares(xs: ArrayLike<number>, ys: ArrayLike<number>): { slope: number; intercept: number } {
  const n = xs.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += xs[i] / n; my += ys[i] / n; }
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) { sxy += (xs[i] - mx) * (ys[i] - my); sxx += (xs[i] - mx) ** 2; }
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

export function main(opts: { log?: boolean; seed?: number } = {}): LinearRegressionResult {
  const { log: verbose = true, seed = 0 } = opts;
  const log = (s: string) => verbose && console.log(s);
  tf.manualSeed(seed);
  const start = performance.now();

  // --- the seed's example: five points on y = 2x, α = 0.01, 1000 epochs
  const x = tf.tensor([1, 2, 3, 4, 5]);
  const y = tf.tensor([2, 4, 6, 8, 10]);
  const seedFit = fit(x, y, 0.01, 1000);
  const xTest = tf.tensor([6, 7, 8]);
  const predictions = tf.scope(() => Array.from(xTest.mul(seedFit.theta1).add(seedFit.theta0).dataSync()));
  [x, y, xTest].forEach((t) => t.dispose());
  log(`seed data (y = 2x): θ0 = ${seedFit.theta0.toFixed(4)}, θ1 = ${seedFit.theta1.toFixed(4)}, ` +
    `loss ${seedFit.losses[0].toFixed(2)} -> ${seedFit.losses[seedFit.losses.length - 1].toExponential(2)}`);
  log(`  predictions for x = 6, 7, 8: ${predictions.map((p) => p.toFixed(3)).join(', ')} (truth 12, 14, 16)`);

  // --- noisy data from a known line
  const truth = { slope: -1.7, intercept: 0.6 };
  const { xs, ys } = tf.scope(() => {
    const xs = tf.uniform([200], -2, 3);
    const ys = xs.mul(truth.slope).add(truth.intercept).add(tf.randn([200]).mul(0.3));
    return { xs, ys };
  });
  const noisyFit = fit(xs, ys, 0.05, 1000);
  const ls = leastSquares(xs.dataSync(), ys.dataSync());
  xs.dispose();
  ys.dispose();
  log(`noisy data (y = ${truth.slope}x + ${truth.intercept} + N(0, 0.3²), 200 points): ` +
    `θ1 = ${noisyFit.theta1.toFixed(4)}, θ0 = ${noisyFit.theta0.toFixed(4)}`);
  log(`  closed-form least squares: slope ${ls.slope.toFixed(4)}, intercept ${ls.intercept.toFixed(4)}`);

  const seconds = (performance.now() - start) / 1000;
  const liveTensors = tf.memory().numTensors;
  log(`${seconds.toFixed(2)} s, live tensors at the end: ${liveTensors}`);
  return { seed: { ...seedFit, predictions }, noisy: { ...noisyFit, truth, leastSquares: ls }, seconds, liveTensors };
}

if (require.main === module) main();

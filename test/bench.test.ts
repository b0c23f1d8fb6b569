// The benchmark harness runs end to end: every case validates against its float64 reference and
// yields finite positive numbers, and nothing leaks. No speed is asserted here: speed claims come
// from `npm run bench`, never from tests.
import * as tf from '../ts';
import { runBenchmarks, benchCases, caseName } from '../bench/run';

test('runBenchmarks({ quick: true }) validates and times every case without leaking', () => {
  const before = tf.memory().numTensors;
  const report = runBenchmarks({ quick: true });
  expect(report.results.map((r) => r.name)).toEqual(benchCases(true).map(caseName));
  for (const x of [report.peak.gflops, report.peak.gbs]) expect(x > 0 && Number.isFinite(x)).toBe(true);
  for (const r of report.results) {
    expect({ name: r.name, error: r.error }).toEqual({ name: r.name, error: null });
    expect(r.valid).toBe(true);
    for (const x of [r.medianMs, r.minMs, r.rate, r.ofPeak]) expect(x > 0 && Number.isFinite(x)).toBe(true);
    expect(r.reps).toBeGreaterThanOrEqual(5);
    expect(r.minMs).toBeLessThanOrEqual(r.medianMs);
    expect((r.flops ?? r.bytes ?? 0) > 0).toBe(true);
  }
  expect(report.liveTensorsAfter).toBe(before);
  expect(tf.memory().numTensors).toBe(before);
});

test('--filter selects cases by substring', () => {
  const report = runBenchmarks({ quick: true, filter: 'sum' });
  expect(report.results.length).toBeGreaterThan(0);
  for (const r of report.results) expect(r.name).toContain('sum');
});

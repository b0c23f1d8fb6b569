// The benchmark harness runs end to end: every case validates against its float64 reference and
// yields finite positive numbers, and nothing leaks; the peer comparison's report, table and chart
// are checked with fake peer results, so no peer has to be installed. No speed is asserted here:
// speed claims come from `npm run bench`, never from tests.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '../ts';
import { runBenchmarks, benchCases, caseName, attachPeers, formatTable, benchChart, save, parseArgs, cnnStepFlops, BenchUsageError, Report } from '../bench/run';
import { runPeers, peerSupports, onnxModelName, summarize, PeerRun } from '../bench/peers';

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

// ---- peers, report and chart: what runs without any peer installed --------------------------


// one run serves every test below: each gets its own copy to attach fake peers to
let matmulReport: Report;
beforeAll(() => { matmulReport = runBenchmarks({ quick: true, filter: 'matmul' }); });
const quickMatmuls = (): Report => structuredClone(matmulReport);

/** numpy times the first headline case, pytorch fails on it, onnxruntime is not installed. */
function fakeRuns(report: Report): PeerRun[] {
  const head = report.results.find((r) => r.headline)!;
  const medianMs = 2 * head.medianMs;  // half tensorforge's rate: ratio 2
  return [
    { info: { name: 'numpy', available: true, version: 'numpy 9.9, OpenBLAS test', threads: 2 }, outcomes: { [head.name]: { medianMs, minMs: medianMs, reps: 5 } } },
    { info: { name: 'pytorch', available: true, version: 'torch 9.9', threads: 2 }, outcomes: { [head.name]: { error: 'RuntimeError: boom' } } },
    { info: { name: 'onnxruntime', available: false, note: 'onnxruntime-node is not installed' }, outcomes: {} },
  ];
}

test('attachPeers: a peer rate uses tensorforge\'s FLOP count, the ratio is tensorforge over the peer', () => {
  const report = attachPeers(quickMatmuls(), []);
  const head = report.results.find((r) => r.headline)!;
  attachPeers(report, fakeRuns(report));
  const np = head.peers!.numpy;
  if ('error' in np) throw new Error(np.error);
  expect(np.rate).toBeCloseTo(head.flops! / (2 * head.medianMs / 1e3) / 1e9, 6);
  expect(np.ratio).toBeCloseTo(2, 6);
  expect(head.peers!.pytorch).toEqual({ error: 'RuntimeError: boom' });
  expect(head.peers!.onnxruntime).toBeUndefined();
  // cases that are not headline ones get no peer entry
  for (const r of report.results.filter((x) => !x.headline)) expect(r.peers).toBeUndefined();
  expect(report.peers!.map((p) => [p.name, p.available])).toEqual([['numpy', true], ['pytorch', true], ['onnxruntime', false]]);
});

test('formatTable: peer columns and ratios, errors and missing peers spelled out; none without --peers', () => {
  const report = quickMatmuls();
  expect(formatTable(report)).not.toMatch(/GFLOP\/s +tf\//);
  attachPeers(report, fakeRuns(report));
  const text = formatTable(report);
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('op '))!;
  expect(header).toMatch(/numpy GFLOP\/s +tf\/numpy +pytorch GFLOP\/s +tf\/pytorch +check$/);
  expect(header).not.toMatch(/onnxruntime/);
  const head = report.results.find((r) => r.headline)!;
  const row = lines.find((l) => l.startsWith(head.op) && l.includes(head.shape))!;
  expect(row).toMatch(/ 2\.00x +error +ok$/);
  expect(text).toContain('peer numpy: numpy 9.9, OpenBLAS test, 2 threads');
  expect(text).toContain('peer onnxruntime: not run (onnxruntime-node is not installed)');
  expect(text).toContain(`peer error: pytorch on ${head.name}: RuntimeError: boom`);
});

test('save writes the JSON and an SVG chart of the headline cases (tensorforge and each peer that ran)', () => {
  const report = { ...quickMatmuls(), filter: null };  // as a full-suite run: latest.* are written
  attachPeers(report, fakeRuns(report));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-bench-'));
  try {
    const files = save(report, dir);
    expect(JSON.parse(fs.readFileSync(files.json, 'utf8')).results[0].name).toBe(report.results[0].name);
    const svg = fs.readFileSync(files.svg!, 'utf8');
    expect(fs.readFileSync(path.join(dir, 'latest.svg'), 'utf8')).toBe(svg);
    const heads = report.results.filter((r) => r.headline);
    expect(heads.length).toBeGreaterThan(1);
    for (const h of heads) expect(svg).toContain(`>${h.headline}</text>`);
    // tensorforge's bars, numpy's one bar; pytorch failed and onnxruntime is missing: no bars
    expect(svg.match(/class="series"/g)).toHaveLength(3);
    expect(svg.match(/class="bar"/g)).toHaveLength(heads.length + 1);
    // a filtered run leaves latest.* alone; no headline case, no chart
    const filtered = { ...quickMatmuls(), filter: 'a@b.T' };
    filtered.results = filtered.results.filter((r) => !r.headline);
    expect(benchChart(filtered)).toBeNull();
    expect(save(filtered, dir).svg).toBeNull();
    expect(fs.readFileSync(path.join(dir, 'latest.svg'), 'utf8')).toBe(svg);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('without any peer installed, runPeers reports each as not run, with why', async () => {
  const jobs = benchCases(false).filter((c) => c.headline).map((c) => ({ id: caseName(c), spec: c.headline!.spec }));
  const runs = await runPeers(jobs, { targetMs: 10, python: '/nonexistent/python3', ortDir: '/nonexistent/ort', threads: 1, peersDir: path.join(__dirname, '..', 'bench', 'peers') });
  expect(runs.map((r) => [r.info.name, r.info.available])).toEqual([['numpy', false], ['pytorch', false], ['onnxruntime', false]]);
  expect(runs[0].info.note).toMatch(/\/nonexistent\/python3 not found/);
  expect(runs[2].info.note).toMatch(/no onnxruntime-node there/);
});

test('the headline cases: the issue\'s shapes, each peer on what it can time, an ONNX graph for every onnxruntime case', () => {
  const heads = benchCases(false).filter((c) => c.headline);
  expect(heads.map(caseName)).toEqual(expect.arrayContaining([
    'matmul 1024×1024 @ 1024×1024', 'matmul 2048×2048 @ 2048×2048', 'matmul 4096×4096 @ 4096×4096',
    'matmul 64×784 @ 784×128', 'matmul 64×3136 @ 3136×128',
    'conv2d 8×64×56×56, 64 3×3 filters, pad 1', 'conv2d backward (dgrad+wgrad) 8×64×56×56, 64 3×3 filters, pad 1',
    'attention fwd B8 H8 T256 D64', 'attention fwd causal B8 H8 T256 D64', 'attention bwd B8 H8 T256 D64', 'attention bwd causal B8 H8 T256 D64',
  ]));
  expect(heads.some((c) => c.headline!.spec.kind === 'cnn_step')).toBe(true);
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'bench', 'peers', 'onnx', 'manifest.json'), 'utf8'));
  const ortCases = heads.filter((c) => peerSupports('onnxruntime', c.headline!.spec));
  expect(ortCases.length).toBe(8);  // 5 matmuls, conv forward, attention forward causal and not
  for (const c of ortCases) {
    const name = onnxModelName(c.headline!.spec)!;
    expect(manifest.models[name]).toBeDefined();
    expect(fs.existsSync(path.join(__dirname, '..', 'bench', 'peers', 'onnx', manifest.models[name].file))).toBe(true);
  }
  expect(heads.filter((c) => peerSupports('numpy', c.headline!.spec)).length).toBe(5);
  expect(heads.filter((c) => peerSupports('pytorch', c.headline!.spec)).length).toBe(heads.length);
});

test('CNN step FLOPs: 3× the forward\'s convolutions and linear layers, less the first layer\'s input gradient', () => {
  // conv1 2·64·32·28²·1·9, conv2 2·64·64·14²·32·9, fc1 2·64·3136·128, fc2 2·64·128·10
  const [c1, c2, f1, f2] = [28901376, 462422016, 51380224, 163840];
  expect(cnnStepFlops(64)).toBe(3 * (c1 + c2 + f1 + f2) - c1);
});

test('summarize: median of an even and odd count, minimum', () => {
  expect(summarize([4, 1, 3, 2])).toEqual({ medianMs: 2.5, minMs: 1, reps: 4 });
  expect(summarize([5, 1, 3])).toEqual({ medianMs: 3, minMs: 1, reps: 3 });
});

test('parseArgs: --peers and its options; mistakes are usage errors', () => {
  expect(parseArgs([])).toMatchObject({ peers: false, json: false });
  expect(parseArgs(['--peers', '--peers-ort', '/x', '--python=/usr/bin/python3', '--filter=matmul'])).toMatchObject({ peers: true, peersOrt: '/x', python: '/usr/bin/python3', filter: 'matmul' });
  expect(() => parseArgs(['--peers-ort', '/x'])).toThrow(BenchUsageError);
  expect(() => parseArgs(['--peers', '--peers-ort'])).toThrow(/--peers-ort needs a value/);
  expect(() => parseArgs(['--filter'])).toThrow(/--filter needs a value/);
  expect(() => parseArgs(['--peer'])).toThrow(/unknown argument '--peer'/);
});

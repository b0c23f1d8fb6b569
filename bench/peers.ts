// The peers of the benchmark harness (`npm run bench -- --peers`): NumPy/OpenBLAS and PyTorch run as
// /usr/bin/python3 children (bench/peers/*.py), onnxruntime-node in this process on the ONNX graphs
// of bench/peers/onnx (scripts/export-onnx.py). Each times the harness's headline cases on the same
// shapes with the same method (warm-up, repeated runs, median); the FLOP counts stay here, so a
// peer's GFLOP/s uses exactly tensorforge's count. Every peer is optional: one that is not
// installed is reported as missing, with the reason, and the run goes on.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** A headline case as a peer sees it: plain numbers, sent to the Python peers as JSON. */
export type PeerSpec =
  | { kind: 'matmul'; m: number; k: number; n: number }
  | { kind: 'conv2d'; n: number; cin: number; h: number; w: number; cout: number; k: number; pad: number; backward: boolean }
  | { kind: 'attention'; b: number; h: number; t: number; d: number; causal: boolean; backward: boolean }
  | { kind: 'cnn_step'; batch: number; lr: number; model: { inChannels: number; channels: [number, number]; hidden: number; classes: number; imageSize: number } };

export interface PeerJob { id: string; spec: PeerSpec }

export interface PeerTiming { medianMs: number; minMs: number; reps: number }
export type PeerOutcome = PeerTiming | { error: string };

export const PEER_NAMES = ['numpy', 'pytorch', 'onnxruntime'] as const;
export type PeerName = typeof PEER_NAMES[number];

export interface PeerInfo {
  name: PeerName;
  available: boolean;
  /** e.g. 'torch 1.13.0a0'; for numpy, the OpenBLAS build and core it runs */
  version?: string;
  threads?: number | null;
  /** what the peer reports about its configuration (BLAS library, parallel backend, ...) */
  config?: unknown;
  /** why it is missing, or what it does not time */
  note?: string;
}

export interface PeerRun { info: PeerInfo; outcomes: Record<string, PeerOutcome> }

export interface PeerOptions {
  targetMs: number;
  /** the Python that has numpy/torch (default /usr/bin/python3) */
  python?: string;
  /** a directory holding onnxruntime-node (its package, or a project with it in node_modules) */
  ortDir?: string;
  /** threads onnxruntime may use within an op (tensorforge's thread count) */
  threads: number;
  log?: (line: string) => void;
  /** directory of the peer scripts and ONNX models (default bench/peers in the package) */
  peersDir: string;
}

/** Which headline cases each peer can time: onnxruntime-node is an inference engine (no gradients,
 *  no optimizer), NumPy has no convolution or attention of its own. */
export function peerSupports(peer: PeerName, spec: PeerSpec): boolean {
  switch (peer) {
    case 'numpy': return spec.kind === 'matmul';
    case 'pytorch': return true;
    case 'onnxruntime': return spec.kind === 'matmul' || ((spec.kind === 'conv2d' || spec.kind === 'attention') && !spec.backward);
  }
}

/** The ONNX model name scripts/export-onnx.py gives a spec's graph. */
export function onnxModelName(spec: PeerSpec): string | null {
  switch (spec.kind) {
    case 'matmul': return `matmul_${spec.m}x${spec.k}x${spec.n}`;
    case 'conv2d': return spec.backward ? null : `conv2d_${spec.n}x${spec.cin}x${spec.h}x${spec.w}_${spec.cout}k${spec.k}p${spec.pad}`;
    case 'attention': return spec.backward ? null : `attention_b${spec.b}h${spec.h}t${spec.t}d${spec.d}${spec.causal ? '_causal' : ''}`;
    default: return null;
  }
}

// ---- Python peers -------------------------------------------------------------------------

interface PythonReply { peer: string; version: string; threads: number | null; config: unknown; results: ({ id: string } & PeerOutcome)[] }

function runPython(peer: 'numpy' | 'pytorch', jobs: PeerJob[], opts: PeerOptions): Promise<PeerRun> {
  const python = opts.python ?? '/usr/bin/python3';
  const script = path.join(opts.peersDir, `${peer === 'numpy' ? 'numpy' : 'torch'}_peer.py`);
  const missing = (note: string): PeerRun => ({ info: { name: peer, available: false, note }, outcomes: {} });
  if (!fs.existsSync(python)) return Promise.resolve(missing(`${python} not found`));
  // For this child only: OpenBLAS misdetects this CPU and would pick a slower kernel (PyTorch's
  // Debian build calls the same OpenBLAS for its matmuls). And Debian's PyTorch runs on OpenMP,
  // whose spinning waits turn every parallel region into a wait for a preempted thread once other
  // processes share the cores (measured: a tiny conv 0.07 ms on 1 thread, 64 ms on 2): PASSIVE
  // waits keep it at its best, which is what a comparison needs.
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_CORETYPE: 'SkylakeX' };
  if (peer === 'pytorch') env.OMP_WAIT_POLICY = process.env.OMP_WAIT_POLICY ?? 'PASSIVE';
  return new Promise((resolve) => {
    const child = spawn(python, [script], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    const stderrTail: string[] = [];
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    let partial = '';
    child.stderr.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        stderrTail.push(l);
        if (stderrTail.length > 20) stderrTail.shift();
        if (l.startsWith(`  ${peer} `)) opts.log?.(l);
      }
    });
    child.on('error', (e) => resolve(missing(`cannot run ${python}: ${e.message}`)));
    child.on('close', (code) => {
      if (partial) stderrTail.push(partial);
      if (code !== 0) {
        // an ImportError is the usual reason: the package is not installed
        const why = [...stderrTail].reverse().find((l) => /Error|error/.test(l)) ?? `exit code ${code}`;
        resolve(missing(`${path.basename(script)} failed: ${why.trim()}`));
        return;
      }
      try {
        const reply = JSON.parse(stdout) as PythonReply;
        const outcomes: Record<string, PeerOutcome> = {};
        for (const { id, ...o } of reply.results) outcomes[id] = o;
        resolve({ info: { name: peer, available: true, version: reply.version, threads: reply.threads, config: reply.config }, outcomes });
      } catch (e) {
        resolve(missing(`${path.basename(script)} wrote no JSON reply (${(e as Error).message})`));
      }
    });
    child.stdin.end(JSON.stringify({ targetMs: opts.targetMs, cases: jobs.map((j) => ({ id: j.id, ...j.spec })) }));
  });
}

// ---- onnxruntime-node ---------------------------------------------------------------------

/** The subset of onnxruntime-node's API the harness uses. */
interface Ort {
  env: { versions?: Record<string, string> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  InferenceSession: { create(file: string, options: Record<string, unknown>): Promise<{ run(feeds: Record<string, unknown>): Promise<unknown>; release?(): Promise<void> }> };
}

/** onnxruntime-node from `dir` (its package directory, or a project with it in node_modules), else
 *  from this package or the working directory. */
export function resolveOrt(dir?: string): { ort: Ort; from: string } | { note: string } {
  const candidates: string[] = [];
  if (dir) {
    const abs = path.resolve(dir);
    if (fs.existsSync(path.join(abs, 'package.json')) && JSON.parse(fs.readFileSync(path.join(abs, 'package.json'), 'utf8')).name === 'onnxruntime-node') candidates.push(abs);
    else {
      try { candidates.push(require.resolve('onnxruntime-node', { paths: [abs] })); } catch { /* reported below */ }
    }
    if (candidates.length === 0) return { note: `--peers-ort ${dir}: no onnxruntime-node there` };
  } else {
    try { candidates.push(require.resolve('onnxruntime-node', { paths: [__dirname, process.cwd()] })); } catch {
      return { note: 'onnxruntime-node is not installed (ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node, or --peers-ort <dir>)' };
    }
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return { ort: require(candidates[0]) as Ort, from: candidates[0] };
  } catch (e) {
    return { note: `onnxruntime-node at ${candidates[0]} does not load: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** The harness's timing plan, shared by tensorforge's cases (bench/run.ts timeOp) and the peers:
 *  warm up for at least 2 runs and up to a fifth of the target time (50 runs at most), then repeat
 *  enough times to fill the target (5 to 5000). */
export const stillWarming = (runs: number, elapsedMs: number, targetMs: number) => runs < 2 || (elapsedMs < targetMs / 5 && runs < 50);
export const repetitions = (elapsedMs: number, runs: number, targetMs: number) =>
  Math.max(5, Math.min(5000, Math.ceil(targetMs / Math.max(elapsedMs / runs, 1e-3))));
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** timeOp for an asynchronous run: the same plan, the median of the samples. */
export async function timeOpAsync(run: () => Promise<unknown>, targetMs: number): Promise<PeerTiming> {
  const warmStart = nowMs();
  let warm = 0;
  while (stillWarming(warm, nowMs() - warmStart, targetMs)) {
    await run();
    warm++;
  }
  const reps = repetitions(nowMs() - warmStart, warm, targetMs);
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = nowMs();
    await run();
    samples.push(nowMs() - t0);
  }
  return summarize(samples);
}

export function summarize(samples: number[]): PeerTiming {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { medianMs: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, minMs: s[0], reps: s.length };
}

interface Manifest { models: Record<string, { file: string; inputs: Record<string, number[]> }> }

async function runOrt(jobs: PeerJob[], opts: PeerOptions): Promise<PeerRun> {
  const found = resolveOrt(opts.ortDir);
  if ('note' in found) return { info: { name: 'onnxruntime', available: false, note: found.note }, outcomes: {} };
  const { ort } = found;
  const dir = path.join(opts.peersDir, 'onnx');
  const manifestFile = path.join(dir, 'manifest.json');
  if (!fs.existsSync(manifestFile)) return { info: { name: 'onnxruntime', available: false, note: `${manifestFile} is missing (run scripts/export-onnx.py)` }, outcomes: {} };
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  // No spinning waits in onnxruntime's thread pool: with other processes on the cores a spinning
  // thread waits for a preempted one (measured under load: matmul 1024³ 126 ms spinning, 55 ms not),
  // the same reason the PyTorch child runs with OMP_WAIT_POLICY=PASSIVE.
  const sessionOptions = {
    executionProviders: ['cpu'], intraOpNumThreads: opts.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const outcomes: Record<string, PeerOutcome> = {};
  for (const job of jobs) {
    const name = onnxModelName(job.spec);
    const model = name ? manifest.models[name] : undefined;
    if (!model) {
      outcomes[job.id] = { error: `no ONNX model ${name ?? ''} in ${dir} (scripts/export-onnx.py exports the headline shapes)` };
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(path.join(dir, model.file), sessionOptions);
      const feeds: Record<string, unknown> = {};
      let seed = 1;
      for (const [input, dims] of Object.entries(model.inputs)) {
        const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
        // uniform in [-1, 1): values only have to be ordinary floats (no denormals, no NaN)
        for (let i = 0; i < data.length; i++) data[i] = ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1;
        feeds[input] = new ort.Tensor('float32', data, dims);
      }
      outcomes[job.id] = await timeOpAsync(() => session.run(feeds), opts.targetMs);
      await session.release?.();
    } catch (e) {
      outcomes[job.id] = { error: `${(e as Error).message.split('\n')[0]}` };
    }
    const o = outcomes[job.id];
    opts.log?.(`  onnxruntime ${job.id}: ${'error' in o ? o.error : o.medianMs}`);
  }
  const version = ort.env.versions?.node ?? ort.env.versions?.common;
  return {
    info: { name: 'onnxruntime', available: true, version: `onnxruntime-node ${version ?? '(version unknown)'}`, threads: opts.threads, config: { from: found.from, session: sessionOptions } },
    outcomes,
  };
}

/** Runs every peer (one after another, never beside tensorforge or each other) on the jobs it supports. */
export async function runPeers(jobs: PeerJob[], opts: PeerOptions): Promise<PeerRun[]> {
  const runs: PeerRun[] = [];
  for (const peer of PEER_NAMES) {
    const mine = jobs.filter((j) => peerSupports(peer, j.spec));
    opts.log?.(`peer ${peer}: ${mine.length} cases`);
    runs.push(peer === 'onnxruntime' ? await runOrt(mine, opts) : await runPython(peer, mine, opts));
    const info = runs[runs.length - 1].info;
    if (!info.available) opts.log?.(`peer ${peer} skipped: ${info.note}`);
  }
  return runs;
}

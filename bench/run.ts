// The benchmark harness (`npm run bench`). For each case: count the work (FLOPs, or the minimum
// bytes an op must read and write), validate one result against a float64 reference computed in
// JS, warm up, time repeated runs, report the median and the fraction of this machine's measured
// peak (native measurePeak: FMA throughput and copy bandwidth). Speed claims come from here only.
//
// With --peers, the headline cases (matmul, conv, attention, the CNN training step) are also timed
// by each installed peer (NumPy/OpenBLAS, PyTorch, onnxruntime-node; bench/peers.ts) on the same
// shapes, and the report gives each peer's GFLOP/s and tensorforge's ratio to it. Every full run
// writes bench/results/<date>.json and a chart of the headline cases, <date>.svg (and latest.*).
//
//   npm run bench [-- --quick] [--filter <substring>] [--json] [--peers [--peers-ort <dir>]]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '../ts';
import { measurePeak, packageRoot } from '../ts/native';
import { attentionBackward, attentionForward } from '../ts/ops/attention';
import { conv2dBackward } from '../ts/ops/conv';
import { barChart } from '../ts/plot';
import { PEER_NAMES, PeerInfo, PeerJob, PeerRun, PeerSpec, PeerTiming, nowMs, repetitions, runPeers, stillWarming, summarize } from './peers';

type Tensor = tf.Tensor;

export interface Peak { gflops: number; gbs: number }

/** The best of several native measurePeak() samples: a peak is a maximum, and on a shared or
 *  virtual machine single calls scatter widely (2× between consecutive calls has been seen), so
 *  the harness samples both before and after the cases. */
export function bestPeak(samples: Peak[]): Peak & { samples: Peak[] } {
  return { gflops: Math.max(...samples.map((p) => p.gflops)), gbs: Math.max(...samples.map((p) => p.gbs)), samples };
}
const samplePeak = (calls: number): Peak[] => Array.from({ length: calls }, () => measurePeak());

/** One prepared case: its inputs, the op to time, the work it does and a check of its output. */
interface Instance<Out extends Tensor | Tensor[] = Tensor> {
  /** The timed work; a backward case returns every gradient it computes (Out = Tensor[]). */
  run(): Out;
  /** Returns null when the output matches the reference, else what went wrong. */
  check(out: Out): string | null;
  flops?: number;
  bytes?: number;
  /** frees what make() kept beyond the harness's scope (a model's parameters, optimizer state) */
  dispose?(): void;
  /** ops one run performs, for cases that time per-op overhead (reported as µs per op) */
  ops?: number;
}

/** A case the peers time too, and the chart shows. */
export interface Headline {
  /** short name on the chart's axis */
  label: string;
  spec: PeerSpec;
}

export interface Case {
  op: string;
  shape: string;
  /** Creates the inputs (inside a scope the harness closes) and the op to time. */
  make(): Instance | Instance<Tensor[]>;
  headline?: Headline;
}

/** One peer's timing of a case: its rate with tensorforge's FLOP count, and tensorforge's rate
 *  over it (> 1: tensorforge is faster). */
export type PeerResult = { medianMs: number; minMs: number; reps: number; rate: number; ratio: number } | { error: string };

export interface CaseResult {
  name: string;
  op: string;
  shape: string;
  valid: boolean;
  error: string | null;
  medianMs: number;
  minMs: number;
  reps: number;
  /** 'GFLOP/s' for compute-bound cases, 'GB/s' for memory-bound ones */
  unit: 'GFLOP/s' | 'GB/s';
  rate: number;
  /** rate / the measured peak of the same unit */
  ofPeak: number;
  flops: number | null;
  bytes: number | null;
  /** medianMs per op, in µs, for cases that time per-op overhead */
  usPerOp: number | null;
  /** native bytes (tensor buffers + kernel scratch) one run allocates at its peak, beyond what was
   *  live before it: outputs plus every temporary */
  peakBytes: number;
  /** the chart label of a headline case */
  headline?: string;
  /** by peer name, for headline cases of a --peers run */
  peers?: Record<string, PeerResult>;
}

export interface Report {
  date: string;
  quick: boolean;
  filter: string | null;
  machine: ReturnType<typeof tf.info> & { cpu: string; cores: number; node: string; platform: string };
  peak: Peak & { samples: Peak[] };
  results: CaseResult[];
  liveTensorsAfter: number;
  /** a --peers run: every peer, installed or not (with why not) */
  peers?: PeerInfo[];
}

export interface Options { quick?: boolean; filter?: string; log?: (line: string) => void }
export interface PeerRunOptions { peersOrt?: string; python?: string }

const F32 = 4;

// ---- references ---------------------------------------------------------------------------

/** Deterministic sample positions, so a failing check is reproducible. */
function samplePositions(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  let s = 0x9e3779b9;
  return Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  });
}

/** |got - want| <= tol, NaN never passes. */
function close(got: number, want: number, tol: number, where: string): string | null {
  return Math.abs(got - want) <= tol ? null : `${where}: got ${got}, expected ${want} (tolerance ${tol.toExponential(2)})`;
}

/** Tolerance for a float32 sum against its float64 value: relative to the sum of magnitudes,
 *  which is what rounding error scales with (a cancelling sum can be near 0). */
const sumTolF32 = (absSum: number) => 1e-5 * absSum + 1e-6;
const sumTol = sumTolF32;

// ---- cases --------------------------------------------------------------------------------

/** [batch?] M×K @ K×N; `transB` multiplies by b.T where b is N×K, `transA` multiplies a.T where
 *  a is K×M (strided views, not copies). */
function matmulCase(m: number, k: number, n: number, o: { batch?: number; transA?: boolean; transB?: boolean; label?: string; headline?: string } = {}): Case {
  const batch = o.batch ?? 1;
  const lead = o.batch ? [batch] : [];
  const shape = o.label ?? `${o.batch ? `${batch}×` : ''}${m}×${k} @ ${k}×${n}${o.transB ? ' (b.T)' : ''}${o.transA ? ' (a.T)' : ''}`;
  return {
    op: o.transB ? 'matmul a@b.T' : o.transA ? 'matmul a.T@b' : o.batch ? 'bmm' : 'matmul',
    shape,
    headline: o.headline && !o.batch && !o.transB ? { label: o.headline, spec: { kind: 'matmul', m, k, n } } : undefined,
    make() {
      const a = tf.randn(o.transA ? [...lead, k, m] : [...lead, m, k]);
      const lhs = o.transA ? a.transpose(-1, -2) : a;
      const b = tf.randn(o.transB ? [...lead, n, k] : [...lead, k, n]);
      const rhs = o.transB ? b.transpose(-1, -2) : b;
      return {
        flops: 2 * batch * m * n * k,
        run: () => lhs.matmul(rhs),
        check(out: Tensor) {
          const A = a.dataSync(), B = b.dataSync(), C = out.dataSync();
          for (const p of samplePositions(batch * m * n, 64)) {
            const bi = Math.floor(p / (m * n)), i = Math.floor(p / n) % m, j = p % n;
            let dot = 0, mag = 0;
            for (let kk = 0; kk < k; kk++) {
              const x = o.transA ? A[bi * m * k + kk * m + i] : A[bi * m * k + i * k + kk];
              const y = o.transB ? B[bi * n * k + j * k + kk] : B[bi * k * n + kk * n + j];
              dot += x * y;
              mag += Math.abs(x * y);
            }
            const err = close(C[p], dot, sumTol(mag), `out[${bi}][${i}][${j}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** Waits for the queued CUDA work, so a timed run covers the kernels, not their launch. */
const cudaSynchronize = (): void => tf.cuda.synchronize();

/** M×K @ K×N on the CUDA device at one matmul precision, timed to completion (each run waits for
 *  the device). Checked on sampled elements against float64 dot products with the precision's
 *  input rounding (TF32: 2^-10 a product, BF16: 2^-7) on top of float32 summation. */
function cudaMatmulCase(m: number, k: number, n: number, precision: tf.MatmulPrecision): Case {
  const inputError = { highest: 0, high: 2 ** -10, medium: 2 ** -7 }[precision];
  return {
    op: `cuda matmul (${precision})`,
    shape: `${m}×${k} @ ${k}×${n}`,
    make() {
      const a = tf.randn([m, k]), b = tf.randn([k, n]);
      const ca = a.to('cuda'), cb = b.to('cuda');
      return {
        flops: 2 * m * n * k,
        run: () => {
          const previous = tf.getMatmulPrecision();
          tf.setMatmulPrecision(precision);
          try {
            const y = ca.matmul(cb);
            cudaSynchronize();
            return y;
          } finally {
            tf.setMatmulPrecision(previous);
          }
        },
        check(out: Tensor) {
          const host = out.to('cpu');
          const A = a.dataSync(), B = b.dataSync(), C = host.dataSync();
          host.dispose();
          for (const p of samplePositions(m * n, 64)) {
            const i = Math.floor(p / n), j = p % n;
            let dot = 0, mag = 0;
            for (let kk = 0; kk < k; kk++) {
              dot += A[i * k + kk] * B[kk * n + j];
              mag += Math.abs(A[i * k + kk] * B[kk * n + j]);
            }
            const err = close(C[p], dot, sumTol(mag) + inputError * mag, `out[${i}][${j}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/**
 * A memory-bound op on the CUDA device, [rows, cols] float32, timed to completion; `bytes` counts
 * what it must read and write once. 'copy' (clone) is the yardstick the others are a fraction of.
 * Checked on sampled elements against the same op on the CPU.
 */
function cudaMemoryCase(op: 'copy' | 'add' | 'relu' | 'sum rows' | 'softmax rows', rows: number, cols: number): Case {
  const n = rows * cols;
  const bytes = { copy: 2 * n, add: 3 * n, relu: 2 * n, 'sum rows': n + rows, 'softmax rows': 2 * n }[op] * F32;
  const apply = (x: Tensor, y: Tensor): Tensor =>
    op === 'copy' ? x.clone() : op === 'add' ? x.add(y) : op === 'relu' ? x.relu() : op === 'sum rows' ? x.sum(-1) : x.softmax(-1);
  return {
    op: `cuda ${op}`,
    shape: `[${rows}, ${cols}]`,
    make() {
      const a = tf.randn([rows, cols]), b = tf.randn([rows, cols]);
      const ca = a.to('cuda'), cb = b.to('cuda');
      return {
        bytes,
        run: () => {
          const y = apply(ca, cb);
          cudaSynchronize();
          return y;
        },
        check(out: Tensor) {
          const want = apply(a, b);
          const W = want.dataSync(), C = out.dataSync();
          want.dispose();
          for (const p of samplePositions(W.length, 4096)) {
            const err = close(C[p], W[p], 1e-5 * Math.abs(W[p]) + (op === 'sum rows' ? 1e-3 : 1e-7), `out[${p}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** a + b with b broadcast along the leading dims when bShape is shorter. */
function addCase(aShape: number[], bShape: number[]): Case {
  const broadcast = aShape.join() !== bShape.join();
  return {
    op: broadcast ? 'add (broadcast)' : 'add',
    shape: broadcast ? `[${aShape}] + [${bShape}]` : `[${aShape}]`,
    make() {
      const a = tf.randn(aShape), b = tf.randn(bShape);
      const n = a.size;
      return {
        bytes: (n + b.size + n) * F32,
        run: () => a.add(b),
        check(out: Tensor) {
          const A = a.dataSync(), B = b.dataSync(), C = out.dataSync();
          for (const p of samplePositions(n, 4096)) {
            const err = close(C[p], A[p] + B[p % B.length], 1e-6 * Math.abs(A[p] + B[p % B.length]) + 1e-7, `out[${p}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** The per-op overhead: a round trip from JS through autograd's apply, the native boundary and a
 *  kernel on tensors so small the arithmetic is free, the result disposed each time. One run does
 *  `ops` of them, so timer overhead does not count. */
function tinyAddCase(n: number, ops: number): Case {
  return {
    op: 'tiny add',
    shape: `[${n}] + [${n}], disposed, ×${ops}`,
    make() {
      const a = tf.randn([n]), b = tf.randn([n]);
      return {
        bytes: ops * 3 * n * F32,
        ops,
        run: () => {
          for (let i = 1; i < ops; i++) a.add(b).dispose();
          return a.add(b);
        },
        check(out: Tensor) {
          const A = a.dataSync(), B = b.dataSync(), C = out.dataSync();
          for (let p = 0; p < n; p++) {
            const err = close(C[p], A[p] + B[p], 1e-6 * Math.abs(A[p] + B[p]) + 1e-7, `out[${p}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

function expCase(n: number): Case {
  return {
    op: 'exp',
    shape: `[${n}]`,
    make() {
      const x = tf.randn([n]);
      return {
        bytes: 2 * n * F32,
        run: () => x.exp(),
        check(out: Tensor) {
          const X = x.dataSync(), Y = out.dataSync();
          for (const p of samplePositions(n, 4096)) {
            const want = Math.exp(X[p]);
            const err = close(Y[p], want, 1e-5 * want + 1e-7, `exp(${X[p]})`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** Sum of all elements. Uniform [0, 1) inputs, so the float32 result is well conditioned. */
function sumAllCase(n: number): Case {
  return {
    op: 'sum',
    shape: `[${n}]`,
    make() {
      const x = tf.rand([n]);
      return {
        bytes: (n + 1) * F32,
        run: () => x.sum(),
        check(out: Tensor) {
          let s = 0, mag = 0;
          for (const v of x.dataSync()) {
            s += v;
            mag += Math.abs(v);
          }
          return close(out.item(), s, sumTol(mag), 'sum');
        },
      };
    },
  };
}

/** Sum over dim 0 of [rows, cols]: a strided (column) reduction. */
function sumDim0Case(rows: number, cols: number): Case {
  return {
    op: 'sum(dim=0)',
    shape: `[${rows},${cols}]`,
    make() {
      const x = tf.randn([rows, cols]);
      return {
        bytes: (rows * cols + cols) * F32,
        run: () => x.sum(0),
        check(out: Tensor) {
          const X = x.dataSync(), Y = out.dataSync();
          for (let j = 0; j < cols; j++) {
            let s = 0, mag = 0;
            for (let i = 0; i < rows; i++) {
              s += X[i * cols + j];
              mag += Math.abs(X[i * cols + j]);
            }
            const err = close(Y[j], s, sumTol(mag), `out[${j}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

function transposeCase(rows: number, cols: number): Case {
  return {
    op: 'transpose().contiguous()',
    shape: `[${rows},${cols}]`,
    make() {
      const x = tf.randn([rows, cols]);
      return {
        bytes: 2 * rows * cols * F32,
        run: () => tf.scope(() => x.transpose(0, 1).contiguous()),
        check(out: Tensor) {
          const X = x.dataSync(), Y = out.dataSync();
          for (const p of samplePositions(rows * cols, 4096)) {
            const i = Math.floor(p / rows), j = p % rows;  // out is [cols, rows]
            if (Y[p] !== X[j * cols + i]) return `out[${i}][${j}]: got ${Y[p]}, expected ${X[j * cols + i]}`;
          }
          return null;
        },
      };
    },
  };
}

/**
 * Fused attention, q/k/v [B, H, T, D] (D = Dv). FLOPs: the forward does two T×T×D products per
 * head (S = Q·Kᵀ, O = P·V): 4·B·H·T²·D; causal attention needs only the lower triangle, counted
 * as half of that. The backward does five (S again, dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K,
 * dK = dSᵀ·Q): 2.5× the forward's count, the usual convention. The backward case times the
 * backward kernel alone, from a saved forward (its output and log-sum-exp).
 */
function attentionCase(b: number, h: number, t: number, d: number, o: { causal?: boolean; backward?: boolean } = {}): Case {
  const causal = o.causal ?? false;
  const op = `attention ${o.backward ? 'bwd' : 'fwd'}${causal ? ' causal' : ''}`;
  return {
    op,
    shape: `B${b} H${h} T${t} D${d}`,
    headline: { label: op.replace('attention', 'attn'), spec: { kind: 'attention', b, h, t, d, causal, backward: o.backward ?? false } },
    make() {
      const [q, k, v] = [0, 1, 2].map(() => tf.randn([b, h, t, d]));
      const scale = 1 / Math.sqrt(d);
      const fwdFlops = (causal ? 2 : 4) * b * h * t * t * d;
      // float64 P (softmax) and, given an upstream g, dS for one head
      const head = (bh: number, g?: Float32Array) => {
        const Q = q.dataSync(), K = k.dataSync(), V = v.dataSync(), base = bh * t * d;
        const P = new Float64Array(t * t), dS = new Float64Array(t * t);
        for (let i = 0; i < t; i++) {
          const row = P.subarray(i * t, (i + 1) * t);
          let max = -Infinity;
          for (let j = 0; j < t; j++) {
            let s = 0;
            for (let e = 0; e < d; e++) s += Q[base + i * d + e] * K[base + j * d + e];
            row[j] = causal && j > i ? -Infinity : s * scale;
            max = Math.max(max, row[j]);
          }
          let sum = 0;
          for (let j = 0; j < t; j++) sum += (row[j] = Math.exp(row[j] - max));
          for (let j = 0; j < t; j++) row[j] /= sum;
          if (!g) continue;
          const dP = new Float64Array(t);
          let di = 0;
          for (let j = 0; j < t; j++) {
            for (let e = 0; e < d; e++) dP[j] += g[base + i * d + e] * V[base + j * d + e];
            di += row[j] * dP[j];
          }
          for (let j = 0; j < t; j++) dS[i * t + j] = row[j] * (dP[j] - di);
        }
        return { P, dS, base };
      };
      const heads = [0, b * h - 1];
      const tol = (want: number, mag: number) => 2e-5 * mag + 1e-5 + 1e-5 * Math.abs(want);
      if (!o.backward)
        return {
          flops: fwdFlops,
          run: () => tf.F.scaledDotProductAttention(q, k, v, { isCausal: causal }),
          check(out: Tensor) {
            const Y = out.dataSync(), V = v.dataSync();
            for (const bh of heads) {
              const { P, base } = head(bh);
              for (const p of samplePositions(t * d, 32)) {
                const i = Math.floor(p / d), e = p % d;
                let want = 0, mag = 0;
                for (let j = 0; j < t; j++) {
                  want += P[i * t + j] * V[base + j * d + e];
                  mag += P[i * t + j] * Math.abs(V[base + j * d + e]);
                }
                const err = close(Y[base + p], want, tol(want, mag), `out[${bh}][${i}][${e}]`);
                if (err) return err;
              }
            }
            return null;
          },
        };
      const g = tf.randn([b, h, t, d]);
      const [out, lse] = attentionForward(q, k, v, { isCausal: causal });
      return {
        flops: 2.5 * fwdFlops,
        run: () => attentionBackward(q, k, v, null, out, lse, g, { scale, causal: causal ? 1 : 0 }),
        check(grads: Tensor[]) {
          const [DQ, DK, DV] = grads.map((x) => x.dataSync());
          const Q = q.dataSync(), K = k.dataSync(), G = g.dataSync() as Float32Array;
          for (const bh of heads) {
            const { P, dS, base } = head(bh, G);
            for (const p of samplePositions(t * d, 16)) {
              const r = Math.floor(p / d), e = p % d;
              let wq = 0, wk = 0, wv = 0, mq = 0, mk = 0, mv = 0;
              for (let x = 0; x < t; x++) {
                wq += dS[r * t + x] * K[base + x * d + e] * scale;  // dQ[r] = scale Σ_j dS[r][j] k[j]
                mq += Math.abs(dS[r * t + x] * K[base + x * d + e] * scale);
                wk += dS[x * t + r] * Q[base + x * d + e] * scale;  // dK[r] = scale Σ_i dS[i][r] q[i]
                mk += Math.abs(dS[x * t + r] * Q[base + x * d + e] * scale);
                wv += P[x * t + r] * G[base + x * d + e];           // dV[r] = Σ_i P[i][r] g[i]
                mv += Math.abs(P[x * t + r] * G[base + x * d + e]);
              }
              const err = close(DQ[base + p], wq, tol(wq, mq), `dq[${bh}][${r}][${e}]`) ??
                close(DK[base + p], wk, tol(wk, mk), `dk[${bh}][${r}][${e}]`) ??
                close(DV[base + p], wv, tol(wv, mv), `dv[${bh}][${r}][${e}]`);
              if (err) return err;
            }
          }
          return null;
        },
      };
    },
  };
}

/** conv2d, NCHW, k×k filters, stride 1, zero padding `pad`, no bias: the forward, or (backward)
 *  the input and weight gradients for a given output gradient (dgrad + wgrad, twice the forward's
 *  FLOPs). */
function conv2dCase(n: number, cin: number, h: number, w: number, cout: number, k: number, pad: number, backward = false, headline = true,
  cuda?: { precision: tf.MatmulPrecision }): Case {
  const ho = h + 2 * pad - k + 1, wo = w + 2 * pad - k + 1;
  const fwdFlops = 2 * n * cout * ho * wo * cin * k * k;
  // On CUDA: inputs made (and checked) on the CPU, copied to the device; every run ends with
  // cudaSynchronize() so the clock measures the GPU's work; TF32 / BF16 tolerances.
  const dev = (t: Tensor) => (cuda ? t.to('cuda') : t);
  const host = (t: Tensor) => (t.device === 'cpu' ? t : t.to('cpu'));
  const tolScale = !cuda || cuda.precision === 'highest' ? 1 : cuda.precision === 'high' ? 300 : 2000;
  const sumTol = (mag: number) => tolScale * sumTolF32(mag);
  const timed = <T>(f: () => T) => (cuda ? () => {
    const previous = tf.getMatmulPrecision();
    tf.setMatmulPrecision(cuda.precision);
    try {
      const out = f();
      cudaSynchronize();
      return out;
    } finally {
      tf.setMatmulPrecision(previous);
    }
  } : f);
  return {
    op: (backward ? 'conv2d backward (dgrad+wgrad)' : 'conv2d') + (cuda ? ` (cuda, ${cuda.precision})` : ''),
    shape: `${n}×${cin}×${h}×${w}, ${cout} ${k}×${k} filters, pad ${pad}`,
    headline: headline && !cuda ? { label: backward ? 'conv bwd' : 'conv fwd', spec: { kind: 'conv2d', n, cin, h, w, cout, k, pad, backward } } : undefined,
    make() {
      const xh = tf.randn([n, cin, h, w]), wh = tf.randn([cout, cin, k, k]);
      const X = xh.dataSync(), W = wh.dataSync();
      const x = dev(xh), wt = dev(wh);
      const restore = cuda ? tf.getMatmulPrecision() : null;
      const dispose = () => { if (restore) tf.setMatmulPrecision(restore); };
      const xAt = (b: number, c: number, y: number, xx: number) => (y < 0 || y >= h || xx < 0 || xx >= w ? 0 : X[((b * cin + c) * h + y) * w + xx]);
      if (!backward)
        return {
          flops: fwdFlops,
          run: timed(() => tf.F.conv2d(x, wt, null, { padding: pad })),
          dispose,
          check(out: Tensor) {
            const Y = host(out).dataSync();
            for (const p of samplePositions(n * cout * ho * wo, 64)) {
              const b = Math.floor(p / (cout * ho * wo)), co = Math.floor(p / (ho * wo)) % cout, oy = Math.floor(p / wo) % ho, ox = p % wo;
              let s = 0, mag = 0;
              for (let c = 0; c < cin; c++)
                for (let i = 0; i < k; i++)
                  for (let j = 0; j < k; j++) {
                    const t = xAt(b, c, oy + i - pad, ox + j - pad) * W[((co * cin + c) * k + i) * k + j];
                    s += t;
                    mag += Math.abs(t);
                  }
              const err = close(Y[p], s, sumTol(mag), `out[${b}][${co}][${oy}][${ox}]`);
              if (err) return err;
            }
            return null;
          },
        };
      const gh = tf.randn([n, cout, ho, wo]);
      const G = gh.dataSync(), g = dev(gh);
      const gAt = (b: number, co: number, y: number, xx: number) => (y < 0 || y >= ho || xx < 0 || xx >= wo ? 0 : G[((b * cout + co) * ho + y) * wo + xx]);
      return {
        flops: 2 * fwdFlops,
        run: timed(() => conv2dBackward(x, wt, g, { padding: pad })),
        dispose,
        check([gx, gw]: Tensor[]) {
          const GX = host(gx).dataSync(), GW = host(gw).dataSync();
          for (const p of samplePositions(n * cin * h * w, 32)) {
            const b = Math.floor(p / (cin * h * w)), c = Math.floor(p / (h * w)) % cin, y = Math.floor(p / w) % h, xx = p % w;
            let s = 0, mag = 0;
            for (let co = 0; co < cout; co++)
              for (let i = 0; i < k; i++)
                for (let j = 0; j < k; j++) {
                  const t = gAt(b, co, y - i + pad, xx - j + pad) * W[((co * cin + c) * k + i) * k + j];
                  s += t;
                  mag += Math.abs(t);
                }
            const err = close(GX[p], s, sumTol(mag), `gx[${b}][${c}][${y}][${xx}]`);
            if (err) return err;
          }
          for (const p of samplePositions(cout * cin * k * k, 16)) {
            const co = Math.floor(p / (cin * k * k)), c = Math.floor(p / (k * k)) % cin, i = Math.floor(p / k) % k, j = p % k;
            let s = 0, mag = 0;
            for (let b = 0; b < n; b++)
              for (let oy = 0; oy < ho; oy++)
                for (let ox = 0; ox < wo; ox++) {
                  const t = G[((b * cout + co) * ho + oy) * wo + ox] * xAt(b, c, oy + i - pad, ox + j - pad);
                  s += t;
                  mag += Math.abs(t);
                }
            const err = close(GW[p], s, sumTol(mag), `gw[${co}][${c}][${i}][${j}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** Softmax over `dim` (0 or 1) of [rows, cols] as float64, for sampled lanes: [lane][c]. */
function softmaxLanes(X: ArrayLike<number>, rows: number, cols: number, dim: number, lanes: number[]): number[][] {
  const n = dim === 1 ? cols : rows;
  const at = (lane: number, c: number) => (dim === 1 ? lane * cols + c : c * cols + lane);
  return lanes.map((lane) => {
    let m = -Infinity;
    for (let c = 0; c < n; c++) m = Math.max(m, X[at(lane, c)]);
    let s = 0;
    for (let c = 0; c < n; c++) s += Math.exp(X[at(lane, c)] - m);
    return Array.from({ length: n }, (_, c) => Math.exp(X[at(lane, c)] - m) / s);
  });
}

/** softmax along dim of [rows, cols]; with `backward`, also x.grad for a random output gradient
 *  (autograd: softmax's native backward kernel). Bytes: x read, y written; backward reads y and g
 *  and writes gx. */
function softmaxCase(rows: number, cols: number, dim: number, backward: boolean): Case {
  return {
    op: backward ? 'softmax fwd+bwd' : 'softmax',
    shape: `[${rows},${cols}] dim ${dim}`,
    make() {
      const x = tf.randn([rows, cols], { requiresGrad: backward });
      const g = tf.randn([rows, cols]);
      const n = rows * cols;
      const lanes = samplePositions(dim === 1 ? rows : cols, 8);
      return {
        bytes: (backward ? 5 : 2) * n * F32,
        run(): Tensor[] {
          const y = tf.F.softmax(x, dim);
          if (!backward) return [y];
          y.backward(g);
          const gx = x.grad!;
          x.grad = null;
          return [y, gx];
        },
        check(out: Tensor[]) {
          const X = x.dataSync(), Y = out[0].dataSync(), G = g.dataSync(), GX = backward ? out[1].dataSync() : null;
          const at = (lane: number, c: number) => (dim === 1 ? lane * cols + c : c * cols + lane);
          const ref = softmaxLanes(X, rows, cols, dim, lanes);
          for (let k = 0; k < lanes.length; k++) {
            const p = ref[k];
            let dot = 0;
            p.forEach((v, c) => (dot += v * G[at(lanes[k], c)]));
            for (let c = 0; c < p.length; c++) {
              const err = close(Y[at(lanes[k], c)], p[c], 1e-5 * p[c] + 1e-7, `y lane ${lanes[k]} [${c}]`) ??
                (GX && close(GX[at(lanes[k], c)], p[c] * (G[at(lanes[k], c)] - dot), 1e-4 * p[c] * (Math.abs(G[at(lanes[k], c)]) + Math.abs(dot)) + 1e-7,
                  `gx lane ${lanes[k]} [${c}]`));
              if (err) return err;
            }
          }
          return null;
        },
      };
    },
  };
}

/** crossEntropy forward + backward on logits [n, classes] (fused native kernels): the loss and
 *  the logits' gradient. Bytes: x read twice (forward, backward), gx written, targets read. */
function crossEntropyCase(n: number, classes: number): Case {
  return {
    op: 'crossEntropy fwd+bwd',
    shape: `[${n},${classes}]`,
    make() {
      const x = tf.randn([n, classes], { requiresGrad: true });
      const t = tf.randint(0, classes, [n], { dtype: 'int32' });
      return {
        bytes: 3 * n * classes * F32 + 2 * n * 4,
        run(): Tensor[] {
          const loss = tf.F.crossEntropy(x, t);
          loss.backward();
          const gx = x.grad!;
          x.grad = null;
          return [loss, gx];
        },
        check([loss, gx]: Tensor[]) {
          const X = x.dataSync(), T = t.dataSync(), GX = gx.dataSync();
          let total = 0;
          for (let i = 0; i < n; i++) {
            let m = -Infinity;
            for (let c = 0; c < classes; c++) m = Math.max(m, X[i * classes + c]);
            let s = 0;
            for (let c = 0; c < classes; c++) s += Math.exp(X[i * classes + c] - m);
            total += Math.log(s) + m - X[i * classes + T[i]];
            if (i % 97 === 0)
              for (let c = 0; c < classes; c++) {
                const want = (Math.exp(X[i * classes + c] - m) / s - (c === T[i] ? 1 : 0)) / n;
                const err = close(GX[i * classes + c], want, 1e-5 * Math.abs(want) + 1e-9, `gx[${i}][${c}]`);
                if (err) return err;
              }
          }
          return close(loss.item(), total / n, 1e-5 * Math.abs(total / n), 'loss');
        },
      };
    },
  };
}

/** Per-row mean and 1/std (biased variance) of a [rows, n] array, in float64. */
function rowStats(X: ArrayLike<number>, row: number, n: number, eps: number): { mean: number; rstd: number } {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += X[row * n + i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (X[row * n + i] - mean) ** 2;
  return { mean, rstd: 1 / Math.sqrt(v / n + eps) };
}

/** layerNorm over the last dim of [rows, n] with weight and bias; `backward` times the fused
 *  backward (gx, gWeight, gBias) through autograd, the graph kept between runs. */
function layerNormCase(rows: number, n: number, backward = false): Case {
  return {
    op: backward ? 'layerNorm backward' : 'layerNorm',
    shape: `[${rows},${n}]`,
    make() {
      const x = tf.randn([rows, n], { requiresGrad: backward }), w = tf.randn([n], { requiresGrad: backward });
      const b = tf.randn([n], { requiresGrad: backward });
      const X = x.dataSync(), W = w.dataSync(), B = b.dataSync();
      const rowsToCheck = samplePositions(rows, 4);
      if (!backward)
        return {
          bytes: (2 * rows * n + 2 * n + 2 * rows) * F32,
          run: () => tf.F.layerNorm(x, [n], w, b),
          check(out: Tensor) {
            const Y = out.dataSync();
            for (const r of rowsToCheck) {
              const { mean, rstd } = rowStats(X, r, n, 1e-5);
              for (let i = 0; i < n; i++) {
                const want = (X[r * n + i] - mean) * rstd * W[i] + B[i];
                const err = close(Y[r * n + i], want, 1e-5 * Math.abs(want) + 1e-5, `y[${r}][${i}]`);
                if (err) return err;
              }
            }
            return null;
          },
        };
      const y = tf.F.layerNorm(x, [n], w, b);
      const g = tf.randn([rows, n]);
      const G = g.dataSync();
      return {
        bytes: (3 * rows * n + 3 * n + 2 * rows) * F32,
        run: () => {
          for (const t of [x, w, b]) {  // the previous run's gradients (the harness disposes those it times)
            t.grad?.dispose();
            t.grad = null;
          }
          y.backward(g, { retainGraph: true });
          return [x.grad!, w.grad!, b.grad!];
        },
        check([gx, gw, gb]: Tensor[]) {
          const GX = gx.dataSync(), GW = gw.dataSync(), GB = gb.dataSync();
          const stats = Array.from({ length: rows }, (_, r) => rowStats(X, r, n, 1e-5));
          for (const r of rowsToCheck) {
            const { mean, rstd } = stats[r];
            let mg = 0, mgx = 0;
            for (let i = 0; i < n; i++) {
              const gh = G[r * n + i] * W[i];
              mg += gh / n;
              mgx += (gh * (X[r * n + i] - mean) * rstd) / n;
            }
            for (let i = 0; i < n; i++) {
              const xhat = (X[r * n + i] - mean) * rstd;
              const want = rstd * (G[r * n + i] * W[i] - mg - xhat * mgx);
              const err = close(GX[r * n + i], want, 1e-4 * Math.abs(want) + 1e-4, `gx[${r}][${i}]`);
              if (err) return err;
            }
          }
          for (const i of samplePositions(n, 8)) {
            let sw = 0, sb = 0, mag = 0;
            for (let r = 0; r < rows; r++) {
              const t = G[r * n + i] * (X[r * n + i] - stats[r].mean) * stats[r].rstd;
              sw += t;
              sb += G[r * n + i];
              mag += Math.abs(t) + Math.abs(G[r * n + i]);
            }
            const err = close(GW[i], sw, sumTol(mag), `gWeight[${i}]`) ?? close(GB[i], sb, sumTol(mag), `gBias[${i}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** Training-mode batchNorm of [N, C, H, W] with weight, bias and running stats; `backward` times
 *  the fused backward (gx, gWeight, gBias). */
function batchNormCase(shape: [number, number, number, number], backward = false): Case {
  const [N, C, H, W] = shape;
  const L = H * W, numel = N * C * L;
  return {
    op: backward ? 'batchNorm backward (train)' : 'batchNorm (train)',
    shape: `[${shape}]`,
    make() {
      const x = tf.randn(shape, { requiresGrad: backward });
      const w = tf.randn([C], { requiresGrad: backward }), b = tf.randn([C], { requiresGrad: backward });
      const rm = tf.zeros([C]), rv = tf.ones([C]);
      const X = x.dataSync(), Wt = w.dataSync(), B = b.dataSync();
      const channelStats = (c: number) => {
        let mean = 0, v = 0;
        for (let s = 0; s < N; s++) for (let i = 0; i < L; i++) mean += X[(s * C + c) * L + i];
        mean /= N * L;
        for (let s = 0; s < N; s++) for (let i = 0; i < L; i++) v += (X[(s * C + c) * L + i] - mean) ** 2;
        return { mean, rstd: 1 / Math.sqrt(v / (N * L) + 1e-5) };
      };
      const channels = samplePositions(C, 4);
      const opts = { training: true, momentum: 0.1 };
      if (!backward)
        return {
          bytes: (2 * numel + 6 * C) * F32,
          run: () => tf.F.batchNorm(x, rm, rv, w, b, opts),
          check(out: Tensor) {
            const Y = out.dataSync();
            for (const c of channels) {
              const { mean, rstd } = channelStats(c);
              for (const p of samplePositions(N * L, 256)) {
                const at = (Math.floor(p / L) * C + c) * L + (p % L);
                const want = (X[at] - mean) * rstd * Wt[c] + B[c];
                const err = close(Y[at], want, 1e-5 * Math.abs(want) + 1e-5, `y at ${at}`);
                if (err) return err;
              }
            }
            return null;
          },
        };
      const y = tf.F.batchNorm(x, rm, rv, w, b, opts);
      const g = tf.randn(shape);
      const G = g.dataSync();
      return {
        bytes: (3 * numel + 5 * C) * F32,
        run: () => {
          for (const t of [x, w, b]) {
            t.grad?.dispose();
            t.grad = null;
          }
          y.backward(g, { retainGraph: true });
          return [x.grad!, w.grad!, b.grad!];
        },
        check([gx, gw, gb]: Tensor[]) {
          const GX = gx.dataSync(), GW = gw.dataSync(), GB = gb.dataSync();
          for (const c of channels) {
            const { mean, rstd } = channelStats(c);
            const M = N * L;
            let sg = 0, sgx = 0, mag = 0;
            for (let s = 0; s < N; s++)
              for (let i = 0; i < L; i++) {
                const at = (s * C + c) * L + i;
                sg += G[at];
                sgx += G[at] * (X[at] - mean) * rstd;
                mag += Math.abs(G[at]) * (1 + Math.abs(X[at] - mean) * rstd);
              }
            const err = close(GW[c], sgx, sumTol(mag), `gWeight[${c}]`) ?? close(GB[c], sg, sumTol(mag), `gBias[${c}]`);
            if (err) return err;
            for (const p of samplePositions(M, 256)) {
              const at = (Math.floor(p / L) * C + c) * L + (p % L);
              const xhat = (X[at] - mean) * rstd;
              const want = Wt[c] * rstd * (G[at] - sg / M - (xhat * sgx) / M);
              const e2 = close(GX[at], want, 1e-4 * Math.abs(want) + 1e-4, `gx at ${at}`);
              if (e2) return e2;
            }
          }
          return null;
        },
      };
    },
  };
}

/** erf(v) in float64: Taylor series below 3, the asymptotic erfc series above (ample for a check). */
function erf(v: number): number {
  const a = Math.abs(v);
  let r: number;
  if (a < 3) {
    let term = a, sum = a;
    for (let k = 1; k < 100 && Math.abs(term) > 1e-17; k++) {
      term *= (-a * a) / k;
      sum += term / (2 * k + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    r = 1 - (Math.exp(-a * a) / (a * Math.sqrt(Math.PI))) * (1 - 1 / (2 * a * a) + 3 / (4 * a ** 4));
  }
  return v < 0 ? -r : r;
}

function geluCase(n: number): Case {
  return {
    op: 'gelu',
    shape: `[${n}]`,
    make() {
      const x = tf.randn([n]);
      return {
        bytes: 2 * n * F32,
        run: () => tf.F.gelu(x),
        check(out: Tensor) {
          const X = x.dataSync(), Y = out.dataSync();
          for (const p of samplePositions(n, 4096)) {
            const want = 0.5 * X[p] * (1 + erf(X[p] / Math.SQRT2));
            const err = close(Y[p], want, 1e-5 * Math.abs(want) + 1e-6, `gelu(${X[p]})`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** Output rows (or columns) whose k-wide, stride-s window (padding p) covers input row h. */
function coveringOutputs(h: number, k: number, s: number, p: number, out: number): number[] {
  const lo = Math.max(0, Math.ceil((h + p - k + 1) / s)), hi = Math.min(out - 1, Math.floor((h + p) / s));
  return Array.from({ length: Math.max(0, hi - lo + 1) }, (_, i) => lo + i);
}

type PoolKind = 'maxPool2d' | 'avgPool2d';

/** A k×k, stride-s, padding-p max or average (countIncludePad) pooling of [N, C, H, W]; `backward`
 *  times the native backward kernel through autograd (the graph kept between runs). Bytes: the
 *  forward reads the input and writes the output (max: values and int32 indices); the backward
 *  reads the output gradient (max: and the indices) and writes the input gradient. */
function poolCase(kind: PoolKind, shape: [number, number, number, number], k: number, s: number, p: number, backward = false): Case {
  const [N, C, H, W] = shape;
  const OH = Math.floor((H + 2 * p - k) / s) + 1, OW = Math.floor((W + 2 * p - k) / s) + 1;
  const inN = N * C * H * W, outN = N * C * OH * OW;
  const isMax = kind === 'maxPool2d';
  const opts = { kernelSize: k, stride: s, padding: p };
  return {
    op: `${kind} ${k}×${k}/${s}${p ? ` pad ${p}` : ''}${backward ? ' backward' : ''}`,
    shape: `[${shape}]`,
    make() {
      const x = tf.randn(shape, { requiresGrad: backward });
      const X = x.dataSync();
      const at = (pl: number, h: number, w: number) => pl * H * W + h * W + w;
      // the window of output (pl, oh, ow): its max and argmax, or its average
      const window = (pl: number, oh: number, ow: number) => {
        let best = -Infinity, arg = -1, sum = 0;
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++) {
            const h = oh * s - p + i, w = ow * s - p + j;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            const v = X[at(pl, h, w)];
            sum += v;
            if (v > best) { best = v; arg = h * W + w; }
          }
        return { best, arg, avg: sum / (k * k) };
      };
      const pool = () => (isMax ? tf.F.maxPool2d(x, opts) : tf.F.avgPool2d(x, opts));
      if (!backward)
        return {
          bytes: (inN + (isMax ? 2 : 1) * outN) * F32,
          run: pool,
          check(out: Tensor) {
            const Y = out.dataSync();
            for (const q of samplePositions(outN, 4096)) {
              const pl = Math.floor(q / (OH * OW)), oh = Math.floor(q / OW) % OH, ow = q % OW;
              const want = window(pl, oh, ow);
              const err = isMax ? (Y[q] === want.best ? null : `out[${q}]: got ${Y[q]}, expected ${want.best}`)
                : close(Y[q], want.avg, 1e-5 * Math.abs(want.avg) + 1e-6, `out[${q}]`);
              if (err) return err;
            }
            return null;
          },
        };
      const y = pool();
      const g = tf.randn([N, C, OH, OW]);
      const G = g.dataSync();
      return {
        bytes: ((isMax ? 2 : 1) * outN + inN) * F32,
        run: () => {
          x.grad = null;  // the harness disposes the gradient it is given
          y.backward(g, { retainGraph: true });
          return [x.grad!];
        },
        check([gx]: Tensor[]) {
          const GX = gx.dataSync();
          gx.dispose();  // a .grad is kept out of every scope, the harness's too
          for (const q of samplePositions(inN, 2048)) {
            const pl = Math.floor(q / (H * W)), h = Math.floor(q / W) % H, w = q % W;
            let want = 0, mag = 0;
            for (const oh of coveringOutputs(h, k, s, p, OH))
              for (const ow of coveringOutputs(w, k, s, p, OW)) {
                const gv = G[pl * OH * OW + oh * OW + ow];
                const win = window(pl, oh, ow);
                const part = isMax ? (win.arg === h * W + w ? gv : 0) : gv / (k * k);
                want += part;
                mag += Math.abs(part);
              }
            const err = close(GX[q], want, sumTol(mag), `gx[${q}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** adaptiveAvgPool2d to 1×1 (the global average pool before a classifier), forward or backward. */
function globalAvgPoolCase(shape: [number, number, number, number], backward = false): Case {
  const [N, C, H, W] = shape;
  const planes = N * C, HW = H * W;
  return {
    op: `adaptiveAvgPool2d →1×1${backward ? ' backward' : ''}`,
    shape: `[${shape}]`,
    make() {
      const x = tf.randn(shape, { requiresGrad: backward });
      if (!backward)
        return {
          bytes: (planes * HW + planes) * F32,
          run: () => tf.F.adaptiveAvgPool2d(x, 1),
          check(out: Tensor) {
            const X = x.dataSync(), Y = out.dataSync();
            for (const pl of samplePositions(planes, 1024)) {
              let sum = 0, mag = 0;
              for (let i = 0; i < HW; i++) { sum += X[pl * HW + i]; mag += Math.abs(X[pl * HW + i]); }
              const err = close(Y[pl], sum / HW, sumTol(mag) / HW, `out[${pl}]`);
              if (err) return err;
            }
            return null;
          },
        };
      const y = tf.F.adaptiveAvgPool2d(x, 1);
      const g = tf.randn([N, C, 1, 1]);
      const G = g.dataSync();
      return {
        bytes: (planes + planes * HW) * F32,
        run: () => {
          x.grad = null;
          y.backward(g, { retainGraph: true });
          return [x.grad!];
        },
        check([gx]: Tensor[]) {
          const GX = gx.dataSync();
          gx.dispose();  // a .grad is kept out of every scope, the harness's too
          for (const q of samplePositions(planes * HW, 4096)) {
            const want = G[Math.floor(q / HW)] / HW;
            const err = close(GX[q], want, 1e-6 * Math.abs(want) + 1e-7, `gx[${q}]`);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** The CLI's Fashion-MNIST CNN (ts/models cnn()). */
const CNN = { inChannels: 1, channels: [32, 64] as [number, number], hidden: 128, classes: 10, imageSize: 28 };

/**
 * FLOPs of one training step of cnn(): the forward's convolutions and linear layers, each again
 * for the weight gradient and, except the first layer (its input needs no gradient), for the
 * input gradient. Elementwise work (ReLU, pooling, the loss, Adam) is not counted, as usual.
 */
export function cnnStepFlops(batch: number, c = CNN): number {
  const s1 = c.imageSize, s2 = Math.floor(s1 / 2), s3 = Math.floor(s2 / 2);
  const conv1 = 2 * batch * c.channels[0] * s1 * s1 * c.inChannels * 9;
  const conv2 = 2 * batch * c.channels[1] * s2 * s2 * c.channels[0] * 9;
  const fc1 = 2 * batch * c.channels[1] * s3 * s3 * c.hidden;
  const fc2 = 2 * batch * c.hidden * c.classes;
  return 3 * (conv1 + conv2 + fc1 + fc2) - conv1;
}

/** One training step of the CLI's CNN on a fixed batch: zeroGrad, forward, cross-entropy,
 *  backward, Adam (lr 1e-3). The check: the loss is finite and a few more steps on the same
 *  batch lower it (the kernels' values are checked by the conv, matmul and pooling cases). */
function cnnStepCase(batch: number): Case {
  return {
    op: 'CNN train step (Adam)',
    shape: `batch ${batch}, ${CNN.inChannels}×${CNN.imageSize}×${CNN.imageSize}, conv ${CNN.channels.join('/')}, fc ${CNN.hidden}`,
    headline: { label: 'CNN step', spec: { kind: 'cnn_step', batch, lr: 1e-3, model: CNN } },
    make() {
      const model = tf.models.cnn(CNN);
      const opt = new tf.optim.Adam(model.parameters(), { lr: 1e-3 });
      const x = tf.randn([batch, CNN.inChannels, CNN.imageSize, CNN.imageSize]);
      const y = tf.tensor(Int32Array.from({ length: batch }, (_, i) => (i * 7 + 3) % CNN.classes));
      const step = () => tf.scope(() => {
        opt.zeroGrad();
        const loss = tf.F.crossEntropy(model.forward(x), y);
        loss.backward();
        opt.step();
        return loss;
      });
      return {
        flops: cnnStepFlops(batch),
        run: step,
        check(loss: Tensor) {
          const first = loss.item();
          if (!Number.isFinite(first)) return `loss is ${first}`;
          let last = first;
          for (let i = 0; i < 5; i++) {
            const l = step();
            last = l.item();
            l.dispose();
          }
          return last < first ? null : `5 more Adam steps on the same batch did not lower the loss (${first} -> ${last})`;
        },
        dispose() {
          opt.dispose();
          model.dispose();
        },
      };
    },
  };
}

/**
 * Fused attention on the CUDA device at one matmul precision, q/k/v [B, H, T, D], each run timed
 * to completion (cudaSynchronize).
 * FLOPs as attentionCase. Checked against the CPU kernel on the same inputs: float32 paths to
 * 1e-4 (absolute, outputs and gradients are O(1)), the BF16 forward to 3e-2 (inputs and P
 * rounded to 8 significant bits). The backward runs float32 kernels at every precision; its
 * saved forward is computed at 'highest'.
 * Peer: bench/peers/torch_cuda_attention.py (F.scaled_dot_product_attention).
 */
function cudaAttentionCase(b: number, h: number, t: number, d: number, precision: tf.MatmulPrecision,
  o: { causal?: boolean; backward?: boolean } = {}): Case {
  const causal = o.causal ?? false, backward = o.backward ?? false;
  const sync = cudaSynchronize;
  const atPrecision = <T>(fn: () => T): T => {
    const previous = tf.getMatmulPrecision();
    tf.setMatmulPrecision(precision);
    try {
      return fn();
    } finally {
      tf.setMatmulPrecision(previous);
    }
  };
  const maxDiff = (got: Tensor, want: Tensor, what: string, tol: number): string | null => {
    const host = got.to('cpu');
    const G = host.dataSync(), W = want.dataSync();
    host.dispose();
    for (let i = 0; i < W.length; i++)
      if (!(Math.abs(G[i] - W[i]) <= tol)) return `${what}[${i}]: cuda ${G[i]} vs cpu ${W[i]} (allowed ${tol})`;
    return null;
  };
  return {
    op: `cuda attention ${backward ? 'bwd' : 'fwd'}${causal ? ' causal' : ''} (${precision})`,
    shape: `B${b} H${h} T${t} D${d}`,
    make() {
      const [q, k, v] = [0, 1, 2].map(() => tf.randn([b, h, t, d]));
      const [cq, ck, cv] = [q, k, v].map((x) => x.to('cuda'));
      const scale = 1 / Math.sqrt(d);
      const fwdFlops = (causal ? 2 : 4) * b * h * t * t * d;
      if (!backward)
        return {
          flops: fwdFlops,
          run: () => atPrecision(() => {
            const y = tf.F.scaledDotProductAttention(cq, ck, cv, { isCausal: causal });
            sync();
            return y;
          }),
          check: (out: Tensor) =>
            maxDiff(out, tf.F.scaledDotProductAttention(q, k, v, { isCausal: causal }), 'out', precision === 'medium' ? 3e-2 : 1e-4),
        };
      const g = tf.randn([b, h, t, d]), cg = g.to('cuda');
      const [out, lse] = attentionForward(cq, ck, cv, { isCausal: causal });
      const attrs = { scale, causal: causal ? 1 : 0 };
      return {
        flops: 2.5 * fwdFlops,
        run: () => atPrecision(() => {
          const grads = attentionBackward(cq, ck, cv, null, out, lse, cg, attrs);
          sync();
          return grads;
        }),
        check(grads: Tensor[]) {
          const [o1, l1] = attentionForward(q, k, v, { isCausal: causal });
          const want = attentionBackward(q, k, v, null, o1, l1, g, attrs);
          for (let i = 0; i < 3; i++) {
            const err = maxDiff(grads[i], want[i], ['dq', 'dk', 'dv'][i], 2e-4);
            if (err) return err;
          }
          return null;
        },
      };
    },
  };
}

/** The suite. Quick mode keeps every kind of case but shrinks the shapes: a smoke test. */
export function benchCases(quick = false): Case[] {
  if (quick)
    return [
      matmulCase(128, 128, 128, { headline: 'matmul 128³' }),
      matmulCase(64, 784, 128, { headline: 'matmul 64×784×128' }),
      matmulCase(128, 128, 128, { transB: true }),
      matmulCase(16, 16, 16, { batch: 8 }),
      tinyAddCase(4, 100),
      addCase([1 << 16], [1 << 16]),
      addCase([256, 256], [256]),
      expCase(1 << 16),
      sumAllCase(1 << 18),
      sumDim0Case(256, 128),
      transposeCase(256, 256),
      attentionCase(2, 2, 64, 32),
      attentionCase(2, 2, 64, 32, { causal: true }),
      attentionCase(2, 2, 64, 32, { backward: true }),
      attentionCase(2, 2, 64, 32, { causal: true, backward: true }),
      conv2dCase(2, 16, 28, 28, 16, 3, 1),
      conv2dCase(2, 16, 28, 28, 16, 3, 1, true),
      softmaxCase(256, 256, 1, false),
      softmaxCase(256, 256, 1, true),
      softmaxCase(128, 512, 0, false),
      softmaxCase(128, 512, 0, true),
      crossEntropyCase(128, 100),
      layerNormCase(256, 128),
      layerNormCase(256, 128, true),
      batchNormCase([2, 8, 14, 14]),
      batchNormCase([2, 8, 14, 14], true),
      geluCase(1 << 16),
      poolCase('maxPool2d', [2, 16, 32, 32], 2, 2, 0),
      poolCase('maxPool2d', [2, 16, 32, 32], 3, 2, 1),
      poolCase('maxPool2d', [2, 16, 32, 32], 3, 2, 1, true),
      poolCase('avgPool2d', [2, 16, 32, 32], 2, 2, 0),
      poolCase('avgPool2d', [2, 16, 32, 32], 2, 2, 0, true),
      globalAvgPoolCase([8, 64, 7, 7]),
      globalAvgPoolCase([8, 64, 7, 7], true),
      cnnStepCase(8),
    ];
  return [
    matmulCase(512, 512, 512),
    matmulCase(1024, 1024, 1024, { headline: 'matmul 1024³' }),
    matmulCase(2048, 2048, 2048, { headline: 'matmul 2048³' }),
    matmulCase(4096, 4096, 4096, { headline: 'matmul 4096³' }),
    matmulCase(64, 784, 128, { headline: 'matmul 64×784×128' }),    // an MNIST MLP's first layer, batch 64
    matmulCase(64, 3136, 128, { headline: 'matmul 64×3136×128' }),  // the CNN's classifier: 64×7×7 features → 128, batch 64
    // the same layers as nn.Linear runs them (linear = x·Wᵀ, W [out, in]): forward x·Wᵀ, and
    // matmul's backward: xᵀ·g (the gradient of Wᵀ) and g·W (the input gradient)
    matmulCase(64, 784, 128, { transB: true }),
    matmulCase(784, 64, 128, { transA: true }),
    matmulCase(64, 128, 784),
    matmulCase(64, 3136, 128, { transB: true }),
    matmulCase(3136, 64, 128, { transA: true }),
    matmulCase(64, 128, 3136),
    matmulCase(1024, 1024, 1024, { transB: true }),
    matmulCase(64, 64, 64, { batch: 64 }),
    // memory-bound cases move >= 128 MiB so they measure DRAM, like the bandwidth peak, not L3
    tinyAddCase(4, 1000),
    addCase([1 << 24], [1 << 24]),
    addCase([4096, 4096], [4096]),
    expCase(1 << 24),
    sumAllCase(1 << 25),
    sumDim0Case(8192, 4096),
    transposeCase(4096, 4096),
    attentionCase(8, 8, 256, 64),
    attentionCase(8, 8, 256, 64, { causal: true }),
    attentionCase(8, 8, 256, 64, { backward: true }),
    attentionCase(8, 8, 256, 64, { causal: true, backward: true }),
    // a ResNet stage-1 3×3 convolution, batch 8
    conv2dCase(8, 64, 56, 56, 64, 3, 1),
    conv2dCase(8, 64, 56, 56, 64, 3, 1, true),
    // the training CNN's two convolutions (ts/models cnn(), batch 64): they dominate `tensorforge train`
    conv2dCase(64, 1, 28, 28, 32, 3, 1, false, false),
    conv2dCase(64, 1, 28, 28, 32, 3, 1, true, false),
    conv2dCase(64, 32, 14, 14, 64, 3, 1, false, false),
    conv2dCase(64, 32, 14, 14, 64, 3, 1, true, false),
    softmaxCase(4096, 1024, 1, false),
    softmaxCase(4096, 1024, 1, true),
    softmaxCase(1024, 4096, 0, false),
    softmaxCase(1024, 4096, 0, true),
    crossEntropyCase(1024, 1000),
    layerNormCase(8192, 1024),
    layerNormCase(8192, 1024, true),
    batchNormCase([8, 64, 56, 56]),
    batchNormCase([8, 64, 56, 56], true),
    geluCase(1 << 24),
    poolCase('maxPool2d', [8, 64, 112, 112], 2, 2, 0),
    poolCase('maxPool2d', [8, 64, 112, 112], 2, 2, 0, true),
    poolCase('maxPool2d', [8, 64, 112, 112], 3, 2, 1),
    poolCase('maxPool2d', [8, 64, 112, 112], 3, 2, 1, true),
    poolCase('avgPool2d', [8, 64, 112, 112], 2, 2, 0),
    poolCase('avgPool2d', [8, 64, 112, 112], 2, 2, 0, true),
    poolCase('avgPool2d', [8, 64, 112, 112], 3, 2, 1),
    globalAvgPoolCase([64, 512, 7, 7]),
    globalAvgPoolCase([64, 512, 7, 7], true),
    cnnStepCase(64),  // the CLI's Fashion-MNIST CNN, batch 64
    ...(tf.cuda.isAvailable() ? cudaCases() : []),
  ];
}

/** Where a CUDA device exists: the ResNet stage-1 convolution at batch 32 (bench/peers/
 *  torch_cuda_peer.py --standalone times PyTorch/cuDNN on the same shape), each precision. */
/** The CUDA kernels, where a GPU exists, at each matmul precision. Peers: bench/peers/
 *  torch_cuda_matmul.py, torch_cuda_attention.py, torch_cuda_peer.py (conv). */
function cudaCases(): Case[] {
  const precisions: tf.MatmulPrecision[] = ['highest', 'high', 'medium'];
  return [
    ...(['copy', 'add', 'relu', 'sum rows', 'softmax rows'] as const).map((op) => cudaMemoryCase(op, 8192, 8192)),
    ...precisions.map((p) => cudaMatmulCase(4096, 4096, 4096, p)),
    ...precisions.flatMap((precision) => [
      conv2dCase(32, 64, 56, 56, 64, 3, 1, false, false, { precision }),
      conv2dCase(32, 64, 56, 56, 64, 3, 1, true, false, { precision }),
    ]),
    ...(['highest', 'medium'] as const).flatMap((p) => [false, true].flatMap((backward) =>
      [false, true].map((causal) => cudaAttentionCase(8, 16, 1024, 64, p, { causal, backward })))),
  ];
}

export const caseName = (c: Case) => `${c.op} ${c.shape}`;

// ---- timing -------------------------------------------------------------------------------

/** Warms up, then times `reps` runs (enough for ~targetMs, at least 5); the output of each run
 *  is disposed outside the timed region. */
const disposeAll = (out: Tensor | Tensor[]) => (Array.isArray(out) ? out : [out]).forEach((t) => t.dispose());

/** Native bytes one run allocates at its peak beyond what was live before it. */
function peakBytesOf(run: () => Tensor | Tensor[]): number {
  tf.resetPeakMemory();
  const before = tf.memory().native;
  const out = run();
  const peak = tf.memory().native.peakBytes;
  disposeAll(out);
  return peak - before.bytes - before.scratchBytes;
}

export function timeOp(run: () => Tensor | Tensor[], targetMs: number): PeerTiming {
  const warmStart = nowMs();
  let warm = 0;
  while (stillWarming(warm, nowMs() - warmStart, targetMs)) {
    disposeAll(run());
    warm++;
  }
  const reps = repetitions(nowMs() - warmStart, warm, targetMs);
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = nowMs();
    const out = run();
    samples.push(nowMs() - t0);
    disposeAll(out);
  }
  return summarize(samples);
}

// ---- running ------------------------------------------------------------------------------

/** ofPeak is provisional (against `peak` so far); runBenchmarks recomputes it at the end. */
function runCase(c: Case, peak: Peak, targetMs: number): CaseResult {
  return tf.scope(() => {
    const inst: Instance<Tensor | Tensor[]> = c.make();
    try {
      return measureCase(c, inst, peak, targetMs);
    } finally {
      inst.dispose?.();
    }
  });
}

function measureCase(c: Case, inst: Instance<Tensor | Tensor[]>, peak: Peak, targetMs: number): CaseResult {
  let error: string | null;
  try {
    // outputs are disposed explicitly: a gradient taken from .grad was keep()-ed out of every scope
    error = tf.scope(() => {
      const out = inst.run();
      try {
        return inst.check(out);
      } finally {
        disposeAll(out);
      }
    });
  } catch (e) {
    error = `threw: ${(e as Error).message}`;
  }
  const threw = error?.startsWith('threw') ?? false;
  const timing = threw ? { medianMs: NaN, minMs: NaN, reps: 0 } : timeOp(inst.run, targetMs);
  const peakBytes = threw ? NaN : peakBytesOf(inst.run);
  const seconds = timing.medianMs / 1e3;
  const isFlops = inst.flops !== undefined;
  const rate = isFlops ? inst.flops! / seconds / 1e9 : inst.bytes! / seconds / 1e9;
  return {
    name: caseName(c),
    op: c.op,
    shape: c.shape,
    valid: error === null,
    error,
    ...timing,
    unit: isFlops ? 'GFLOP/s' : 'GB/s',
    rate,
    ofPeak: rate / (isFlops ? peak.gflops : peak.gbs),
    flops: inst.flops ?? null,
    bytes: inst.bytes ?? null,
    usPerOp: inst.ops ? (1e3 * timing.medianMs) / inst.ops : null,
    peakBytes,
    ...(c.headline ? { headline: c.headline.label } : {}),
  } satisfies CaseResult;
}

export function runBenchmarks(opts: Options = {}): Report {
  const quick = opts.quick ?? false;
  const log = opts.log ?? (() => {});
  const before = samplePeak(quick ? 1 : 2);
  const first = bestPeak(before);
  log(`peak so far: ${first.gflops.toFixed(1)} GFLOP/s (FMA), ${first.gbs.toFixed(1)} GB/s (copy)`);
  const cases = benchCases(quick).filter((c) => !opts.filter || caseName(c).includes(opts.filter));
  const results: CaseResult[] = [];
  for (const c of cases) {
    const r = runCase(c, first, quick ? 50 : 500);
    log(`  ${r.name}: ${r.valid ? 'ok' : 'INVALID'} ${r.medianMs.toFixed(3)} ms`);
    results.push(r);
  }
  const peak = bestPeak([...before, ...samplePeak(quick ? 0 : 2)]);
  for (const r of results) r.ofPeak = r.rate / (r.unit === 'GFLOP/s' ? peak.gflops : peak.gbs);
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    quick,
    filter: opts.filter ?? null,
    machine: { ...tf.info(), cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, node: process.version, platform: `${process.platform}-${process.arch}` },
    peak,
    results,
    liveTensorsAfter: tf.memory().numTensors,
  };
}

// ---- peers ---------------------------------------------------------------------------------

/** Puts each peer's timings on the headline results they belong to: the peer's rate with
 *  tensorforge's FLOP count for the case, and tensorforge's rate over it. */
export function attachPeers(report: Report, runs: PeerRun[]): Report {
  report.peers = runs.map((r) => r.info);
  for (const r of report.results) {
    if (!r.headline) continue;
    const peers: Record<string, PeerResult> = {};
    for (const run of runs) {
      const o = run.outcomes[r.name];
      if (!o) continue;
      if ('error' in o) { peers[run.info.name] = { error: o.error }; continue; }
      const rate = (r.flops ?? NaN) / (o.medianMs / 1e3) / 1e9;
      peers[run.info.name] = { ...o, rate, ratio: r.rate / rate };
    }
    r.peers = peers;
  }
  return report;
}

/** Times the report's headline cases with every installed peer, after tensorforge's cases (never
 *  beside them: the machine's cores are shared), and attaches the results. */
export async function comparePeers(report: Report, opts: PeerRunOptions & { log?: (line: string) => void } = {}): Promise<Report> {
  const byName = new Map(benchCases(report.quick).map((c) => [caseName(c), c]));
  const jobs: PeerJob[] = [];
  for (const r of report.results) {
    const spec = byName.get(r.name)?.headline?.spec;
    if (spec) jobs.push({ id: r.name, spec });
  }
  const runs = await runPeers(jobs, {
    targetMs: report.quick ? 50 : 500,
    python: opts.python,
    ortDir: opts.peersOrt,
    threads: report.machine.threads,
    peersDir: path.join(packageRoot(), 'bench', 'peers'),
    log: opts.log,
  });
  return attachPeers(report, runs);
}

/** The peers that timed something in this report, in PEER_NAMES order. */
const reportedPeers = (report: Report): string[] =>
  PEER_NAMES.filter((p) => report.peers?.some((i) => i.name === p && i.available) && report.results.some((r) => r.peers?.[p]));

// ---- output -------------------------------------------------------------------------------

export function formatTable(report: Report): string {
  const peers = reportedPeers(report);
  const header = ['op', 'shape', 'median ms', 'rate', 'of peak', 'peak MiB', 'reps', ...peers.flatMap((p) => [`${p} GFLOP/s`, `tf/${p}`]), 'check'];
  const rows = report.results.map((r) => [
    r.op,
    r.shape,
    r.medianMs.toFixed(3),
    r.usPerOp !== null ? `${r.usPerOp.toFixed(2)} µs/op` : `${r.rate.toFixed(1)} ${r.unit}`,
    `${(100 * r.ofPeak).toFixed(1)}%`,
    (r.peakBytes / 2 ** 20).toFixed(1),
    String(r.reps),
    ...peers.flatMap((p) => {
      const o = r.peers?.[p];
      if (!o) return ['', ''];
      if ('error' in o) return ['error', ''];
      return [o.rate.toFixed(1), `${o.ratio.toFixed(2)}x`];
    }),
    r.valid ? 'ok' : `FAIL: ${r.error}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const numeric = new Set(Array.from({ length: header.length - 3 }, (_, i) => i + 2));
  const line = (cells: string[]) => cells.map((s, i) => (numeric.has(i) ? s.padStart(widths[i]) : s.padEnd(widths[i]))).join('  ').trimEnd();
  const m = report.machine;
  const peerLines: string[] = [];
  for (const info of report.peers ?? []) {
    if (!info.available) peerLines.push(`peer ${info.name}: not run (${info.note})`);
    else peerLines.push(`peer ${info.name}: ${info.version}${info.threads ? `, ${info.threads} threads` : ''}`);
  }
  const errors = report.results.flatMap((r) => Object.entries(r.peers ?? {}).flatMap(([p, o]) => ('error' in o ? [`${p} on ${r.name}: ${o.error}`] : [])));
  return [
    `tensorforge ${m.version} · ${m.cpu} · ${m.cores} cores · ${m.threads} threads · ${m.isa} · node ${m.node}`,
    `peak (measurePeak, best of ${report.peak.samples.length} samples before and after the cases): ${report.peak.gflops.toFixed(1)} GFLOP/s FMA, ${report.peak.gbs.toFixed(1)} GB/s copy`,
    ...peerLines,
    ...(peers.length ? ['tf/<peer>: tensorforge GFLOP/s over the peer\'s on the same case and FLOP count (> 1: tensorforge is faster)'] : []),
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    ...errors.map((e) => `peer error: ${e}`),
    `live tensors after the run: ${report.liveTensorsAfter}`,
  ].join('\n');
}

/** The headline cases as grouped bars: tensorforge's GFLOP/s beside each peer's; null when the
 *  report has no headline case (a --filter that left none). */
export function benchChart(report: Report): string | null {
  const rows = report.results.filter((r) => r.headline && r.unit === 'GFLOP/s');
  if (rows.length === 0 || !rows.some((r) => Number.isFinite(r.rate))) return null;
  const peers = reportedPeers(report);
  const m = report.machine;
  const versions = new Map((report.peers ?? []).map((i) => [i.name, i.version]));
  const noBar = [
    ...(peers.includes('numpy') ? ['NumPy: matmul only'] : []),
    ...(peers.includes('onnxruntime') ? ['onnxruntime-node: inference only, no backward or training step'] : []),
  ];
  return barChart({
    title: `tensorforge ${m.version} vs peers · ${m.cpu}, ${m.threads} threads · ${report.date.slice(0, 10)}`,
    categories: rows.map((r) => r.headline!),
    yLabel: 'GFLOP/s (higher is better)',
    note: `Same shapes and FLOP counts for every bar. No bar: not measured${noBar.length ? ` (${noBar.join('; ')})` : ''}. Machine peak ${report.peak.gflops.toFixed(0)} GFLOP/s FMA.`,
    series: [
      { name: `tensorforge (${m.isa})`, values: rows.map((r) => (r.valid ? r.rate : NaN)) },
      ...peers.map((p) => ({
        name: versions.get(p as PeerInfo['name']) ?? p,
        values: rows.map((r) => {
          const o = r.peers?.[p];
          return o && !('error' in o) ? o.rate : NaN;
        }),
      })),
    ],
  });
}

/** Writes <date>.json and the chart <date>.svg to `dir` (and latest.* for a full-suite run). */
export function save(report: Report, dir = path.join(packageRoot(), 'bench', 'results')): { json: string; svg: string | null } {
  fs.mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(report, null, 2) + '\n';
  const stem = path.join(dir, report.date.replace(/[:.]/g, '-'));
  fs.writeFileSync(`${stem}.json`, json);
  const svg = benchChart(report);
  if (svg) fs.writeFileSync(`${stem}.svg`, svg);
  // latest.* are the full suite's; a filtered run does not replace them
  if (!report.filter) {
    fs.writeFileSync(path.join(dir, 'latest.json'), json);
    if (svg) fs.writeFileSync(path.join(dir, 'latest.svg'), svg);
  }
  return { json: `${stem}.json`, svg: svg ? `${stem}.svg` : null };
}

/** The bench command line's mistakes (unknown flags): one line, exit code 2. */
export class BenchUsageError extends Error { name = 'BenchUsageError'; }

const USAGE = 'bench [--quick] [--filter <substring>] [--json] [--peers [--peers-ort <dir>] [--python <path>]]';

export function parseArgs(argv: string[]): Options & PeerRunOptions & { json: boolean; peers: boolean } {
  const opts: Options & PeerRunOptions & { json: boolean; peers: boolean } = { json: false, peers: false };
  const value = (i: number, flag: string) => {
    if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new BenchUsageError(`${flag} needs a value (usage: ${USAGE})`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const take = () => inline ?? value(i++, flag);
    if (a === '--quick') opts.quick = true;
    else if (a === '--json') opts.json = true;
    else if (a === '--peers') opts.peers = true;
    else if (flag === '--filter') opts.filter = take();
    else if (flag === '--peers-ort') opts.peersOrt = take();
    else if (flag === '--python') opts.python = take();
    else throw new BenchUsageError(`unknown argument '${a}' (usage: ${USAGE})`);
  }
  if ((opts.peersOrt !== undefined || opts.python !== undefined) && !opts.peers)
    throw new BenchUsageError(`--peers-ort and --python choose peers: add --peers (usage: ${USAGE})`);
  return opts;
}

/** Runs the benchmark as `npm run bench` and `tensorforge bench` do; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const opts = parseArgs(argv);
  const log = opts.json ? undefined : (l: string) => console.error(l);
  const report = runBenchmarks({ ...opts, log });
  if (opts.peers) await comparePeers(report, { ...opts, log });
  // quick runs are smoke tests: their shapes are too small to be worth recording
  const files = report.quick ? null : save(report);
  if (opts.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(formatTable(report));
    if (files) console.log(`results: ${path.relative(process.cwd(), files.json)}${files.svg ? `, chart: ${path.relative(process.cwd(), files.svg)}` : ''}`);
  }
  return report.results.some((r) => !r.valid) || report.liveTensorsAfter !== 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
    if (!(e instanceof BenchUsageError)) throw e;
    console.error(e.message);
    process.exitCode = 2;
  });
}

// 2-D pooling over NCHW planes with torch's semantics:
//   maxPool2d            values + int32 argmax indices (flat h*W + w within each plane, torch's
//                        convention); NaN wins a window; ties keep the first in row-major order
//   maxPool2dBackward    scatters g to the argmax positions (adaptiveMaxPool2d's backward too)
//   avgPool2d(+Backward) torch's divisor rules (windows clipped to the padded input in ceil mode,
//                        countIncludePad, divisorOverride)
//   adaptiveAvgPool2d(+Backward), adaptiveMaxPool2d   windows [floor(i*H/o), ceil((i+1)*H/o))
// Every kernel threads over planes × blocks of output rows (planes alone where a backward
// scatters into a plane). Inputs whose columns are not contiguous are packed block by block into
// scratch, and outputs go through a row buffer when theirs are not, so the hot loops see unit
// column strides only. The forward hot loop covers the output columns whose windows lie wholly
// inside the input, 16 at a time in AVX2 registers across all the window's taps (stride 1 and 2
// loaded with shuffles, other strides gathered); border columns, narrow rows and machines without
// AVX2 take the scalar path, which is also the definition the vector path must reproduce.
// Pooling is memory-bound: one pass over the input, one over each output.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>

#include "core/memory.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "matmul.h"
#include "ops/pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace tf {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// ---- geometry ------------------------------------------------------------------------------
// Sizes and argument checks are shared with the CUDA kernels (native/ops/pool.h).

using Geom = PoolGeom;
using AvgOpts = AvgPoolOpts;

// ---- plumbing: threads, scratch, plane and row access ----------------------------------------

// parallel_for whose body may throw (scratch allocation): worker threads must not let an
// exception escape, so the first one is rethrown on the calling thread.
void parallel_tasks(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  std::exception_ptr err;
  std::mutex mu;
  parallel_for(n, std::max<int64_t>(1, grain), [&](int64_t b, int64_t e) {
    try {
      fn(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!err) err = std::current_exception();
    }
  });
  if (err) std::rethrow_exception(err);
}

// Scratch that grows to the largest size a thread's tasks ask for.
template <class T>
struct Buffer {
  std::unique_ptr<Scratch<T>> s;
  size_t n = 0;
  T* get(size_t need) {
    if (need > n || !s) {
      s.reset();
      s = std::make_unique<Scratch<T>>(std::max<size_t>(need, 1));
      n = need;
    }
    return s->get();
  }
};

template <class T>
T* plane_of(const View& v, int64_t p) {
  return v.ptr<T>() + (p / v.shape[1]) * v.strides[0] + (p % v.shape[1]) * v.strides[1];
}

// Rows [r0, r1) of one input plane with unit column stride: the view itself when its columns are
// contiguous, else a packed copy.
struct InRows {
  const float* base;
  int64_t rs, r0;
  const float* row(int64_t h) const { return base + (h - r0) * rs; }
};

InRows in_rows(const View& x, int64_t p, int64_t r0, int64_t r1, Buffer<float>& buf) {
  const float* plane = plane_of<float>(x, p);
  int64_t W = x.shape[3], xs = x.strides[2], xc = x.strides[3];
  if (xc == 1 || W == 1) return {plane + r0 * xs, xs, r0};
  float* dst = buf.get(std::max<int64_t>(0, r1 - r0) * W);
  for (int64_t h = r0; h < r1; h++)
    for (int64_t w = 0; w < W; w++) dst[(h - r0) * W + w] = plane[h * xs + w * xc];
  return {dst, W, r0};
}

// Where an output row is written: into the view when its columns are contiguous, else into a
// buffer that commit() copies out.
template <class T>
struct OutRows {
  T* plane;
  int64_t rs, cs, n;
  T* buf;
  T* row(int64_t r) const { return buf ? buf : plane + r * rs; }
  void commit(int64_t r) const {
    if (buf)
      for (int64_t j = 0; j < n; j++) plane[r * rs + j * cs] = buf[j];
  }
};

template <class T>
OutRows<T> out_rows(const View& v, int64_t p, Buffer<T>& buf) {
  int64_t n = v.shape[3], cs = v.strides[3];
  return {plane_of<T>(v, p), v.strides[2], cs, n, cs == 1 || n == 1 ? nullptr : buf.get(n)};
}

// A whole plane for a backward kernel to accumulate into: the view itself when it is a dense
// H×W block, else scratch that finish() copies out.
struct GradPlane {
  float* plane;
  int64_t rs, cs, H, W;
  float* dense;
  float* get() const { return dense ? dense : plane; }
  void finish() const {
    if (dense)
      for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++) plane[h * rs + w * cs] = dense[h * W + w];
  }
};

GradPlane grad_plane(const View& gx, int64_t p, Buffer<float>& buf) {
  int64_t H = gx.shape[2], W = gx.shape[3], rs = gx.strides[2], cs = gx.strides[3];
  bool is_dense = (cs == 1 || W == 1) && (rs == W || H == 1);
  GradPlane gp{plane_of<float>(gx, p), rs, cs, H, W, is_dense ? nullptr : buf.get(H * W)};
  std::memset(gp.get(), 0, sizeof(float) * H * W);
  return gp;
}

// A thread's scratch for the row-block tasks it runs (freed when its chunk ends, so nothing
// stays allocated between calls).
struct TaskBuffers {
  Buffer<float> in, out;
  Buffer<int32_t> idx;
};

// Forward kernels split planes × blocks of output rows, so a handful of large planes still
// keeps every thread busy; each task handles >= ~32K window reads where possible.
// body(p, oh0, oh1, buffers) computes output rows [oh0, oh1) of plane p.
template <class Body>
void for_row_blocks(int64_t P, int64_t OH, int64_t reads_per_row, Body body) {
  int64_t want = 4 * num_threads();
  int64_t blocks = P >= want ? 1 : std::min<int64_t>(OH, (want + P - 1) / std::max<int64_t>(P, 1));
  int64_t rows = (OH + blocks - 1) / blocks;
  int64_t grain = (32768 + rows * reads_per_row - 1) / std::max<int64_t>(1, rows * reads_per_row);
  parallel_tasks(P * blocks, grain, [&](int64_t b, int64_t e) {
    TaskBuffers bufs;
    for (int64_t t = b; t < e; t++) {
      int64_t p = t / blocks, oh0 = (t % blocks) * rows, oh1 = std::min(OH, oh0 + rows);
      if (oh0 < oh1) body(p, oh0, oh1, bufs);
    }
  });
}

// Output columns whose windows lie wholly inside [0, W): [lo, hi).
std::pair<int32_t, int32_t> interior_cols(int64_t W, int64_t OW, int64_t k, int64_t s, int64_t p, int64_t d) {
  int64_t lo = std::min(OW, (p + s - 1) / s);
  int64_t last = W - 1 + p - (k - 1) * d;  // o*s must not exceed this
  int64_t hi = last < 0 ? 0 : std::min(OW, last / s + 1);
  return {static_cast<int32_t>(lo), static_cast<int32_t>(std::max(lo, hi))};
}

// Valid window rows [k0, k1) for a window starting at row `start` (step d, k taps, H rows).
std::pair<int64_t, int64_t> valid_taps(int64_t start, int64_t k, int64_t d, int64_t H) {
  int64_t k0 = start < 0 ? (-start + d - 1) / d : 0;
  int64_t k1 = H - start <= 0 ? 0 : std::min(k, (H - start + d - 1) / d);
  return {k0, std::max(k0, k1)};
}

// ---- maxPool2d ---------------------------------------------------------------------------------

// torch's rule, scanning a window in row-major order: a larger value or a NaN replaces the best
// so far (so ties keep the first position and the last NaN wins).
// Branch-free: on random data the comparison is a coin toss the branch predictor would lose.
inline void max_take(float v, int32_t pos, float& m, int32_t& best) {
  bool take = (best < 0) | (v > m) | (v != v);
  m = take ? v : m;
  best = take ? pos : best;
}

// The interior output columns go 16 (8 in narrow rows) at a time through AVX2 code (used on
// AVX-512 machines too: pooling is memory-bound), with the block's running results in registers
// across every tap of the window. The last block overlaps the one before it (each block computes
// its outputs from scratch), so no remainder is left; rows with fewer than 8 interior columns,
// and machines (or TENSORFORGE_ISA=scalar) without AVX2, take the scalar path.
constexpr int32_t kBlock = 8;  // the narrowest vector block

bool use_avx2() {
  static const bool yes = std::strcmp(matmul_isa(), "scalar") != 0;  // the GEMM's run-time choice
  return yes;
}

// The window rows shared by one output row: nr rows from r0, rstep elements apart, whose flat
// positions start at pos0 and step by pstep; kw taps per row, dw apart, shifted left by pw.
struct RowTaps {
  const float* r0;
  int64_t rstep;
  int32_t pos0, pstep;
  int64_t nr, kw, dw, pw;
};

#if defined(__x86_64__)
// Eight floats at p[0], p[s], ..., p[7s], reading nothing past p[7s].
template <int S>
__attribute__((target("avx2,fma"))) inline __m256 load_strided(const float* p, __m256i lane_offsets) {
  if constexpr (S == 1) return _mm256_loadu_ps(p);
  else if constexpr (S == 2) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 7);           // p0..p7, p7..p14
    __m256 even = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 2, 0));       // p0 p2 p8 p10 | p4 p6 p12 p14
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0)));
  } else return _mm256_i32gather_ps(p, lane_offsets, 4);
}

// Blocks of V vectors (8V outputs): V = 2 for wide rows (two independent chains), 1 for rows of
// 8 to 15 interior columns.
template <int S, int V>
__attribute__((target("avx2,fma"))) void max_interior_avx2(const RowTaps& t, int32_t s_rt, float* y, int32_t* ix, int32_t lo, int32_t hi) {
  const int32_t s = S ? S : s_rt;
  constexpr int32_t B = 8 * V;
  __m256i lane[V];
  lane[0] = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(s));
  for (int k = 1; k < V; k++) lane[k] = _mm256_add_epi32(lane[0], _mm256_set1_epi32(8 * k * s));
  for (int32_t o = lo; o < hi; o += B) {
    const int32_t b = std::min(o, hi - B);
    __m256 m[V];
    __m256i id[V];
    const __m256i first = _mm256_set1_epi32(t.pos0 + b * s - static_cast<int32_t>(t.pw));
    for (int k = 0; k < V; k++) {
      m[k] = _mm256_set1_ps(kNegInf);
      id[k] = _mm256_add_epi32(first, lane[k]);
    }
    for (int64_t i = 0; i < t.nr; i++)
      for (int64_t j = 0; j < t.kw; j++) {
        const int64_t c = j * t.dw - t.pw + static_cast<int64_t>(b) * s;  // >= 0 in the interior
        const float* rc = t.r0 + i * t.rstep + c;
        const __m256i pc = _mm256_set1_epi32(t.pos0 + static_cast<int32_t>(i) * t.pstep + static_cast<int32_t>(c));
        for (int k = 0; k < V; k++) {
          __m256 v = load_strided<S>(rc + 8 * k * s, lane[0]);
          // torch's rule: a larger value or a NaN replaces the best so far
          __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, m[k], _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
          m[k] = _mm256_blendv_ps(m[k], v, take);
          id[k] = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(id[k]), _mm256_castsi256_ps(_mm256_add_epi32(pc, lane[k])), take));
        }
      }
    for (int k = 0; k < V; k++) {
      _mm256_storeu_ps(y + b + 8 * k, m[k]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ix + b + 8 * k), id[k]);
    }
  }
}

template <int S, int V>
__attribute__((target("avx2,fma"))) void avg_interior_avx2(const RowTaps& t, int32_t s_rt, float divisor, float* y, int32_t lo, int32_t hi) {
  const int32_t s = S ? S : s_rt;
  constexpr int32_t B = 8 * V;
  const __m256i lane = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(s));
  const __m256 d = _mm256_set1_ps(divisor);
  for (int32_t o = lo; o < hi; o += B) {
    const int32_t b = std::min(o, hi - B);
    __m256 acc[V];
    for (int k = 0; k < V; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < t.nr; i++)
      for (int64_t j = 0; j < t.kw; j++) {
        const float* rc = t.r0 + i * t.rstep + j * t.dw - t.pw + static_cast<int64_t>(b) * s;
        for (int k = 0; k < V; k++) acc[k] = _mm256_add_ps(acc[k], load_strided<S>(rc + 8 * k * s, lane));
      }
    for (int k = 0; k < V; k++) _mm256_storeu_ps(y + b + 8 * k, _mm256_div_ps(acc[k], d));
  }
}
#endif

template <int S>
void max_interior(const RowTaps& t, int32_t s, float* y, int32_t* ix, int32_t lo, int32_t hi) {
#if defined(__x86_64__)
  if (hi - lo >= 16) max_interior_avx2<S, 2>(t, s, y, ix, lo, hi);
  else max_interior_avx2<S, 1>(t, s, y, ix, lo, hi);
#endif
}
template <int S>
void avg_interior(const RowTaps& t, int32_t s, float divisor, float* y, int32_t lo, int32_t hi) {
#if defined(__x86_64__)
  if (hi - lo >= 16) avg_interior_avx2<S, 2>(t, s, divisor, y, lo, hi);
  else avg_interior_avx2<S, 1>(t, s, divisor, y, lo, hi);
#endif
}

// [lo, hi) shrunk to nothing (every column then takes the scalar path) when the vector path
// cannot or should not run.
void vector_cols(int32_t& lo, int32_t& hi, int64_t OW) {
#if defined(__x86_64__)
  if (hi - lo >= kBlock && use_avx2()) return;
#endif
  lo = hi = static_cast<int32_t>(OW);
}

template <int S>
void max_pool_row(const InRows& in, const Geom& g, int64_t oh, int32_t lo, int32_t hi, float* y, int32_t* ix) {
  int64_t hs = oh * g.sh - g.ph;
  auto [k0, k1] = valid_taps(hs, g.kh, g.dh, g.H);
  if (k0 == k1) {  // only possible with dilation: the window lies in the padding (torch: -inf)
    std::fill(y, y + g.OW, kNegInf);
    std::fill(ix, ix + g.OW, -1);
    return;
  }
  const int32_t W = static_cast<int32_t>(g.W);
  vector_cols(lo, hi, g.OW);
  if (lo < hi) {
    int64_t h0 = hs + k0 * g.dh;
    RowTaps t{in.row(h0), g.dh * in.rs, static_cast<int32_t>(h0 * g.W), static_cast<int32_t>(g.dh * g.W), k1 - k0, g.kw, g.dw, g.pw};
    max_interior<S>(t, static_cast<int32_t>(g.sw), y, ix, lo, hi);
  }
  auto border = [&](int64_t o) {
    float m = kNegInf;
    int32_t best = -1;
    int64_t ws = o * g.sw - g.pw;
    auto [j0, j1] = valid_taps(ws, g.kw, g.dw, g.W);
    for (int64_t i = k0; i < k1; i++) {
      int64_t h = hs + i * g.dh;
      const float* r = in.row(h);
      for (int64_t j = j0; j < j1; j++) {
        int64_t w = ws + j * g.dw;
        max_take(r[w], static_cast<int32_t>(h * W + w), m, best);
      }
    }
    y[o] = m;
    ix[o] = best;
  };
  for (int64_t o = 0; o < lo; o++) border(o);
  for (int64_t o = hi; o < g.OW; o++) border(o);
}

void max_pool_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &y = v[1], &ix = v[2];
  Geom g = check_max_pool(v, a);
  auto [lo, hi] = interior_cols(g.W, g.OW, g.kw, g.sw, g.pw, g.dw);
  auto row_fn = g.sw == 1 ? &max_pool_row<1> : g.sw == 2 ? &max_pool_row<2> : &max_pool_row<0>;
  for_row_blocks(g.planes(), g.OH, g.OW * g.kh * g.kw, [&](int64_t p, int64_t oh0, int64_t oh1, TaskBuffers& bufs) {
    int64_t r0 = std::clamp<int64_t>(oh0 * g.sh - g.ph, 0, g.H);
    int64_t r1 = std::clamp<int64_t>((oh1 - 1) * g.sh - g.ph + (g.kh - 1) * g.dh + 1, r0, g.H);
    InRows in = in_rows(x, p, r0, r1, bufs.in);
    OutRows<float> yo = out_rows(y, p, bufs.out);
    OutRows<int32_t> io = out_rows(ix, p, bufs.idx);
    for (int64_t oh = oh0; oh < oh1; oh++) {
      row_fn(in, g, oh, lo, hi, yo.row(oh), io.row(oh));
      yo.commit(oh);
      io.commit(oh);
    }
  });
}
TF_REGISTER_KERNEL("maxPool2d", 1, 2, false, max_pool_kernel);

// Whether every index of a row lies in [-1, HW) (a branch-free pass the compiler vectorises);
// if not, `first_bad` receives an offending one.
TF_CLONES bool row_indices_ok(const int32_t* r, int64_t cs, int64_t n, int32_t HW, int32_t& first_bad) {
  int32_t bad = 0;
  if (cs == 1)
    for (int64_t o = 0; o < n; o++) bad |= (r[o] < -1) | (r[o] >= HW);
  else
    for (int64_t o = 0; o < n; o++) bad |= (r[o * cs] < -1) | (r[o * cs] >= HW);
  if (!bad) return true;
  for (int64_t o = 0; o < n; o++)
    if (r[o * cs] < -1 || r[o * cs] >= HW) first_bad = r[o * cs];
  return false;
}

// views: g [N,C,OH,OW], indices [N,C,OH,OW] (int32) -> gx [N,C,H,W]. Serves maxPool2d and
// adaptiveMaxPool2d alike. Each plane's indices are checked before anything is written to it;
// -1 marks a window that lay wholly in the padding (its gradient goes nowhere).
// The optional window attributes (see check_max_pool_backward) are only checked here: the scatter
// needs nothing but the indices.
void max_pool_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const char* op = "maxPool2dBackward";
  const View &g = v[0], &ix = v[1], &gx = v[2];
  Geom geo = check_max_pool_backward(v, a).g;
  const int64_t OH = g.shape[2], OW = g.shape[3], HW = geo.H * geo.W;
  std::atomic<int32_t> bad{0};
  std::atomic<bool> any_bad{false};
  parallel_tasks(geo.planes(), (65536 + OH * OW) / std::max<int64_t>(1, OH * OW + HW), [&](int64_t b, int64_t e) {
    Buffer<float> buf;
    for (int64_t p = b; p < e; p++) {
      const float* gp = plane_of<float>(g, p);
      const int32_t* ip = plane_of<int32_t>(ix, p);
      const int64_t irs = ix.strides[2], ics = ix.strides[3], grs = g.strides[2], gcs = g.strides[3];
      int32_t first_bad = 0;
      bool ok = true;
      for (int64_t oh = 0; oh < OH && ok; oh++) ok = row_indices_ok(ip + oh * irs, ics, OW, static_cast<int32_t>(HW), first_bad);
      if (!ok) {
        bad.store(first_bad);
        any_bad.store(true);
        continue;
      }
      GradPlane out = grad_plane(gx, p, buf);
      float* d = out.get();
      for (int64_t oh = 0; oh < OH; oh++) {
        const int32_t* ir = ip + oh * irs;
        const float* gr = gp + oh * grs;
        for (int64_t o = 0; o < OW; o++) {
          int32_t k = ir[o * ics];
          if (k >= 0) d[k] += gr[o * gcs];
        }
      }
      out.finish();
    }
  });
  if (any_bad.load())
    throw Error(ErrorKind::Index, std::string(op) + ": index " + std::to_string(bad.load()) +
                                      " is out of range for planes of " + std::to_string(HW) + " elements");
}
TF_REGISTER_KERNEL("maxPool2dBackward", 2, 1, false, max_pool_backward_kernel);

// ---- avgPool2d ---------------------------------------------------------------------------------

// torch's divisor for one window: its extent clipped to the padded input (which only bites in
// ceil mode), or the part inside the input without countIncludePad, or the override.
struct Extent {
  int64_t lo, hi, padded;  // [lo, hi) inside the input; `padded` taps inside the padded input
};
Extent extent(int64_t o, int64_t k, int64_t s, int64_t p, int64_t n) {
  int64_t start = o * s - p, end = std::min(start + k, n + p);
  return {std::max<int64_t>(start, 0), std::min(end, n), end - start};
}
float divisor(const Extent& h, const Extent& w, const AvgOpts& opt) {
  if (opt.divisor_override) return static_cast<float>(opt.divisor_override);
  if (opt.count_include_pad) return static_cast<float>(h.padded * w.padded);
  return static_cast<float>((h.hi - h.lo) * (w.hi - w.lo));
}

template <int S>
void avg_pool_row(const InRows& in, const Geom& g, const AvgOpts& opt, int64_t oh, int32_t lo, int32_t hi, float* y) {
  Extent eh = extent(oh, g.kh, g.sh, g.ph, g.H);
  vector_cols(lo, hi, g.OW);
  if (lo < hi) {
    RowTaps t{in.row(eh.lo), in.rs, 0, 0, eh.hi - eh.lo, g.kw, 1, g.pw};
    avg_interior<S>(t, static_cast<int32_t>(g.sw), divisor(eh, extent(lo, g.kw, g.sw, g.pw, g.W), opt), y, lo, hi);
  }
  auto border = [&](int64_t o) {
    Extent ew = extent(o, g.kw, g.sw, g.pw, g.W);
    float s = 0;
    for (int64_t h = eh.lo; h < eh.hi; h++)
      for (int64_t w = ew.lo; w < ew.hi; w++) s += in.row(h)[w];
    y[o] = s / divisor(eh, ew, opt);
  };
  for (int64_t o = 0; o < lo; o++) border(o);
  for (int64_t o = hi; o < g.OW; o++) border(o);
}

void avg_pool_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &y = v[1];
  AvgOpts opt;
  Geom g = check_avg_pool(v, a, opt);
  auto [lo, hi] = interior_cols(g.W, g.OW, g.kw, g.sw, g.pw, 1);
  auto row_fn = g.sw == 1 ? &avg_pool_row<1> : g.sw == 2 ? &avg_pool_row<2> : &avg_pool_row<0>;
  for_row_blocks(g.planes(), g.OH, g.OW * g.kh * g.kw, [&](int64_t p, int64_t oh0, int64_t oh1, TaskBuffers& bufs) {
    int64_t r0 = std::clamp<int64_t>(oh0 * g.sh - g.ph, 0, g.H);
    int64_t r1 = std::clamp<int64_t>((oh1 - 1) * g.sh - g.ph + g.kh, r0, g.H);
    InRows in = in_rows(x, p, r0, r1, bufs.in);
    OutRows<float> yo = out_rows(y, p, bufs.out);
    for (int64_t oh = oh0; oh < oh1; oh++) {
      row_fn(in, g, opt, oh, lo, hi, yo.row(oh));
      yo.commit(oh);
    }
  });
}
TF_REGISTER_KERNEL("avgPool2d", 1, 1, false, avg_pool_kernel);

#if defined(__x86_64__)
// Adds the output gradients gv[lo, vhi) (whole blocks of 8) to every tap of their windows in one
// input row r. Stride 2 spreads 8 values over 16 positions with zeros between them, so it also
// adds 0 to the position after each block's last tap; the caller keeps that inside the row.
template <int S>
__attribute__((target("avx2,fma"))) void avg_back_taps_avx2(float* r, const float* gv, int32_t lo, int32_t vhi, int64_t kw, int64_t pw) {
  static_assert(S == 1 || S == 2, "gathered strides have no vector backward");
  // tap by tap over the whole row: consecutive taps overlap, and reading back a just-stored,
  // partly overlapping vector would stall on store forwarding
  for (int64_t j = 0; j < kw; j++)
    for (int32_t o = lo; o < vhi; o += 8) {
      __m256 v = _mm256_loadu_ps(gv + o);
      float* rc = r + j - pw + static_cast<int64_t>(o) * S;  // >= r in the interior
      if constexpr (S == 1) {
        _mm256_storeu_ps(rc, _mm256_add_ps(_mm256_loadu_ps(rc), v));
      } else {
        __m256 a = _mm256_unpacklo_ps(v, _mm256_setzero_ps()), b = _mm256_unpackhi_ps(v, _mm256_setzero_ps());
        __m256 e0 = _mm256_permute2f128_ps(a, b, 0x20);  // v0 0 v1 0 v2 0 v3 0
        __m256 e1 = _mm256_permute2f128_ps(a, b, 0x31);  // v4 0 v5 0 v6 0 v7 0
        _mm256_storeu_ps(rc, _mm256_add_ps(_mm256_loadu_ps(rc), e0));
        _mm256_storeu_ps(rc + 8, _mm256_add_ps(_mm256_loadu_ps(rc + 8), e1));
      }
    }
}
#endif

// gv[o] = g[o * gs] / divisor over the interior columns, which share one divisor.
TF_CLONES void divide_row(const float* g, int64_t gs, float divisor, float* gv, int32_t lo, int32_t hi) {
  if (gs == 1)
    for (int32_t o = lo; o < hi; o++) gv[o] = g[o] / divisor;
  else
    for (int32_t o = lo; o < hi; o++) gv[o] = g[o * gs] / divisor;
}

// gx for one plane: each output's gradient over its divisor, added to its window's taps inside
// the input. Interior columns go 8 at a time (strides 1 and 2 on AVX2); the rest one by one.
template <int S>
void avg_pool_back_plane(const float* gp, int64_t grs, int64_t gcs, float* d, const Geom& g, const AvgOpts& opt,
                         int32_t lo, int32_t hi, float* gv) {
  int32_t vhi = lo;  // vector columns: [lo, vhi)
#if defined(__x86_64__)
  if ((S == 1 || S == 2) && use_avx2()) {
    int32_t top = hi;
    while (S == 2 && top > lo && (g.kw - 1) - g.pw + 2 * static_cast<int64_t>(top - 1) + 1 > g.W - 1) top--;
    vhi = lo + (top - lo) / 8 * 8;
  }
#endif
  for (int64_t oh = 0; oh < g.OH; oh++) {
    Extent eh = extent(oh, g.kh, g.sh, g.ph, g.H);
    const float* gr = gp + oh * grs;
    if (lo < hi) divide_row(gr, gcs, divisor(eh, extent(lo, g.kw, g.sw, g.pw, g.W), opt), gv, lo, hi);
    for (int64_t o = 0; o < lo; o++) gv[o] = gr[o * gcs] / divisor(eh, extent(o, g.kw, g.sw, g.pw, g.W), opt);
    for (int64_t o = hi; o < g.OW; o++) gv[o] = gr[o * gcs] / divisor(eh, extent(o, g.kw, g.sw, g.pw, g.W), opt);
    for (int64_t h = eh.lo; h < eh.hi; h++) {
      float* r = d + h * g.W;
#if defined(__x86_64__)
      if constexpr (S == 1 || S == 2)
        if (vhi > lo) avg_back_taps_avx2<S>(r, gv, lo, vhi, g.kw, g.pw);
#endif
      auto one = [&](int64_t o) {
        Extent ew = extent(o, g.kw, g.sw, g.pw, g.W);
        for (int64_t w = ew.lo; w < ew.hi; w++) r[w] += gv[o];
      };
      for (int64_t o = 0; o < lo; o++) one(o);
      for (int64_t o = vhi; o < g.OW; o++) one(o);
    }
  }
}

// views: g [N,C,OH,OW] -> gx [N,C,H,W]; the attributes are the forward's.
void avg_pool_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const View &gy = v[0], &gx = v[1];
  AvgOpts opt;
  Geom g = check_avg_pool_backward(v, a, opt);
  auto [lo, hi] = interior_cols(g.W, g.OW, g.kw, g.sw, g.pw, 1);
  auto plane_fn = g.sw == 1 ? &avg_pool_back_plane<1> : g.sw == 2 ? &avg_pool_back_plane<2> : &avg_pool_back_plane<0>;
  parallel_tasks(g.planes(), 65536 / std::max<int64_t>(1, g.H * g.W + g.OH * g.OW * g.kh * g.kw), [&](int64_t b, int64_t e) {
    Buffer<float> buf, gv;
    for (int64_t p = b; p < e; p++) {
      GradPlane out = grad_plane(gx, p, buf);
      plane_fn(plane_of<float>(gy, p), gy.strides[2], gy.strides[3], out.get(), g, opt, lo, hi, gv.get(g.OW));
      out.finish();
    }
  });
}
TF_REGISTER_KERNEL("avgPool2dBackward", 1, 1, false, avg_pool_backward_kernel);

// ---- adaptive pooling --------------------------------------------------------------------------

// Output cell i of o covers input [floor(i*n/o), ceil((i+1)*n/o)).
int64_t ad_start(int64_t i, int64_t n, int64_t o) { return i * n / o; }
int64_t ad_end(int64_t i, int64_t n, int64_t o) { return ((i + 1) * n + o - 1) / o; }

// Independent lanes let the compiler vectorise the sum without reassociating it.
TF_CLONES double sum_f32(const float* p, int64_t n) {
  constexpr int L = 16;
  float lanes[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; l++) lanes[l] += p[i + l];
  double s = 0;
  for (; i < n; i++) s += p[i];
  for (int l = 0; l < L; l++) s += lanes[l];
  return s;
}

void adaptive_avg_kernel(std::vector<View>& v, const Attrs&) {
  const View &x = v[0], &y = v[1];
  Geom g = check_adaptive_avg_pool(v);
  bool dense = (x.strides[3] == 1 || g.W == 1) && (x.strides[2] == g.W || g.H == 1);
  if (g.OH == 1 && g.OW == 1 && dense) {  // the global average before a classifier: one sum per plane
    int64_t HW = g.H * g.W;
    parallel_tasks(g.planes(), 32768 / HW, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; p++) *plane_of<float>(y, p) = static_cast<float>(sum_f32(plane_of<float>(x, p), HW) / HW);
    });
    return;
  }
  for_row_blocks(g.planes(), g.OH, g.W * ((g.H + g.OH - 1) / g.OH + 1), [&](int64_t p, int64_t oh0, int64_t oh1, TaskBuffers& bufs) {
    int64_t r0 = ad_start(oh0, g.H, g.OH), r1 = ad_end(oh1 - 1, g.H, g.OH);
    InRows in = in_rows(x, p, r0, r1, bufs.in);
    OutRows<float> yo = out_rows(y, p, bufs.out);
    for (int64_t oh = oh0; oh < oh1; oh++) {
      int64_t hs = ad_start(oh, g.H, g.OH), he = ad_end(oh, g.H, g.OH);
      float* yr = yo.row(oh);
      for (int64_t o = 0; o < g.OW; o++) {
        int64_t ws = ad_start(o, g.W, g.OW), we = ad_end(o, g.W, g.OW);
        double s = 0;
        for (int64_t h = hs; h < he; h++) s += sum_f32(in.row(h) + ws, we - ws);
        yr[o] = static_cast<float>(s / static_cast<double>((he - hs) * (we - ws)));
      }
      yo.commit(oh);
    }
  });
}
TF_REGISTER_KERNEL("adaptiveAvgPool2d", 1, 1, false, adaptive_avg_kernel);

TF_CLONES void add_const(float* r, float v, int64_t n) {
  for (int64_t i = 0; i < n; i++) r[i] += v;
}

TF_CLONES void fill_row(float* r, int64_t cs, float v, int64_t n) {
  if (cs == 1)
    for (int64_t i = 0; i < n; i++) r[i] = v;
  else
    for (int64_t i = 0; i < n; i++) r[i * cs] = v;
}

// views: g [N,C,OH,OW] -> gx [N,C,H,W]
void adaptive_avg_backward_kernel(std::vector<View>& v, const Attrs&) {
  const View &gy = v[0], &gx = v[1];
  Geom g = check_adaptive_avg_pool_backward(v);
  if (g.OH == 1 && g.OW == 1) {  // the global average pool: every input gets g / (H*W)
    bool dense = (gx.strides[3] == 1 || g.W == 1) && (gx.strides[2] == g.W || g.H == 1);
    parallel_tasks(g.planes(), 32768 / (g.H * g.W), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; p++) {
        float gv = *plane_of<float>(gy, p) / static_cast<float>(g.H * g.W);
        float* d = plane_of<float>(gx, p);
        if (dense) fill_row(d, 1, gv, g.H * g.W);
        else
          for (int64_t h = 0; h < g.H; h++) fill_row(d + h * gx.strides[2], gx.strides[3], gv, g.W);
      }
    });
    return;
  }
  parallel_tasks(g.planes(), 65536 / std::max<int64_t>(1, g.H * g.W + g.OH * g.OW), [&](int64_t b, int64_t e) {
    Buffer<float> buf;
    for (int64_t p = b; p < e; p++) {
      const float* gp = plane_of<float>(gy, p);
      GradPlane out = grad_plane(gx, p, buf);
      float* d = out.get();
      for (int64_t oh = 0; oh < g.OH; oh++) {
        int64_t hs = ad_start(oh, g.H, g.OH), he = ad_end(oh, g.H, g.OH);
        for (int64_t o = 0; o < g.OW; o++) {
          int64_t ws = ad_start(o, g.W, g.OW), we = ad_end(o, g.W, g.OW);
          float gv = gp[oh * gy.strides[2] + o * gy.strides[3]] / static_cast<float>((he - hs) * (we - ws));
          for (int64_t h = hs; h < he; h++) add_const(d + h * g.W + ws, gv, we - ws);
        }
      }
      out.finish();
    }
  });
}
TF_REGISTER_KERNEL("adaptiveAvgPool2dBackward", 1, 1, false, adaptive_avg_backward_kernel);

// views: x -> values, indices (int32, maxPool2d's convention); backward is maxPool2dBackward.
void adaptive_max_kernel(std::vector<View>& v, const Attrs&) {
  const View &x = v[0], &y = v[1], &ix = v[2];
  Geom g = check_adaptive_max_pool(v);
  for_row_blocks(g.planes(), g.OH, g.W * ((g.H + g.OH - 1) / g.OH + 1), [&](int64_t p, int64_t oh0, int64_t oh1, TaskBuffers& bufs) {
    int64_t r0 = ad_start(oh0, g.H, g.OH), r1 = ad_end(oh1 - 1, g.H, g.OH);
    InRows in = in_rows(x, p, r0, r1, bufs.in);
    OutRows<float> yo = out_rows(y, p, bufs.out);
    OutRows<int32_t> io = out_rows(ix, p, bufs.idx);
    for (int64_t oh = oh0; oh < oh1; oh++) {
      int64_t hs = ad_start(oh, g.H, g.OH), he = ad_end(oh, g.H, g.OH);
      float* yr = yo.row(oh);
      int32_t* ir = io.row(oh);
      for (int64_t o = 0; o < g.OW; o++) {
        int64_t ws = ad_start(o, g.W, g.OW), we = ad_end(o, g.W, g.OW);
        float m = kNegInf;
        int32_t best = -1;
        for (int64_t h = hs; h < he; h++) {
          const float* r = in.row(h);
          for (int64_t w = ws; w < we; w++) max_take(r[w], static_cast<int32_t>(h * g.W + w), m, best);
        }
        yr[o] = m;
        ir[o] = best;
      }
      yo.commit(oh);
      io.commit(oh);
    }
  });
}
TF_REGISTER_KERNEL("adaptiveMaxPool2d", 1, 2, false, adaptive_max_kernel);

}  // namespace
}  // namespace tf

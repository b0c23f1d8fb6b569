// softmax / log_softmax along any dim, forward and backward.
//
// Variants, by layout of the softmax dim (chosen per call, for all views at once):
//  - rows:  the dim is contiguous in every view (the usual last-dim case): one vectorised pass
//           per row (max, exp-and-sum, scale), rows split across threads;
//  - lanes: the dim is strided but the innermost other dim is contiguous (softmax over dim 0 of
//           a row-major matrix, over channels of NCHW): vectors of neighbouring lanes are reduced
//           together, so every load is a full contiguous vector; blocks of lanes split across threads;
//  - gather: anything else (transposed, stepped, broadcast gradients): each lane is copied into a
//           per-thread contiguous buffer, the row code runs, the result is scattered back.
// Numerics: softmax subtracts the row max before exp (no overflow for any finite input), sums
// in float vector lanes flushed into a double every 1024 elements, and writes log_softmax as
// (x − max) − log Σ, never x − (max + log Σ), which would lose digits for large |x|. A NaN anywhere
// in a row makes the whole row NaN; an all −inf row gives NaN (as torch); +inf gives NaN.
//
// The vector code is written once with GCC vector extensions, templated on the width W, and
// compiled three times: AVX-512 (W = 16), AVX2+FMA (W = 8) and generic (W = 4: SSE2 on every
// x86-64, plain code elsewhere); the table is chosen once at run time from matmul_isa() (so
// TENSORFORGE_ISA caps it too). W = 1 is the scalar code used for tails, so a value does not
// depend on where in a row it sits.
#include "cpu/softmax.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/memory.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "cpu/matmul.h"
#include "cpu/simd_exp.h"
#include "ops/softmax.h"

namespace tf {
namespace {

#define TF_INLINE_LAMBDA __attribute__((always_inline))  // so lambdas take the target of their caller

using simd::Vec;
using simd::bitcast;
using simd::vexp;

// The kernels for one vector width. Everything is always-inlined into the per-ISA entry points
// below, which carry the target attributes.
template <int W>
struct Impl {
  using F = typename Vec<W>::F;
  static constexpr int64_t kChunk = 1024;  // float partial sums are flushed into double this often

  static TF_INLINE F load(const float* p) {
    F v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static TF_INLINE void store(float* p, F v) { std::memcpy(p, &v, sizeof v); }
  static TF_INLINE F splat(float c) { return F{} + c; }
  static TF_INLINE F vmax(F a, F b) { return a > b ? a : b; }
  static TF_INLINE float lane(F v, int i) {
    if constexpr (W == 1) return v;
    else return v[i];
  }
  static TF_INLINE float hmax(F v) {
    float m = lane(v, 0);
    for (int i = 1; i < W; i++) m = std::max(m, lane(v, i));
    return m;
  }
  static TF_INLINE double hsum(F v) {
    double s = 0;
    for (int i = 0; i < W; i++) s += lane(v, i);
    return s;
  }

  // ---- contiguous rows ----
  static TF_INLINE float row_max(const float* x, int64_t n) {
    float m = -std::numeric_limits<float>::infinity();
    int64_t i = 0;
    if (n >= W) {
      F a = load(x), b = a;
      for (i = W; i + 2 * W <= n; i += 2 * W) {
        a = vmax(a, load(x + i));
        b = vmax(b, load(x + i + W));
      }
      for (; i + W <= n; i += W) a = vmax(a, load(x + i));
      m = hmax(vmax(a, b));
    }
    for (; i < n; i++) m = std::max(m, x[i]);
    return m;
  }

  // Σ f(i) over a row in float vector lanes, flushed into double every kChunk elements;
  // vf(i) gives the vector at i, sf(i) the scalar for the tail.
  template <class VF, class SF>
  static TF_INLINE double row_sum(int64_t n, VF vf, SF sf) {
    double total = 0;
    int64_t i = 0;
    while (i + W <= n) {
      const int64_t end = std::min(n, i + kChunk);
      F a = F{}, b = F{};
      for (; i + 2 * W <= end; i += 2 * W) {
        a += vf(i);
        b += vf(i + W);
      }
      for (; i + W <= end; i += W) a += vf(i);
      total += hsum(a + b);
    }
    for (; i < n; i++) total += sf(i);
    return total;
  }

  static TF_INLINE void forward(const float* x, float* y, int64_t n, bool log) {
    const float m = row_max(x, n);
    if (log) {
      const double s = row_sum(n, [&](int64_t i) TF_INLINE_LAMBDA { return vexp<W>(load(x + i) - m); },
                               [&](int64_t i) TF_INLINE_LAMBDA { return vexp<1>(x[i] - m); });
      const float ls = static_cast<float>(std::log(s));
      int64_t i = 0;
      for (; i + W <= n; i += W) store(y + i, (load(x + i) - m) - ls);
      for (; i < n; i++) y[i] = (x[i] - m) - ls;
      return;
    }
    const double s = row_sum(
        n,
        [&](int64_t i) TF_INLINE_LAMBDA {
          F e = vexp<W>(load(x + i) - m);
          store(y + i, e);
          return e;
        },
        [&](int64_t i) TF_INLINE_LAMBDA { return y[i] = vexp<1>(x[i] - m); });
    const float r = static_cast<float>(1.0 / s);
    int64_t i = 0;
    for (; i + W <= n; i += W) store(y + i, load(y + i) * r);
    for (; i < n; i++) y[i] *= r;
  }

  static TF_INLINE void backward(const float* y, const float* g, float* gx, int64_t n, bool log) {
    int64_t i = 0;
    if (log) {
      const float s = static_cast<float>(row_sum(n, [&](int64_t j) TF_INLINE_LAMBDA { return load(g + j); }, [&](int64_t j) TF_INLINE_LAMBDA { return g[j]; }));
      for (; i + W <= n; i += W) store(gx + i, load(g + i) - vexp<W>(load(y + i)) * s);
      for (; i < n; i++) gx[i] = g[i] - vexp<1>(y[i]) * s;
      return;
    }
    const float d = static_cast<float>(
        row_sum(n, [&](int64_t j) TF_INLINE_LAMBDA { return load(g + j) * load(y + j); }, [&](int64_t j) TF_INLINE_LAMBDA { return g[j] * y[j]; }));
    for (; i + W <= n; i += W) store(gx + i, load(y + i) * (load(g + i) - d));
    for (; i < n; i++) gx[i] = y[i] * (g[i] - d);
  }

  static TF_INLINE float max_logsum(const float* x, int64_t n, double* log_sum) {
    const float m = row_max(x, n);
    *log_sum = std::log(row_sum(n, [&](int64_t i) TF_INLINE_LAMBDA { return vexp<W>(load(x + i) - m); },
                                [&](int64_t i) TF_INLINE_LAMBDA { return vexp<1>(x[i] - m); }));
    return m;
  }

  static TF_INLINE void exp_affine(const float* x, int64_t n, float shift, float a, float b, const float* w, float* out) {
    int64_t i = 0;
    for (; i + W <= n; i += W) store(out + i, vexp<W>(load(x + i) - shift) * a - load(w + i) * b);
    for (; i < n; i++) out[i] = vexp<1>(x[i] - shift) * a - w[i] * b;
  }

  // ---- K vectors of lanes, the softmax dim strided ----
  // Per-lane sums over a long dim: float accumulators flushed into double every kChunk steps.
  template <int K>
  struct LaneSums {
    F part[K];
    double total[K][W];
    int64_t steps = 0;
    TF_INLINE LaneSums() {
      for (int k = 0; k < K; k++) {
        part[k] = F{};
        for (int i = 0; i < W; i++) total[k][i] = 0;
      }
    }
    TF_INLINE void add(int k, F v) { part[k] += v; }
    TF_INLINE void step() {
      if (++steps % kChunk == 0) flush();
    }
    TF_INLINE void flush() {
      for (int k = 0; k < K; k++) {
        for (int i = 0; i < W; i++) total[k][i] += lane(part[k], i);
        part[k] = F{};
      }
    }
    // after flush(): a vector of f(total) per group
    template <class Fn>
    TF_INLINE F map(int k, Fn fn) const {
      float tmp[W];
      for (int i = 0; i < W; i++) tmp[i] = fn(total[k][i]);
      return load(tmp);
    }
  };

  template <int K>
  static TF_INLINE void forward_group(const float* x, int64_t sx, float* y, int64_t sy, int64_t n, bool log) {
    F m[K];
    for (int k = 0; k < K; k++) m[k] = splat(-std::numeric_limits<float>::infinity());
    for (int64_t c = 0; c < n; c++)
      for (int k = 0; k < K; k++) m[k] = vmax(m[k], load(x + c * sx + k * W));
    LaneSums<K> s;
    for (int64_t c = 0; c < n; c++) {
      for (int k = 0; k < K; k++) {
        const F e = vexp<W>(load(x + c * sx + k * W) - m[k]);
        if (!log) store(y + c * sy + k * W, e);
        s.add(k, e);
      }
      s.step();
    }
    s.flush();
    if (log) {
      F ls[K];
      for (int k = 0; k < K; k++) ls[k] = s.map(k, [](double v) { return static_cast<float>(std::log(v)); });
      for (int64_t c = 0; c < n; c++)
        for (int k = 0; k < K; k++) store(y + c * sy + k * W, (load(x + c * sx + k * W) - m[k]) - ls[k]);
      return;
    }
    F r[K];
    for (int k = 0; k < K; k++) r[k] = s.map(k, [](double v) { return static_cast<float>(1.0 / v); });
    for (int64_t c = 0; c < n; c++)
      for (int k = 0; k < K; k++) store(y + c * sy + k * W, load(y + c * sy + k * W) * r[k]);
  }

  template <int K>
  static TF_INLINE void backward_group(const float* y, int64_t sy, const float* g, int64_t sg, float* gx, int64_t sgx,
                                       int64_t n, bool log) {
    LaneSums<K> s;
    for (int64_t c = 0; c < n; c++) {
      for (int k = 0; k < K; k++) {
        const F gv = load(g + c * sg + k * W);
        s.add(k, log ? gv : gv * load(y + c * sy + k * W));
      }
      s.step();
    }
    s.flush();
    F d[K];
    for (int k = 0; k < K; k++) d[k] = s.map(k, [](double v) { return static_cast<float>(v); });
    for (int64_t c = 0; c < n; c++)
      for (int k = 0; k < K; k++) {
        const F yv = load(y + c * sy + k * W), gv = load(g + c * sg + k * W);
        store(gx + c * sgx + k * W, log ? gv - vexp<W>(yv) * d[k] : yv * (gv - d[k]));
      }
  }
};

// Lanes in groups of 4 vectors (enough independent chains to hide latency), then single
// vectors, then single lanes with the scalar code.
template <int W>
TF_INLINE void forward_lanes_impl(const float* x, int64_t sx, float* y, int64_t sy, int64_t n, int64_t lanes, bool log) {
  int64_t l = 0;
  for (; l + 4 * W <= lanes; l += 4 * W) Impl<W>::template forward_group<4>(x + l, sx, y + l, sy, n, log);
  for (; l + W <= lanes; l += W) Impl<W>::template forward_group<1>(x + l, sx, y + l, sy, n, log);
  for (; l < lanes; l++) Impl<1>::template forward_group<1>(x + l, sx, y + l, sy, n, log);
}
template <int W>
TF_INLINE void backward_lanes_impl(const float* y, int64_t sy, const float* g, int64_t sg, float* gx, int64_t sgx,
                                   int64_t n, int64_t lanes, bool log) {
  int64_t l = 0;
  for (; l + 4 * W <= lanes; l += 4 * W) Impl<W>::template backward_group<4>(y + l, sy, g + l, sg, gx + l, sgx, n, log);
  for (; l + W <= lanes; l += W) Impl<W>::template backward_group<1>(y + l, sy, g + l, sg, gx + l, sgx, n, log);
  for (; l < lanes; l++) Impl<1>::template backward_group<1>(y + l, sy, g + l, sg, gx + l, sgx, n, log);
}

#define TF_SOFTMAX_TABLE(ATTR, W, NAME)                                                                          \
  ATTR void NAME##_forward(const float* x, float* y, int64_t n, bool log) { Impl<W>::forward(x, y, n, log); }  \
  ATTR void NAME##_backward(const float* y, const float* g, float* gx, int64_t n, bool log) {                   \
    Impl<W>::backward(y, g, gx, n, log);                                                                       \
  }                                                                                                            \
  ATTR void NAME##_forward_lanes(const float* x, int64_t sx, float* y, int64_t sy, int64_t n, int64_t lanes,   \
                                 bool log) {                                                                   \
    forward_lanes_impl<W>(x, sx, y, sy, n, lanes, log);                                                        \
  }                                                                                                            \
  ATTR void NAME##_backward_lanes(const float* y, int64_t sy, const float* g, int64_t sg, float* gx,           \
                                  int64_t sgx, int64_t n, int64_t lanes, bool log) {                           \
    backward_lanes_impl<W>(y, sy, g, sg, gx, sgx, n, lanes, log);                                              \
  }                                                                                                            \
  ATTR float NAME##_max_logsum(const float* x, int64_t n, double* ls) { return Impl<W>::max_logsum(x, n, ls); } \
  ATTR void NAME##_exp_affine(const float* x, int64_t n, float shift, float a, float b, const float* w,        \
                              float* out) {                                                                    \
    Impl<W>::exp_affine(x, n, shift, a, b, w, out);                                                            \
  }                                                                                                            \
  const SoftmaxRows NAME##_table = {#NAME,                 NAME##_forward,   NAME##_backward,                  \
                                    NAME##_forward_lanes,  NAME##_backward_lanes, NAME##_max_logsum,            \
                                    NAME##_exp_affine};

#if defined(__x86_64__) && !defined(__clang__)
TF_SOFTMAX_TABLE(__attribute__((target("avx512f,fma"))), 16, avx512)
TF_SOFTMAX_TABLE(__attribute__((target("avx2,fma"))), 8, avx2)
#endif
TF_SOFTMAX_TABLE(, 4, generic)

}  // namespace

const SoftmaxRows& softmax_rows() {
  static const SoftmaxRows* chosen = [] {
#if defined(__x86_64__) && !defined(__clang__)
    const std::string isa = matmul_isa();  // the one run-time ISA decision (honours TENSORFORGE_ISA)
    if (isa == "avx512") return &avx512_table;
    if (isa == "avx2") return &avx2_table;
#endif
    return &generic_table;
  }();
  return *chosen;
}

namespace {

// The softmax dim of N same-shaped views, and their other dims coalesced (size-1 dims dropped,
// neighbours merged where every view is contiguous across them), outermost first.
template <int N>
struct AlongDim {
  int64_t n = 1;       // length of the softmax dim
  int64_t nst[N];      // its stride in each view
  int nd = 0;          // the other dims
  int64_t shape[kMaxDims];
  int64_t st[N][kMaxDims];

  AlongDim(const View* const (&v)[N], int dim) {
    const View& r = *v[0];
    for (int k = 0; k < N; k++) nst[k] = 1;
    if (r.ndim > 0) {
      n = r.shape[dim];
      if (n > 1)
        for (int k = 0; k < N; k++) nst[k] = v[k]->strides[dim];
    }
    for (int d = 0; d < r.ndim; d++) {
      if (d == dim || r.shape[d] == 1) continue;
      if (nd > 0) {
        bool merge = true;
        for (int k = 0; k < N; k++) merge &= st[k][nd - 1] == v[k]->strides[d] * r.shape[d];
        if (merge) {
          shape[nd - 1] *= r.shape[d];
          for (int k = 0; k < N; k++) st[k][nd - 1] = v[k]->strides[d];
          continue;
        }
      }
      shape[nd] = r.shape[d];
      for (int k = 0; k < N; k++) st[k][nd] = v[k]->strides[d];
      nd++;
    }
  }
  int64_t count(int dims) const {
    int64_t c = 1;
    for (int d = 0; d < dims; d++) c *= shape[d];
    return c;
  }
  // offsets of flat position pos over the first `dims` other dims
  void offsets(int64_t pos, int dims, int64_t (&off)[N]) const {
    for (int k = 0; k < N; k++) off[k] = 0;
    for (int d = dims - 1; d >= 0 && pos; d--) {
      const int64_t i = pos % shape[d];
      pos /= shape[d];
      for (int k = 0; k < N; k++) off[k] += i * st[k][d];
    }
  }
};

constexpr int64_t kWorkPerTask = 32768;  // elements per parallel task, at least

// Runs a softmax-like computation along `dim` of N views (the last one is written):
// row(p[N]) for a contiguous row; lanes(p[N], strides[N], count) for `count` contiguous lanes.
template <int N, class Row, class Lanes>
void along_dim(const View* const (&v)[N], int dim, Row row, Lanes lanes) {
  if (v[0]->numel() == 0) return;
  const AlongDim<N> a(v, dim);
  const int64_t n = a.n;
  auto base = [&](int k, int64_t off) { return v[k]->template ptr<float>() + off; };

  bool rows = true;
  for (int k = 0; k < N; k++) rows &= a.nst[k] == 1;
  if (rows) {
    const int64_t count = a.count(a.nd);
    parallel_for(count, std::max<int64_t>(1, kWorkPerTask / n), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; r++) {
        int64_t off[N];
        a.offsets(r, a.nd, off);
        float* p[N];
        for (int k = 0; k < N; k++) p[k] = base(k, off[k]);
        row(p);
      }
    });
    return;
  }

  bool lane_dim = a.nd > 0 && a.shape[a.nd - 1] >= 4;
  for (int k = 0; lane_dim && k < N; k++) lane_dim = a.st[k][a.nd - 1] == 1;
  if (lane_dim) {
    constexpr int64_t kBlock = 64;  // lanes per task: a multiple of every width's group of 4 vectors
    const int64_t L = a.shape[a.nd - 1], blocks = (L + kBlock - 1) / kBlock, outer = a.count(a.nd - 1);
    parallel_for(outer * blocks, std::max<int64_t>(1, kWorkPerTask / (n * kBlock)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; t++) {
        const int64_t o = t / blocks, l0 = (t % blocks) * kBlock;
        int64_t off[N];
        a.offsets(o, a.nd - 1, off);
        float* p[N];
        for (int k = 0; k < N; k++) p[k] = base(k, off[k] + l0);
        lanes(p, a.nst, std::min(kBlock, L - l0));
      }
    });
    return;
  }

  // gather each lane into a contiguous buffer per view, run the row code, scatter the result
  const int64_t count = a.count(a.nd);
  parallel_for(count, std::max<int64_t>(1, kWorkPerTask / n), [&](int64_t b, int64_t e) {
    Scratch<float> buf(static_cast<size_t>(N * n));
    float* p[N];
    for (int k = 0; k < N; k++) p[k] = buf.get() + k * n;
    for (int64_t r = b; r < e; r++) {
      int64_t off[N];
      a.offsets(r, a.nd, off);
      for (int k = 0; k + 1 < N; k++) {
        const float* src = base(k, off[k]);
        for (int64_t c = 0; c < n; c++) p[k][c] = src[c * a.nst[k]];
      }
      row(p);
      float* dst = base(N - 1, off[N - 1]);
      for (int64_t c = 0; c < n; c++) dst[c * a.nst[N - 1]] = p[N - 1][c];
    }
  });
}

// views: x, y. attrs: dim (normalised), log (0: softmax, 1: log_softmax).
void softmax_kernel(std::vector<View>& v, const Attrs& attrs) {
  const View &x = v[0], &y = v[1];
  const SoftmaxArgs args = check_softmax(v, attrs);
  const int dim = args.dim;
  const bool log = args.log;
  const SoftmaxRows& k = softmax_rows();
  const View* views[2] = {&x, &y};
  along_dim<2>(
      views, dim, [&](float* const* p) { k.forward(p[0], p[1], x.ndim ? x.shape[dim] : 1, log); },
      [&](float* const* p, const int64_t* s, int64_t lanes) {
        k.forward_lanes(p[0], s[0], p[1], s[1], x.shape[dim], lanes, log);
      });
}
TF_REGISTER_KERNEL("softmax", 1, 1, false, softmax_kernel);

// views: y (the forward's output), g, gx. attrs as the forward's.
void softmax_backward_kernel(std::vector<View>& v, const Attrs& attrs) {
  const View &y = v[0], &g = v[1], &gx = v[2];
  const SoftmaxArgs args = check_softmax_backward(v, attrs);
  const int dim = args.dim;
  const bool log = args.log;
  const SoftmaxRows& k = softmax_rows();
  const View* views[3] = {&y, &g, &gx};
  along_dim<3>(
      views, dim, [&](float* const* p) { k.backward(p[0], p[1], p[2], y.ndim ? y.shape[dim] : 1, log); },
      [&](float* const* p, const int64_t* s, int64_t lanes) {
        k.backward_lanes(p[0], s[0], p[1], s[1], p[2], s[2], y.shape[dim], lanes, log);
      });
}
TF_REGISTER_KERNEL("softmaxBackward", 2, 1, false, softmax_backward_kernel);

}  // namespace
}  // namespace tf

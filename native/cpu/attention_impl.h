// The body of the fused attention kernels, compiled once per ISA: attention.cpp includes this
// file three times, inside a namespace and a `#pragma GCC target` region, after defining
//   W   floats per vector (16 AVX-512, 8 AVX2, 4 baseline SSE2 / NEON),
//   R   rows and NV vectors of the register-blocked tile product (R·NV accumulators).
// The code is written with GCC vector extensions, so one source gives every variant.
// No #include here: everything it needs is included by attention.cpp before the namespaces.

typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));
typedef double vd __attribute__((vector_size(8 * W)));

static inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
static inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
static inline vf splat(float s) { return vf{} + s; }
static inline int64_t padded(int64_t n) { return (n + W - 1) / W * W; }

// Transposes W rows of W floats in registers (r[i][l] becomes r[l][i]) by swapping the
// off-diagonal h×h lane blocks for h = W/2 ... 1: log2(W) rounds of W two-source shuffles,
// where element-by-element packing costs a load and a store per float.
static TF_INLINE void transpose(vf r[W]) {
#pragma GCC unroll 8
  for (int h = W / 2; h >= 1; h /= 2) {
    vi lo, hi;
#pragma GCC unroll 16
    for (int l = 0; l < W; l++) {
      lo[l] = (l & h) ? l - h + W : l;
      hi[l] = (l & h) ? l + W : l + h;
    }
#pragma GCC unroll 16
    for (int i = 0; i < W; i++)
      if (!(i & h)) {
        const vf a = r[i], b = r[i + h];
        r[i] = __builtin_shuffle(a, b, lo);
        r[i + h] = __builtin_shuffle(a, b, hi);
      }
  }
}

// qt[d·ld + i] = q(i, d)·mul for i < nq, d < D (q(i, d) at q[i·rs + d·cs]); columns [nq, ld) zeroed.
static void pack_qt(const float* q, int64_t rs, int64_t cs, int64_t nq, int64_t D, float mul, float* qt, int64_t ld) {
  for (int64_t d = 0; d < D; d++)
    for (int64_t i = nq / W * W; i < ld; i++) qt[d * ld + i] = i < nq ? q[i * rs + d * cs] * mul : 0.f;
  const int64_t D0 = cs == 1 ? D / W * W : 0;
  for (int64_t i0 = 0; i0 + W <= nq; i0 += W) {
    for (int64_t d0 = 0; d0 < D0; d0 += W) {
      vf r[W];
#pragma GCC unroll 16
      for (int x = 0; x < W; x++) r[x] = load(q + (i0 + x) * rs + d0) * mul;
      transpose(r);
#pragma GCC unroll 16
      for (int y = 0; y < W; y++) store(qt + (d0 + y) * ld + i0, r[y]);
    }
    for (int64_t d = D0; d < D; d++)
      for (int64_t i = i0; i < i0 + W; i++) qt[d * ld + i] = q[i * rs + d * cs] * mul;
  }
}

// The shared polynomial exp for softmax arguments (s - max <= 0; simd_exp.h, ~1 ulp, weights
// under 2^-126 flushed to 0): exp(-inf) = 0 for masked scores, NaN stays NaN.
static TF_INLINE vf vexp(vf x) { return simd::vexp_nonpos<W>(x); }

// s[j] = exp(s[j] - shift) over a padded row; returns the sum.
static inline float exp_row(float* s, int64_t n, float shift) {
  vf sum{};
  const vf sh = splat(shift);
  for (int64_t j = 0; j < n; j += W) {
    const vf p = vexp(load(s + j) - sh);
    store(s + j, p);
    sum += p;
  }
  float r = 0;
  for (int l = 0; l < W; l++) r += sum[l];
  return r;
}

// How a tile product starts: from zero, from C, or from C with row r scaled by rowscale[r]
// (the online softmax's correction of the output accumulator, fused into the product so the
// accumulator is not read and written an extra time).
enum class Init { Zero, Add, Scale };

// C rows [0, RR) × NVV vectors (+)= Σ_k A(r, k) · B[k][·]: A(r, k) at a[r·rsa + k·csa], B rows
// ldb apart. The accumulators stay in registers for the whole k loop.
template <int RR, int NVV>
static inline void micro(int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb,
                         float* c, int64_t ldc, Init init, const float* rowscale) {
  vf acc[RR][NVV];
#pragma GCC unroll 16
  for (int r = 0; r < RR; r++)
#pragma GCC unroll 8
    for (int v = 0; v < NVV; v++)
      acc[r][v] = init == Init::Zero    ? vf{}
                  : init == Init::Add   ? load(c + r * ldc + v * W)
                                        : load(c + r * ldc + v * W) * rowscale[r];
  for (int64_t k = 0; k < K; k++) {
    vf bv[NVV];
#pragma GCC unroll 8
    for (int v = 0; v < NVV; v++) bv[v] = load(b + k * ldb + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < RR; r++) {
      const float ar = a[r * rsa + k * csa];
#pragma GCC unroll 8
      for (int v = 0; v < NVV; v++) acc[r][v] += ar * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RR; r++)
#pragma GCC unroll 8
    for (int v = 0; v < NVV; v++) store(c + r * ldc + v * W, acc[r][v]);
}

template <int RR, int NVV>
static inline void micro_edge(int rr, int nv, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b,
                              int64_t ldb, float* c, int64_t ldc, Init init, const float* rowscale) {
  if constexpr (RR > 1)
    if (rr < RR) return micro_edge<RR - 1, NVV>(rr, nv, K, a, rsa, csa, b, ldb, c, ldc, init, rowscale);
  if constexpr (NVV > 1)
    if (nv < NVV) return micro_edge<RR, NVV - 1>(rr, nv, K, a, rsa, csa, b, ldb, c, ldc, init, rowscale);
  micro<RR, NVV>(K, a, rsa, csa, b, ldb, c, ldc, init, rowscale);
}

// The part of a tile product one row group needs: k in [k0, k1), columns [n0, n1) (n0 and n1
// multiples of W). On the causal diagonal the rest has probability 0 (k outside the range) or
// is masked afterwards (columns outside it, left unwritten).
struct Span {
  int64_t k0, k1, n0, n1;
};

// C (M × N, N a multiple of W) (+)= A (M × K, any strides) · B (K × N, rows ldb apart), for
// the small block products of attention: every operand is a tile already in L1/L2, so there is
// no packing beyond the tiles themselves. span(i, rows) bounds the row group starting at row i
// (see Span); rowscale is for Init::Scale.
template <class SpanFn>
static void gemm_tile(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b,
                      int64_t ldb, float* c, int64_t ldc, Init init, const float* rowscale, SpanFn span) {
  for (int64_t i = 0; i < M; i += R) {
    const int rr = static_cast<int>(std::min<int64_t>(R, M - i));
    const Span sp = span(i, rr);
    const int64_t k0 = std::max<int64_t>(0, sp.k0), kk = std::max<int64_t>(0, std::min(K, sp.k1) - k0);
    const int64_t n1 = std::min(N, sp.n1);
    const float* ai = a + i * rsa + k0 * csa;
    const float* bk = b + k0 * ldb;
    const float* rs = rowscale ? rowscale + i : nullptr;
    for (int64_t j = std::max<int64_t>(0, sp.n0); j < n1; j += NV * W) {
      const int nv = static_cast<int>(std::min<int64_t>(NV, (n1 - j) / W));
      if (rr == R && nv == NV)
        micro<R, NV>(kk, ai, rsa, csa, bk + j, ldb, c + i * ldc + j, ldc, init, rs);
      else
        micro_edge<R, NV>(rr, nv, kk, ai, rsa, csa, bk + j, ldb, c + i * ldc + j, ldc, init, rs);
    }
  }
}
static void gemm_tile(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b,
                      int64_t ldb, float* c, int64_t ldc, bool zero) {
  gemm_tile(M, N, K, a, rsa, csa, b, ldb, c, ldc, zero ? Init::Zero : Init::Add, nullptr,
            [K, N](int64_t, int) { return Span{0, K, 0, N}; });
}

// rows × cols of a strided matrix into a dense tile (ld floats a row), times `mul`, the columns
// in [cols, ld) zeroed. Transposing packs (kt, vt) go through pack_t.
static void pack(const float* src, int64_t rs, int64_t cs, int64_t rows, int64_t cols, float mul, float* dst,
                 int64_t ld) {
  for (int64_t i = 0; i < rows; i++) {
    const float* s = src + i * rs;
    float* d = dst + i * ld;
    if (cs == 1)
      for (int64_t j = 0; j < cols; j++) d[j] = s[j] * mul;
    else
      for (int64_t j = 0; j < cols; j++) d[j] = s[j * cs] * mul;
    for (int64_t j = cols; j < ld; j++) d[j] = 0.f;
  }
}
// Asks for rows [0, n) of a matrix with dense rows (row i at m + i·rs, `cols` floats) to be
// brought into the cache while the current block is computed: the next key block's K and V
// come from memory or another core's cache, and the tile products stall on them otherwise.
static void prefetch_rows(const float* m, int64_t rs, int64_t cs, int64_t n, int64_t cols) {
  if (cs != 1) return;
  for (int64_t i = 0; i < n; i++)
    for (int64_t e = 0; e < cols; e += 64 / sizeof(float)) __builtin_prefetch(m + i * rs + e, 0, 2);
}

// Scores of one (query block × key block) tile, masked: entries a query may not attend
// (causal, a false bool mask, key padding of the tile) become -inf; a float mask is added.
// Row-major by query (s[i·ld + j], the backward's layout).
static void mask_scores(const AttnArgs& p, int64_t b, int64_t q0, int64_t nq, int64_t k0, int64_t nk, float* s,
                        int64_t ld) {
  for (int64_t i = 0; i < nq; i++) {
    float* row = s + i * ld;
    const int64_t limit = p.causal ? std::min(nk, std::max<int64_t>(0, q0 + i - k0 + 1)) : nk;
    for (int64_t j = limit; j < ld; j++) row[j] = -INFINITY;
    if (p.mask_kind == MaskKind::Bool) {
      const uint8_t* m = static_cast<const uint8_t*>(p.mask) + p.mask_off[b] + (q0 + i) * p.mask_rs + k0 * p.mask_cs;
      for (int64_t j = 0; j < limit; j++)
        if (!m[j * p.mask_cs]) row[j] = -INFINITY;
    } else if (p.mask_kind == MaskKind::Float) {
      const float* m = static_cast<const float*>(p.mask) + p.mask_off[b] + (q0 + i) * p.mask_rs + k0 * p.mask_cs;
      for (int64_t j = 0; j < limit; j++) row[j] += m[j * p.mask_cs];
    }
  }
}

// The same for the forward's transposed tile (st[j·ld + i], key-major). Only the nq real query
// columns are masked: the padding columns are never used.
static void mask_scores_t(const AttnArgs& p, int64_t b, int64_t q0, int64_t nq, int64_t k0, int64_t nk, float* st,
                          int64_t ld) {
  if (p.causal) {
    if (k0 + nk - 1 <= q0) return;  // the whole tile is on or below the diagonal
    for (int64_t j = 0; j < nk; j++)  // key k0 + j comes after queries q0 .. k0 + j - 1
      std::fill(st + j * ld, st + j * ld + std::max<int64_t>(0, std::min(nq, k0 + j - q0)), -INFINITY);
  } else if (p.mask_kind == MaskKind::Bool) {
    const uint8_t* m = static_cast<const uint8_t*>(p.mask) + p.mask_off[b] + q0 * p.mask_rs + k0 * p.mask_cs;
    for (int64_t j = 0; j < nk; j++)
      for (int64_t i = 0; i < nq; i++)
        if (!m[i * p.mask_rs + j * p.mask_cs]) st[j * ld + i] = -INFINITY;
  } else if (p.mask_kind == MaskKind::Float) {
    const float* m = static_cast<const float*>(p.mask) + p.mask_off[b] + q0 * p.mask_rs + k0 * p.mask_cs;
    for (int64_t j = 0; j < nk; j++)
      for (int64_t i = 0; i < nq; i++) st[j * ld + i] += m[i * p.mask_rs + j * p.mask_cs];
  }
}

// Forward, one task of (batch entry × block of kBlockQ queries) at a time: online softmax over
// key blocks. The score tile is computed transposed, Sᵀ = K·(Q·scale)ᵀ, so K is read in place
// with any strides (it is the broadcast operand of the register tile) and only Qᵀ is packed,
// once per task; the softmax statistics then run down columns, vectorised across queries. V is
// read in place too when its rows are dense and a whole number of vectors, else packed per key
// block. Causal tiles on the diagonal compute only what the mask keeps, to vector granularity:
// each key row group of Sᵀ starts at the first query vector that sees it, and each query row
// group of P·V stops at its last visible key.
static void forward(const AttnArgs& p, TaskQueue& tasks) {
  constexpr int64_t BQP = (kBlockQ + W - 1) / W * W;
  // query vectors whose running max advances together: G independent max chains per key row
  constexpr int G = BQP % (4 * W) == 0 ? 4 : 1;
  const int64_t D = p.D, Dv = p.Dv, DvP = padded(Dv);
  const bool v_in_place = p.v.cs == 1 && Dv % W == 0;
  Scratch<float> qt(std::max<int64_t>(D, 1) * BQP), vb(v_in_place ? 1 : kBlockK * DvP + W), st(kBlockK * BQP),
      acc(kBlockQ * DvP + W), m(BQP), l(BQP), alpha(BQP);
  const int64_t nqb = (p.Tq + kBlockQ - 1) / kBlockQ;
  const auto all_keys = [](int64_t, int) { return Span{0, kBlockK, 0, INT64_MAX}; };
  int64_t t;
  while (tasks.grab(t)) {
    const int64_t b = t / nqb, q0 = t % nqb * kBlockQ, nq = std::min(kBlockQ, p.Tq - q0);
    float* out = p.out + (b * p.Tq + q0) * Dv;
    // The output rows are written once, at the end, to memory no cache holds: asking for them
    // now overlaps the read-for-ownership with the task's arithmetic.
    for (int64_t e = 0; e < nq * Dv; e += 64 / sizeof(float)) __builtin_prefetch(out + e, 1, 3);
    pack_qt(p.q.at(b) + q0 * p.q.rs, p.q.rs, p.q.cs, nq, D, p.scale, qt.get(), BQP);
    std::fill(m.get(), m.get() + BQP, -INFINITY);
    std::fill(l.get(), l.get() + BQP, 0.f);
    // causal (top-left aligned): row i sees keys j <= i, so later key blocks are skipped
    const int64_t key_end = p.causal ? std::min(p.Tk, q0 + nq) : p.Tk;
    for (int64_t k0 = 0; k0 < key_end; k0 += kBlockK) {
      const int64_t nk = std::min(kBlockK, key_end - k0);
      const bool diag = p.causal && k0 + nk - 1 > q0;  // some key of the tile follows some query
      const float* kb = p.k.at(b) + k0 * p.k.rs;
      if (k0 + kBlockK < key_end) {
        const int64_t nn = std::min(kBlockK, key_end - k0 - kBlockK);
        prefetch_rows(kb + kBlockK * p.k.rs, p.k.rs, p.k.cs, nn, D);
        prefetch_rows(p.v.at(b) + (k0 + kBlockK) * p.v.rs, p.v.rs, p.v.cs, nn, Dv);
      }
      if (diag)  // key row j is seen from query k0 + j on: start at the vector holding it
        gemm_tile(nk, BQP, D, kb, p.k.rs, p.k.cs, qt.get(), BQP, st.get(), BQP, Init::Zero, nullptr,
                  [&](int64_t j, int) { return Span{0, D, std::max<int64_t>(0, k0 + j - q0) / W * W, BQP}; });
      else
        gemm_tile(nk, BQP, D, kb, p.k.rs, p.k.cs, qt.get(), BQP, st.get(), BQP, true);
      // the masked entries (here also the columns left of each row group's start) become -inf
      mask_scores_t(p, b, q0, nq, k0, nk, st.get(), BQP);
      for (int64_t i0 = 0; i0 < BQP; i0 += G * W) {
        float *mi = m.get() + i0, *li = l.get() + i0, *si = st.get() + i0;
        vf mx[G], sh[G], sum[G];
        for (int u = 0; u < G; u++) mx[u] = load(mi + u * W);
        // NaN scores are skipped by the max (x > mx is false); they still reach l and the
        // accumulator through exp, so a row with a NaN score still outputs NaN
        for (int64_t j = 0; j < nk; j++)
          for (int u = 0; u < G; u++) {
            const vf x = load(si + j * BQP + u * W);
            mx[u] = x > mx[u] ? x : mx[u];
          }
        for (int u = 0; u < G; u++) {
          // a column with nothing visible yet keeps max -inf; shifting it by 0 instead gives
          // p = exp(-inf) = 0 and alpha = 0 rather than NaN
          sh[u] = mx[u] == splat(-INFINITY) ? splat(0.f) : mx[u];
          store(alpha.get() + i0 + u * W, vexp(load(mi + u * W) - sh[u]));
          store(mi + u * W, mx[u]);
          sum[u] = vf{};
        }
        for (int64_t j = 0; j < nk; j++)
          for (int u = 0; u < G; u++) {
            const vf pj = vexp(load(si + j * BQP + u * W) - sh[u]);
            store(si + j * BQP + u * W, pj);
            sum[u] += pj;
          }
        for (int u = 0; u < G; u++) store(li + u * W, load(li + u * W) * load(alpha.get() + i0 + u * W) + sum[u]);
      }
      // O = alpha ∘ O + P·V with P = (Sᵀ)ᵀ; the first key block starts O from zero
      const float* vsrc = p.v.at(b) + k0 * p.v.rs;
      int64_t ldv = p.v.rs;
      if (!v_in_place) {
        pack(vsrc, p.v.rs, p.v.cs, nk, Dv, 1.f, vb.get(), DvP);
        vsrc = vb.get(), ldv = DvP;
      }
      const Init init = k0 == 0 ? Init::Zero : Init::Scale;
      if (diag)  // query row i sees keys up to q0 + i - k0 of the tile
        gemm_tile(nq, DvP, nk, st.get(), 1, BQP, vsrc, ldv, acc.get(), DvP, init, alpha.get(),
                  [&](int64_t i, int rr) { return Span{0, q0 + i + rr - k0, 0, INT64_MAX}; });
      else
        gemm_tile(nq, DvP, nk, st.get(), 1, BQP, vsrc, ldv, acc.get(), DvP, init, alpha.get(), all_keys);
    }
    float* lse = p.lse + b * p.Tq + q0;
    for (int64_t i = 0; i < nq; i++) {
      // l >= 1 once any score is finite (the max contributes exp(0)), NaN when one is NaN, and
      // 0 only when the row may attend nothing. Such a row outputs 0 and stores lse = +inf, so
      // the backward pass recomputes P = exp(s - lse) = 0 for it without a special case.
      const bool none = l[i] == 0.f || key_end == 0;
      const float inv = 1.f / l[i];
      for (int64_t e = 0; e < Dv; e++) out[i * Dv + e] = none ? 0.f : acc[i * DvP + e] * inv;
      lse[i] = none ? INFINITY : m[i] + std::log(l[i]);
    }
  }
}

// Backward for batch entries [b0, b1): key blocks outer (their dK, dV tiles accumulate over
// every query block), query blocks inner; dQ accumulates in a per-thread [Tq × D] buffer.
// P is recomputed from Q, K and the saved log-sum-exp.
static void backward(const AttnArgs& p, TaskQueue& tasks) {
  const int64_t Tq = p.Tq, Tk = p.Tk, D = p.D, Dv = p.Dv, DP = padded(D), DvP = padded(Dv), BKP = padded(kBlockK);
  // Whole-sequence buffers (O(T·D), never O(T²)): Q·scale and dO once per batch entry instead
  // of once per key block.
  Scratch<float> qs(Tq * DP + W), dO(Tq * DvP + W), dq(Tq * DP + W), di(Tq + 1), lse(Tq + 1);
  Scratch<float> kt(std::max<int64_t>(D, 1) * BKP), kp(kBlockK * DP + W), vt(std::max<int64_t>(Dv, 1) * BKP),
      s(kBlockQ * BKP), dp(kBlockQ * BKP), dk(kBlockK * DP + W), dv(kBlockK * DvP + W);
  int64_t b;
  while (tasks.grab(b)) {
    pack(p.q.at(b), p.q.rs, p.q.cs, Tq, D, p.scale, qs.get(), DP);
    pack(p.dout.at(b), p.dout.rs, p.dout.cs, Tq, Dv, 1.f, dO.get(), DvP);
    std::fill(dq.get(), dq.get() + Tq * DP, 0.f);
    for (int64_t i = 0; i < Tq; i++) {
      // Di = rowsum(dO ∘ O): the softmax Jacobian's correction term, in double (a long sum)
      const float* o = p.o.at(b) + i * p.o.rs;
      const float* g = dO.get() + i * DvP;
      int64_t e = 0;
      double sum = 0;
      if (p.o.cs == 1) {
        vd acc{};
        for (; e + W <= Dv; e += W)
          acc += __builtin_convertvector(load(g + e), vd) * __builtin_convertvector(load(o + e), vd);
        for (int l = 0; l < W; l++) sum += acc[l];
      }
      for (; e < Dv; e++) sum += static_cast<double>(g[e]) * o[e * p.o.cs];
      di[i] = static_cast<float>(sum);
      lse[i] = p.lse_in.at(b)[i * p.lse_in.rs];
    }
    for (int64_t k0 = 0; k0 < Tk; k0 += kBlockK) {
      const int64_t nk = std::min(kBlockK, Tk - k0);
      const float* kb = p.k.at(b) + k0 * p.k.rs;
      if (k0 + kBlockK < Tk) {
        const int64_t nn = std::min(kBlockK, Tk - k0 - kBlockK);
        prefetch_rows(kb + kBlockK * p.k.rs, p.k.rs, p.k.cs, nn, D);
        prefetch_rows(p.v.at(b) + (k0 + kBlockK) * p.v.rs, p.v.rs, p.v.cs, nn, Dv);
      }
      pack_qt(kb, p.k.rs, p.k.cs, nk, D, 1.f, kt.get(), BKP);
      pack(kb, p.k.rs, p.k.cs, nk, D, 1.f, kp.get(), DP);
      pack_qt(p.v.at(b) + k0 * p.v.rs, p.v.rs, p.v.cs, nk, Dv, 1.f, vt.get(), BKP);
      std::fill(dk.get(), dk.get() + nk * DP, 0.f);
      std::fill(dv.get(), dv.get() + nk * DvP, 0.f);
      // causal: queries before k0 see none of these keys
      for (int64_t q0 = p.causal ? k0 : 0; q0 < Tq; q0 += kBlockQ) {
        const int64_t nq = std::min(kBlockQ, Tq - q0);
        // Causal tiles on the diagonal: query i sees key j <= i + delta. Each product then covers
        // only that triangle, to vector (columns) or row (k range) granularity.
        const int64_t delta = q0 - k0;
        const bool diag = p.causal && delta < nk - 1;
        const int64_t big = INT64_MAX / 2;
        // by query row group: the key columns it sees (S, dP), or the keys it sums over (dQ)
        auto cols = [&](int64_t i, int rr) { return Span{0, big, 0, diag ? (i + rr + delta + W - 1) / W * W : big}; };
        auto keys = [&](int64_t i, int rr) { return Span{0, diag ? i + rr + delta : big, 0, big}; };
        // by key row group: the queries that see it (dV, dK)
        auto queries = [&](int64_t j, int) { return Span{diag ? j - delta : 0, big, 0, big}; };
        gemm_tile(nq, BKP, D, qs.get() + q0 * DP, DP, 1, kt.get(), BKP, s.get(), BKP, Init::Zero, nullptr, cols);
        mask_scores(p, b, q0, nq, k0, nk, s.get(), BKP);  // also the columns cols() left unwritten
        for (int64_t i = 0; i < nq; i++) exp_row(s.get() + i * BKP, BKP, lse[q0 + i]);  // s := P
        // dV += Pᵀ·dO
        gemm_tile(nk, DvP, nq, s.get(), 1, BKP, dO.get() + q0 * DvP, DvP, dv.get(), DvP, Init::Add, nullptr, queries);
        // dP = dO·Vᵀ, then dS = P ∘ (dP - Di) in place (0 where dP was not computed: P is 0 there)
        gemm_tile(nq, BKP, Dv, dO.get() + q0 * DvP, DvP, 1, vt.get(), BKP, dp.get(), BKP, Init::Zero, nullptr, cols);
        for (int64_t i = 0; i < nq; i++) {
          float* d = dp.get() + i * BKP;
          const float* pr = s.get() + i * BKP;
          const vf dii = splat(di[q0 + i]);
          const int64_t c = diag ? std::min(BKP, (i + delta + W) / W * W) : BKP;
          for (int64_t j = 0; j < c; j += W) store(d + j, load(pr + j) * (load(d + j) - dii));
          for (int64_t j = c; j < BKP; j += W) store(d + j, vf{});
        }
        // dK += dSᵀ·(Q·scale); dQ += dS·K (scaled once at the end)
        gemm_tile(nk, DP, nq, dp.get(), 1, BKP, qs.get() + q0 * DP, DP, dk.get(), DP, Init::Add, nullptr, queries);
        gemm_tile(nq, DP, nk, dp.get(), BKP, 1, kp.get(), DP, dq.get() + q0 * DP, DP, Init::Add, nullptr, keys);
      }
      float* dk_out = p.dk + (b * Tk + k0) * D;
      float* dv_out = p.dv + (b * Tk + k0) * Dv;
      for (int64_t j = 0; j < nk; j++) {
        for (int64_t d = 0; d < D; d++) dk_out[j * D + d] = dk[j * DP + d];
        for (int64_t e = 0; e < Dv; e++) dv_out[j * Dv + e] = dv[j * DvP + e];
      }
    }
    float* dq_out = p.dq + b * Tq * D;
    for (int64_t i = 0; i < Tq; i++)
      for (int64_t d = 0; d < D; d++) dq_out[i * D + d] = dq[i * DP + d] * p.scale;
  }
}

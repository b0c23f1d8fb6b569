// Float32 GEMM, BLIS/Goto style (see DESIGN.md, "Performance method").
//
// Variants, chosen once at run time (capped by TENSORFORGE_ISA=avx512|avx2|scalar):
//   avx512  micro-tile MR×NR = 8×48 (8 rows × 3 zmm = 24 accumulators). 8 broadcasts + 3 loads
//           feed 24 FMAs per k, well under the 2 loads/cycle the core can issue; 8 rows divide
//           the usual batch/hidden sizes (64, 128, 784) exactly.
//   avx2    micro-tile 6×16 (6 rows × 2 ymm = 12 accumulators of the 16 ymm registers), the
//           classic Haswell/Zen shape.
//   scalar  4×8 plain C++, for non-x86 builds and old CPUs; the compiler vectorises it with
//           whatever the baseline ISA has.
// Only the micro-kernels (and the vector packing helpers) carry target attributes, because the
// project compiles every file for plain x86-64; the blocking driver is shared by all variants.
//
// Structure: for each NC-wide column block of B, for each KC-deep slice, B is packed into
// KC×NR micro-panels (reused by every A micro-panel, so they stay in L1/L2), then for each
// MC-high block of A, A is packed into MR×KC micro-panels (the block stays in L2) and the
// micro-kernel sweeps the tile grid. Packing reads through arbitrary (row, col) strides, so
// transposed and broadcast operands cost no copy beyond the packing every GEMM does anyway;
// the two layouts that need a transpose while packing (row-major A, transposed B) use 16×16
// register transposes on AVX-512. Skinny problems skip packing an operand whose layout the
// kernel can read in place (see b_in_place / a_in_place). Edge tiles use kernels
// instantiated for every row count 1..MR and vector count 1..NR/VW, plus a lane mask, so no
// padding work is done beyond the last vector.
//
// Entry points for callers that pack their own operands (convolution, see conv.cpp):
// gemm_pack_a / gemm_pack_b_cols produce the micro-panel layouts; gemm_packed multiplies packed
// A and B; gemm_packed_a reads a row-major B in place (AVX-512 only, masked edge loads);
// gemm_packed_a_taps sums several K segments of B at per-segment offsets in registers, one
// pass over C (a convolution's taps read from its padded input planes).
//
// Threads split work at one level only (the pool runs nested parallel_for serially): whole
// matrices of a large batch, or slices of M or N of each matrix otherwise. Each slice runs
// the full serial algorithm with its own thread-local packing buffers.
#include "cpu/matmul.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define TF_T512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
#define TF_T256 __attribute__((target("avx2,fma")))
#endif

namespace tf {
namespace {

// C tile (rows × nr, row stride ldc) [+]= sum over k of a[k*lda + i] * b[k*ldb + j].
// accumulate == false overwrites C (first K slice), true adds to it (later slices).
using Kernel = void (*)(int64_t kc, const float* a, int64_t lda, const float* b, int64_t ldb,
                        float* c, int64_t ldc, int nr, bool accumulate);
using PackFn = void (*)(int64_t kc, int64_t n, const float* src, int64_t rs, int64_t cs, int w,
                        int vw, float* dst);

// C tile (rows × nr) [+]= sum over t < ntaps, k < kc of a[(t*kc + k)*MR + i] * b[offs[t] + k*ldb + j]:
// several K segments of one packed A panel against B rows at per-segment offsets, summed in
// registers (a convolution's taps read in place from its padded input planes).
using TapKernel = void (*)(int ntaps, const int64_t* offs, int64_t kc, const float* a, const float* b,
                           int64_t ldb, float* c, int64_t ldc, int nr, bool accumulate);

constexpr int kMaxMR = 8;
constexpr int kMaxNV = 3;

struct Config {
  const char* name;
  int mr, nr, vw;         // rows per micro-tile, max columns, vector width (B panels pad to vw)
  int64_t kc, mc, nc;     // cache blocking: B micro-panel ~ L1, A block ~ L2, B block ~ L3
  Kernel kern[kMaxMR][kMaxNV];  // kern[rows-1][vectors-1]
  PackFn pack_a, pack_b;
  TapKernel ktap[kMaxMR][kMaxNV];  // set where direct_b
  bool direct_b;          // kernels can read an unpacked row-major B (masked edge loads)
};

// ---- Kernel tables ------------------------------------------------------------------------
template <template <int, int> class K, int MR, int NV>
struct FillRow {
  static void run(Config& c) {
    c.kern[MR - 1][NV - 1] = &K<MR, NV>::run;
    FillRow<K, MR, NV - 1>::run(c);
  }
};
template <template <int, int> class K, int MR>
struct FillRow<K, MR, 0> {
  static void run(Config&) {}
};
template <template <int, int> class K, int MR, int NV>
struct Fill {
  static void run(Config& c) {
    FillRow<K, MR, NV>::run(c);
    Fill<K, MR - 1, NV>::run(c);
  }
};
template <template <int, int> class K, int NV>
struct Fill<K, 0, NV> {
  static void run(Config&) {}
};

// ---- Packing (portable) -------------------------------------------------------------------
// B block (kc × n) -> micro-panels of width w (the last one narrower), each kc × W with W the
// panel width rounded up to vw and the padding zeroed, so kernels load whole vectors.
void pack_b_generic(int64_t kc, int64_t n, const float* B, int64_t rsb, int64_t csb, int w,
                    int vw, float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += w) {
    const int nw = static_cast<int>(std::min<int64_t>(w, n - j0));
    const int W = (nw + vw - 1) / vw * vw;
    const float* src = B + j0 * csb;
    if (csb == 1) {
      for (int64_t k = 0; k < kc; k++) {
        const float* s = src + k * rsb;
        float* d = dst + k * W;
        for (int j = 0; j < nw; j++) d[j] = s[j];
        for (int j = nw; j < W; j++) d[j] = 0.f;
      }
    } else {
      // Column-outer so a transposed B (rsb == 1) is read contiguously.
      for (int j = 0; j < nw; j++) {
        const float* s = src + j * csb;
        for (int64_t k = 0; k < kc; k++) dst[k * W + j] = s[k * rsb];
      }
      if (W > nw)
        for (int64_t k = 0; k < kc; k++)
          for (int j = nw; j < W; j++) dst[k * W + j] = 0.f;
    }
    dst += kc * W;
  }
}

// A block (m × kc) -> micro-panels of `mr` rows (the last one shorter, stored at its own
// width so the matching kernel reads it densely), element (i, k) at k*rows + i.
void pack_a_generic(int64_t kc, int64_t m, const float* A, int64_t rsa, int64_t csa, int mr, int,
                    float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += mr) {
    const int rows = static_cast<int>(std::min<int64_t>(mr, m - i0));
    const float* src = A + i0 * rsa;
    if (rsa == 1) {
      for (int64_t k = 0; k < kc; k++)
        for (int i = 0; i < rows; i++) dst[k * rows + i] = src[k * csa + i];
    } else {
      for (int i = 0; i < rows; i++) {
        const float* s = src + i * rsa;
        for (int64_t k = 0; k < kc; k++) dst[k * rows + i] = s[k * csa];
      }
    }
    dst += kc * rows;
  }
}

// ---- Scalar micro-kernel ------------------------------------------------------------------
template <int MR, int NV>
struct KScalar {
  static constexpr int VW = 8;
  static void run(int64_t kc, const float* __restrict a, int64_t lda, const float* __restrict b,
                  int64_t ldb, float* __restrict c, int64_t ldc, int nr, bool accumulate) {
    float acc[MR][NV * VW] = {};
    for (int64_t k = 0; k < kc; k++) {
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV * VW; j++) acc[i][j] += a[i] * b[j];
      a += lda;
      b += ldb;
    }
    for (int i = 0; i < MR; i++) {
      float* ci = c + i * ldc;
      if (accumulate)
        for (int j = 0; j < nr; j++) ci[j] += acc[i][j];
      else
        for (int j = 0; j < nr; j++) ci[j] = acc[i][j];
    }
  }
};

#if defined(__x86_64__)
// ---- AVX-512 ------------------------------------------------------------------------------
// The end of every AVX-512 micro-kernel: the MR × (NV·16) accumulator tile into C (added to C's
// values when accumulating); the last vector of each row under the column mask.
template <int MR, int NV>
TF_T512 __attribute__((always_inline)) inline void store_tile512(__m512 (&acc)[MR][NV], float* c, int64_t ldc, __mmask16 last,
                                                                 bool accumulate) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; v++) {
      __m512 r = acc[i][v];
      if (accumulate) r = _mm512_add_ps(r, _mm512_loadu_ps(ci + v * 16));
      _mm512_storeu_ps(ci + v * 16, r);
    }
    __m512 r = acc[i][NV - 1];
    float* cl = ci + (NV - 1) * 16;
    if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(last, cl));
    _mm512_mask_storeu_ps(cl, last, r);
  }
}

template <int MR, int NV>
struct K512 {
  TF_T512 static void run(int64_t kc, const float* __restrict a, int64_t lda,
                          const float* __restrict b, int64_t ldb, float* __restrict c,
                          int64_t ldc, int nr, bool accumulate) {
    // B may be read in place (not packed): the last vector is loaded under the column mask so
    // nothing past the matrix is touched; full panels get an all-ones mask.
    const __mmask16 last = static_cast<__mmask16>((1u << (nr - (NV - 1) * 16)) - 1u);
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    // The C tile is touched only after the k loop; start fetching it now.
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + nr - 1), _MM_HINT_T0);
    }
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
      __m512 bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV - 1; v++) bv[v] = _mm512_loadu_ps(b + v * 16);
      bv[NV - 1] = _mm512_maskz_loadu_ps(last, b + (NV - 1) * 16);
#pragma GCC unroll 16
      for (int i = 0; i < MR; i++) {
        const __m512 ai = _mm512_set1_ps(a[i]);  // folds into an embedded {1to16} broadcast
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
      }
      a += lda;
      b += ldb;
    }
    store_tile512<MR, NV>(acc, c, ldc, last, accumulate);
  }
};

// K512 over several K segments (see TapKernel): one pass over the C tile for all of them.
template <int MR, int NV>
struct K512Taps {
  TF_T512 static void run(int ntaps, const int64_t* offs, int64_t kc, const float* __restrict a,
                          const float* __restrict b, int64_t ldb, float* __restrict c, int64_t ldc,
                          int nr, bool accumulate) {
    const __mmask16 last = static_cast<__mmask16>((1u << (nr - (NV - 1) * 16)) - 1u);
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    for (int t = 0; t < ntaps; t++) {
      const float* bt = b + offs[t];
#pragma GCC unroll 4
      for (int64_t k = 0; k < kc; k++) {
        __m512 bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV - 1; v++) bv[v] = _mm512_loadu_ps(bt + v * 16);
        bv[NV - 1] = _mm512_maskz_loadu_ps(last, bt + (NV - 1) * 16);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
          const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
          for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
        a += MR;
        bt += ldb;
      }
    }
    store_tile512<MR, NV>(acc, c, ldc, last, accumulate);
  }
};
template <int MR, int NV>
struct FillTaps {
  static void run(Config& c) {
    c.ktap[MR - 1][NV - 1] = &K512Taps<MR, NV>::run;
    if constexpr (NV > 1) FillTaps<MR, NV - 1>::run(c);
    else if constexpr (MR > 1) FillTaps<MR - 1, 3>::run(c);
  }
};

// Packing through 16×16 register transposes, for the two layouts where the packed order runs
// across the source's contiguous direction: row-major A (csa == 1) and transposed B (rsb == 1).
// The scalar loops do one strided store per element there, which on skinny shapes costs as
// much as the multiply.
// GCC 12 reports the intrinsics' internal _mm512_undefined_ps() as maybe-uninitialized here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
TF_T512 inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // Per 128-bit lane L, r[4g + c] now gets column 4L + c of rows 4g..4g+3.
  for (int g = 0; g < 16; g += 4) {
    const __m512d a = _mm512_castps_pd(t[g]), b = _mm512_castps_pd(t[g + 1]);
    const __m512d c = _mm512_castps_pd(t[g + 2]), d = _mm512_castps_pd(t[g + 3]);
    r[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // Gather lane L of the four row groups into column 4L + c.
  for (int c = 0; c < 4; c++) {
    const __m512 u = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    const __m512 v = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
    const __m512 w = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    const __m512 x = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
    t[c] = _mm512_shuffle_f32x4(u, w, 0x88);
    t[8 + c] = _mm512_shuffle_f32x4(u, w, 0xDD);
    t[4 + c] = _mm512_shuffle_f32x4(v, x, 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(v, x, 0xDD);
  }
  for (int i = 0; i < 16; i++) r[i] = t[i];
}

// rows (<= 16) source rows, row i at src + i*rs and contiguous along k, to dst[k*ld + i] for
// k < kc; lanes [rows, lanes) are written as zeros (B panel padding).
TF_T512 void pack_transposed_512(int64_t kc, int rows, const float* src, int64_t rs, float* dst,
                                 int64_t ld, int lanes) {
  const __mmask16 smask = static_cast<__mmask16>((1u << lanes) - 1u);
  __m512 r[16];
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int kn = static_cast<int>(std::min<int64_t>(16, kc - k0));
    const __mmask16 kmask = static_cast<__mmask16>((1u << kn) - 1u);
    for (int i = 0; i < 16; i++)
      r[i] = i < rows ? _mm512_maskz_loadu_ps(kmask, src + i * rs + k0) : _mm512_setzero_ps();
    transpose16(r);
    for (int k = 0; k < kn; k++) _mm512_mask_storeu_ps(dst + (k0 + k) * ld, smask, r[k]);
  }
}

// As pack_transposed_512, for up to 16 source rows at arbitrary addresses; all 16 lanes of
// dst are written (zeros past `rows`).
TF_T512 void pack_rows_512(int64_t kc, int rows, const float* const* src, float* dst, int64_t ld) {
  __m512 r[16];
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int kn = static_cast<int>(std::min<int64_t>(16, kc - k0));
    const __mmask16 kmask = static_cast<__mmask16>((1u << kn) - 1u);
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_maskz_loadu_ps(kmask, src[i] + k0) : _mm512_setzero_ps();
    transpose16(r);
    for (int k = 0; k < kn; k++) _mm512_storeu_ps(dst + (k0 + k) * ld, r[k]);
  }
}

#pragma GCC diagnostic pop

void pack_b_512(int64_t kc, int64_t n, const float* B, int64_t rsb, int64_t csb, int w, int vw,
                float* dst) {
  if (rsb != 1 || csb == 1) return pack_b_generic(kc, n, B, rsb, csb, w, vw, dst);
  for (int64_t j0 = 0; j0 < n; j0 += w) {
    const int nw = static_cast<int>(std::min<int64_t>(w, n - j0));
    const int W = (nw + 15) / 16 * 16;
    for (int g = 0; g < W; g += 16)
      pack_transposed_512(kc, std::min(16, nw - g), B + (j0 + g) * csb, csb, dst + g, W, 16);
    dst += kc * W;
  }
}

void pack_a_512(int64_t kc, int64_t m, const float* A, int64_t rsa, int64_t csa, int mr, int vw,
                float* dst) {
  if (csa != 1 || rsa == 1) return pack_a_generic(kc, m, A, rsa, csa, mr, vw, dst);
  for (int64_t i0 = 0; i0 < m; i0 += mr) {
    const int rows = static_cast<int>(std::min<int64_t>(mr, m - i0));
    pack_transposed_512(kc, rows, A + i0 * rsa, rsa, dst, rows, rows);
    dst += kc * rows;
  }
}

// ---- AVX2 ---------------------------------------------------------------------------------
template <int MR, int NV>
struct K256 {
  // B must be packed (zero-padded to whole vectors).
  TF_T256 static void run(int64_t kc, const float* __restrict a, int64_t lda,
                          const float* __restrict b, int64_t ldb, float* __restrict c,
                          int64_t ldc, int nr, bool accumulate) {
    __m256 acc[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
      for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
      __m256 bv[NV];
#pragma GCC unroll 2
      for (int v = 0; v < NV; v++) bv[v] = _mm256_load_ps(b + v * 8);
#pragma GCC unroll 8
      for (int i = 0; i < MR; i++) {
        const __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
      }
      a += lda;
      b += ldb;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - (NV - 1) * 8), lane);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      float* ci = c + i * ldc;
#pragma GCC unroll 2
      for (int v = 0; v < NV - 1; v++) {
        __m256 r = acc[i][v];
        if (accumulate) r = _mm256_add_ps(r, _mm256_loadu_ps(ci + v * 8));
        _mm256_storeu_ps(ci + v * 8, r);
      }
      __m256 r = acc[i][NV - 1];
      float* cl = ci + (NV - 1) * 8;
      if (accumulate) r = _mm256_add_ps(r, _mm256_maskload_ps(cl, last));
      _mm256_maskstore_ps(cl, last, r);
    }
  }
};
#endif  // __x86_64__

// ---- Configuration ------------------------------------------------------------------------
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

Isa detect_isa() {
  Isa best = Isa::Scalar;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::Avx2;
  if (best == Isa::Avx2 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq"))
    best = Isa::Avx512;
#endif
  if (const char* env = std::getenv("TENSORFORGE_ISA")) {
    Isa cap = best;
    if (!std::strcmp(env, "scalar")) cap = Isa::Scalar;
    else if (!std::strcmp(env, "avx2")) cap = Isa::Avx2;
    else if (!std::strcmp(env, "avx512")) cap = Isa::Avx512;
    best = std::min(best, cap);
  }
  return best;
}

Config make_config() {
  Config c{};
  c.pack_a = pack_a_generic;
  c.pack_b = pack_b_generic;
  switch (detect_isa()) {
#if defined(__x86_64__)
    case Isa::Avx512:
      // Zen 4/5: 32-48 KiB L1d, 1 MiB L2 per core. The 256×48 B micro-panel (48 KiB) is
      // swept by every 8×256 A micro-panel of the 256×256 A block (256 KiB, in L2); the L2
      // can feed the 3 B lines per 24 FMAs, so kc was not cut to fit B in L1: kc in 192..384
      // and mc in 128..512 measured within noise of each other on Zen 5 (~80% of FMA peak).
      c.name = "avx512";
      c.mr = 8, c.nr = 48, c.vw = 16;
      c.kc = 256, c.mc = 256, c.nc = 3072;
      Fill<K512, 8, 3>::run(c);
      FillTaps<8, 3>::run(c);
      c.pack_a = pack_a_512;
      c.pack_b = pack_b_512;
      c.direct_b = true;
      return c;
    case Isa::Avx2:
      c.name = "avx2";
      c.mr = 6, c.nr = 16, c.vw = 8;
      c.kc = 256, c.mc = 144, c.nc = 3072;
      Fill<K256, 6, 2>::run(c);
      return c;
#endif
    default:
      c.name = "scalar";
      c.mr = 4, c.nr = 8, c.vw = 8;
      c.kc = 256, c.mc = 128, c.nc = 2048;
      Fill<KScalar, 4, 1>::run(c);
      return c;
  }
}

const Config& config() {
  static const Config c = make_config();
  return c;
}

// ---- Thread-local packing buffers ---------------------------------------------------------
struct Buffer {
  float* p = nullptr;
  size_t cap = 0;
  ~Buffer() { release(); }
  void release() {
    if (p) ::operator delete(p, std::align_val_t(64));
    p = nullptr;
    cap = 0;
  }
  float* get(size_t n) {
    if (n > cap) {
      release();
      p = static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t(64)));
      cap = n;
    }
    return p;
  }
};
thread_local Buffer t_pack_a, t_pack_b;

// Splits `total` into equal blocks of at most `cap`, rounded up to a multiple of `unit`, so a
// dimension slightly over the cap is not left with a sliver block.
int64_t balanced_block(int64_t total, int64_t cap, int64_t unit) {
  if (total <= cap) return total;
  const int64_t blocks = (total + cap - 1) / cap;
  const int64_t b = (total + blocks - 1) / blocks;
  return std::min(cap, (b + unit - 1) / unit * unit);
}

// Packing pays for itself when the packed panel is reused many times. With few rows of A,
// each B micro-panel is used only a few times, so a row-major B is streamed in place (the
// kernel's masked edge loads keep it inside the matrix); a column-major A is already in
// packed order apart from its stride, so with few column panels it is read in place too.
// (Thresholds measured on Zen 5 with the skinny training shapes; neither matters for big
// squares, where packing is a fraction of a percent.)
constexpr int64_t kDirectBMaxM = 64;
constexpr int64_t kDirectAMaxN = 192;
bool b_in_place(const Config& cfg, int64_t m, int64_t csb) {
  return cfg.direct_b && csb == 1 && m <= kDirectBMaxM;
}
bool a_in_place(int64_t n, int64_t rsa) { return rsa == 1 && n <= kDirectAMaxN; }

// Estimated cost of one thread's m × n × K slice, in flops: the padded micro-tiles it
// computes plus the elements it packs (each worth ~32 flops of kernel time).
double slice_cost(const Config& cfg, int64_t m, int64_t n, int64_t K, int64_t rsa, int64_t csb) {
  const double mp = static_cast<double>((m + cfg.mr - 1) / cfg.mr * cfg.mr);
  const double np = static_cast<double>((n + cfg.vw - 1) / cfg.vw * cfg.vw);
  const double packed = (a_in_place(n, rsa) ? 0.0 : static_cast<double>(m) * K) +
                        (b_in_place(cfg, m, csb) ? 0.0 : static_cast<double>(n) * K);
  return 2.0 * mp * np * K + 32.0 * packed;
}

// One thread, one matrix (or a slice of it): C (m × n, row stride ldc) = A · B, or += A · B
// when `accumulate` (K > 0 here: the callers handle an empty K).
void gemm_serial(const Config& cfg, int64_t M, int64_t N, int64_t K, const float* A,
                 int64_t rsa, int64_t csa, const float* B, int64_t rsb, int64_t csb, float* C,
                 int64_t ldc, bool accumulate) {
  const int64_t KC = balanced_block(K, cfg.kc, 8);
  const int64_t MC = balanced_block(M, cfg.mc, cfg.mr);
  const int64_t NC = balanced_block(N, cfg.nc, cfg.nr);
  const bool direct_b = b_in_place(cfg, M, csb);
  const bool direct_a = a_in_place(N, rsa);
  float* pa = direct_a ? nullptr : t_pack_a.get(static_cast<size_t>(MC * KC));
  float* pb = direct_b ? nullptr : t_pack_b.get(static_cast<size_t>((NC + cfg.nr) * KC));

  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      const float* bsrc = B + pc * rsb + jc * csb;
      if (!direct_b) cfg.pack_b(kc, nc, bsrc, rsb, csb, cfg.nr, cfg.vw, pb);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        const float* asrc = A + ic * rsa + pc * csa;
        if (!direct_a) cfg.pack_a(kc, mc, asrc, rsa, csa, cfg.mr, 0, pa);
        for (int64_t jr = 0; jr < nc; jr += cfg.nr) {
          const int nr = static_cast<int>(std::min<int64_t>(cfg.nr, nc - jr));
          const int nv = (nr + cfg.vw - 1) / cfg.vw;
          const float* bp = direct_b ? bsrc + jr : pb + jr * kc;
          const int64_t ldb = direct_b ? rsb : nv * cfg.vw;
          float* cj = C + ic * ldc + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += cfg.mr) {
            const int mr = static_cast<int>(std::min<int64_t>(cfg.mr, mc - ir));
            const float* ap = direct_a ? asrc + ir : pa + ir * kc;
            const int64_t lda = direct_a ? csa : mr;
            cfg.kern[mr - 1][nv - 1](kc, ap, lda, bp, ldb, cj + ir * ldc, ldc, nr, accumulate || pc > 0);
          }
        }
      }
    }
  }
}

}  // namespace

const char* matmul_isa() { return config().name; }

void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
              const float* B, int64_t rsb, int64_t csb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; i++) std::memset(C + i * ldc, 0, static_cast<size_t>(N) * sizeof(float));
    return;
  }
  gemm_serial(config(), M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, accumulate);
}

GemmTile gemm_tile() {
  const Config& cfg = config();
  return {cfg.mr, cfg.nr, cfg.vw, cfg.direct_b};
}

void gemm_pack_a(int64_t M, int64_t K, const float* A, int64_t rsa, int64_t csa, float* dst) {
  const Config& cfg = config();
  if (M > 0 && K > 0) cfg.pack_a(K, M, A, rsa, csa, cfg.mr, 0, dst);
}

void gemm_pack_b_cols(int64_t K, int64_t N, const float* const* cols, float* dst) {
  const Config& cfg = config();
  for (int64_t j0 = 0; j0 < N; j0 += cfg.nr) {
    const int nw = static_cast<int>(std::min<int64_t>(cfg.nr, N - j0));
    const int w = (nw + cfg.vw - 1) / cfg.vw * cfg.vw;
#if defined(__x86_64__)
    if (cfg.pack_b == pack_b_512) {
      for (int g = 0; g < w; g += 16) pack_rows_512(K, std::min(16, nw - g), cols + j0 + g, dst + g, w);
      dst += K * w;
      continue;
    }
#endif
    for (int j = 0; j < nw; j++)
      for (int64_t k = 0; k < K; k++) dst[k * w + j] = cols[j0 + j][k];
    for (int64_t k = 0; k < K; k++)
      for (int j = nw; j < w; j++) dst[k * w + j] = 0.f;
    dst += K * w;
  }
}

// Panel by panel of B: its KC-deep slice stays in L1 while every A micro-panel sweeps it (the
// whole packed A, a few hundred KiB for a convolution's weights, is read from L2).
void gemm_packed(int64_t M, int64_t N, int64_t K, const float* Ap, const float* Bp, float* C,
                 int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; i++) std::memset(C + i * ldc, 0, static_cast<size_t>(N) * sizeof(float));
    return;
  }
  const Config& cfg = config();
  const int64_t KC = balanced_block(K, cfg.kc, 8);
  for (int64_t jr = 0; jr < N; jr += cfg.nr) {
    const int nr = static_cast<int>(std::min<int64_t>(cfg.nr, N - jr));
    const int nv = (nr + cfg.vw - 1) / cfg.vw;
    const int64_t w = nv * cfg.vw;
    const float* bp = Bp + jr * K;
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      for (int64_t ir = 0; ir < M; ir += cfg.mr) {
        const int rows = static_cast<int>(std::min<int64_t>(cfg.mr, M - ir));
        cfg.kern[rows - 1][nv - 1](kc, Ap + ir * K + pc * rows, rows, bp + pc * w, w, C + ir * ldc + jr, ldc, nr,
                                   accumulate || pc > 0);
      }
    }
  }
}

void gemm_packed_a(int64_t M, int64_t N, int64_t K, const float* Ap, const float* B, int64_t ldb,
                   float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; i++) std::memset(C + i * ldc, 0, static_cast<size_t>(N) * sizeof(float));
    return;
  }
  const Config& cfg = config();
  const int64_t KC = balanced_block(K, cfg.kc, 8);
  for (int64_t jr = 0; jr < N; jr += cfg.nr) {
    const int nr = static_cast<int>(std::min<int64_t>(cfg.nr, N - jr));
    const int nv = (nr + cfg.vw - 1) / cfg.vw;
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      for (int64_t ir = 0; ir < M; ir += cfg.mr) {
        const int rows = static_cast<int>(std::min<int64_t>(cfg.mr, M - ir));
        cfg.kern[rows - 1][nv - 1](kc, Ap + ir * K + pc * rows, rows, B + pc * ldb + jr, ldb, C + ir * ldc + jr, ldc,
                                   nr, accumulate || pc > 0);
      }
    }
  }
}

void gemm_packed_a_taps(int64_t M, int64_t N, int64_t kc, int ntaps, const int64_t* offs, const float* Ap,
                        const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  const Config& cfg = config();
  if (M <= 0 || N <= 0) return;
  const int64_t K = kc * ntaps;
  for (int64_t jr = 0; jr < N; jr += cfg.nr) {
    const int nr = static_cast<int>(std::min<int64_t>(cfg.nr, N - jr));
    const int nv = (nr + cfg.vw - 1) / cfg.vw;
    for (int64_t ir = 0; ir < M; ir += cfg.mr) {
      const int rows = static_cast<int>(std::min<int64_t>(cfg.mr, M - ir));
      cfg.ktap[rows - 1][nv - 1](ntaps, offs, kc, Ap + ir * K, B + jr, ldb, C + ir * ldc + jr, ldc, nr, accumulate);
    }
  }
}

void matmul_f32(int64_t batch, int64_t M, int64_t N, int64_t K, const float* A,
                const int64_t* aOff, int64_t rsa, int64_t csa, const float* B,
                const int64_t* bOff, int64_t rsb, int64_t csb, float* C) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  if (K <= 0) {
    std::memset(C, 0, static_cast<size_t>(batch * M * N) * sizeof(float));
    return;
  }
  const Config& cfg = config();
  const int64_t threads = num_threads();
  const double flops = 2.0 * batch * M * N * K;
  // Below ~2 MFLOP (tens of microseconds) waking the pool costs more than it saves.
  const bool parallel = threads > 1 && flops >= 2e6;

  // Whole matrices per thread when the batch spreads evenly; otherwise every matrix is cut
  // into `threads` slices along M or N, whichever gives the cheaper largest slice (edge
  // tiles and re-packing of the operand every slice needs whole included).
  int64_t parts = 1;
  bool split_m = true;
  if (parallel && !(batch % threads == 0 || batch >= 4 * threads)) {
    const int64_t mu = (M + cfg.mr - 1) / cfg.mr, nu = (N + cfg.nr - 1) / cfg.nr;
    if (std::max(mu, nu) >= 2) {
      parts = threads;
      const int64_t ms = std::min(M, (mu + parts - 1) / parts * cfg.mr);
      const int64_t ns = std::min(N, (nu + parts - 1) / parts * cfg.nr);
      const double cm = mu >= 2 ? slice_cost(cfg, ms, N, K, rsa, csb) : 1e300;
      const double cn = nu >= 2 ? slice_cost(cfg, M, ns, K, rsa, csb) : 1e300;
      split_m = cm <= cn;
    }
  }

  auto run = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t b = t / parts, p = t % parts;
      const float* a = A + aOff[b];
      const float* bb = B + bOff[b];
      float* c = C + b * M * N;
      if (parts == 1) {
        gemm_serial(cfg, M, N, K, a, rsa, csa, bb, rsb, csb, c, N, false);
      } else if (split_m) {
        const int64_t mu = (M + cfg.mr - 1) / cfg.mr, per = (mu + parts - 1) / parts;
        const int64_t i0 = std::min(M, p * per * cfg.mr), i1 = std::min(M, (p + 1) * per * cfg.mr);
        if (i1 > i0)
          gemm_serial(cfg, i1 - i0, N, K, a + i0 * rsa, rsa, csa, bb, rsb, csb, c + i0 * N, N, false);
      } else {
        const int64_t nu = (N + cfg.nr - 1) / cfg.nr, per = (nu + parts - 1) / parts;
        const int64_t j0 = std::min(N, p * per * cfg.nr), j1 = std::min(N, (p + 1) * per * cfg.nr);
        if (j1 > j0)
          gemm_serial(cfg, M, j1 - j0, K, a, rsa, csa, bb + j0 * csb, rsb, csb, c + j0, N, false);
      }
    }
  };
  if (parallel)
    parallel_for(batch * parts, 1, run);
  else
    run(0, batch * parts);
}

}  // namespace tf

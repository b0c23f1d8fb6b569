// Float32 batched matrix multiply (BLIS/Goto-style packed GEMM with run-time ISA dispatch).
#pragma once
#include <cstdint>

namespace tf {

// C[b] = A[b] · B[b] for b in [0, batch). A[b] is M×K at A + aOff[b], element (i,k) at
// i*rsa + k*csa; B[b] is K×N at B + bOff[b], element (k,j) at k*rsb + j*csb; C[b] is M×N
// row-major contiguous at C + b*M*N.
// Any strides >= 0 (so transposed and broadcast operands need no copy); C is overwritten
// (K == 0 gives zeros). C never aliases A or B.
void matmul_f32(int64_t batch, int64_t M, int64_t N, int64_t K,
                const float* A, const int64_t* aOff, int64_t rsa, int64_t csa,
                const float* B, const int64_t* bOff, int64_t rsb, int64_t csb,
                float* C);

// One thread, one matrix: C (M×N, row stride ldc) = A · B, or C += A · B when `accumulate`
// (K == 0 then leaves C as it is). Same operand rules as matmul_f32. For kernels that split
// their work across threads themselves (convolution runs one block per task); calling it from
// inside parallel_for is the intended use.
void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
              const float* B, int64_t rsb, int64_t csb, float* C, int64_t ldc, bool accumulate);

// Pre-packed operands, for callers that build B themselves in the micro-kernel's panel layout
// (convolution writes its im2col blocks straight into it) and reuse one packed A many times.
// The layouts depend on the variant chosen at run time, described by gemm_tile():
//   packed A (M × K): micro-panels of mr rows (the last one shorter), panel i0 at i0·K,
//                     element (i, k) of a panel with `rows` rows at k·rows + i. Size M·K.
//   packed B (K × N): micro-panels of nr columns (the last one narrower), panel j0 at j0·K,
//                     each K × w with w the panel's width rounded up to vw and the padding
//                     zeroed; element (k, j) at k·w + j. Size at most K · (N rounded up to vw).
struct GemmTile {
  int mr, nr, vw;
  bool direct_b;  // gemm_packed_a is available: the kernels read a row-major B in place
};
GemmTile gemm_tile();
// Packs A (element (i, k) at i*rsa + k*csa) into `dst` (M·K floats, 64-byte aligned).
void gemm_pack_a(int64_t M, int64_t K, const float* A, int64_t rsa, int64_t csa, float* dst);
// Packs B (K × N) whose column j is the contiguous vector cols[j][0..K) (any addresses: a
// convolution's shifted input planes) into `dst`, 64-byte aligned, in the packed-B layout.
void gemm_pack_b_cols(int64_t K, int64_t N, const float* const* cols, float* dst);
// C (M×N, row stride ldc) = Ap · Bp, or += when `accumulate`; one thread, like gemm_f32.
// Bp must be 64-byte aligned (the AVX2 kernel loads it with aligned loads).
void gemm_packed(int64_t M, int64_t N, int64_t K, const float* Ap, const float* Bp, float* C,
                 int64_t ldc, bool accumulate);

// C = Ap · B (or += when `accumulate`) with B row-major, row k at B + k*ldb, read in place
// (the last vector under a mask, so nothing past column N is touched). Only when
// gemm_tile().direct_b; one thread.
void gemm_packed_a(int64_t M, int64_t N, int64_t K, const float* Ap, const float* B, int64_t ldb,
                   float* C, int64_t ldc, bool accumulate);

// C = Ap · B (or += when `accumulate`) where the K = ntaps·kc rows of B are ntaps segments of
// kc rows, segment t's row k at B + offs[t] + k*ldb, all summed in registers (one pass over
// C). Ap is packed M × K. Only when gemm_tile().direct_b; one thread. No K blocking: meant for
// kc up to a few hundred (the caller splits deeper sums).
void gemm_packed_a_taps(int64_t M, int64_t N, int64_t kc, int ntaps, const int64_t* offs, const float* Ap,
                        const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// "avx512" | "avx2" | "scalar": the variant chosen at run time. The environment variable
// TENSORFORGE_ISA=avx512|avx2|scalar (read once) caps the choice, for testing every path.
const char* matmul_isa();

}  // namespace tf

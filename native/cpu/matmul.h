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

// "avx512" | "avx2" | "scalar": the variant chosen at run time. The environment variable
// TENSORFORGE_ISA=avx512|avx2|scalar (read once) caps the choice, for testing every path.
const char* matmul_isa();

}  // namespace tf

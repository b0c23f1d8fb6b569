// Vectorised softmax primitives over float32, shared by the softmax and loss kernels. One table of
// functions per ISA (AVX-512, AVX2+FMA, generic 4-wide), chosen once at run time; the exp inside
// is a polynomial accurate to ~1 ulp (see simd_exp.h), not libm.
#pragma once
#include <cstdint>

namespace tf {

struct SoftmaxRows {
  const char* isa;
  // y = softmax(x), or log_softmax(x) when `log`, over n contiguous floats.
  void (*forward)(const float* x, float* y, int64_t n, bool log);
  // gx from the forward's output y and the output gradient g, n contiguous floats:
  // softmax gx = y∘(g − Σ g∘y); log_softmax gx = g − exp(y)·Σ g.
  void (*backward)(const float* y, const float* g, float* gx, int64_t n, bool log);
  // The same for `lanes` independent softmaxes stored side by side: element c of lane l lies at
  // p + c*stride + l (softmax along a strided dim, lanes contiguous), so whole vectors of lanes
  // are reduced at once.
  void (*forward_lanes)(const float* x, int64_t sx, float* y, int64_t sy, int64_t n, int64_t lanes, bool log);
  void (*backward_lanes)(const float* y, int64_t sy, const float* g, int64_t sg, float* gx, int64_t sgx, int64_t n,
                         int64_t lanes, bool log);
  // Returns max(x) and sets *log_sum = log Σ exp(x − max), so that log Σ exp(x) = max + *log_sum
  // and log_softmax(x) = (x − max) − *log_sum keep their digits for large |x|. As log_softmax:
  // NaN for an all −inf row or one holding +inf or NaN.
  float (*max_logsum)(const float* x, int64_t n, double* log_sum);
  // out[c] = a·exp(x[c] − shift) − b·w[c]: the cross-entropy gradient row.
  void (*exp_affine)(const float* x, int64_t n, float shift, float a, float b, const float* w, float* out);
};

const SoftmaxRows& softmax_rows();

}  // namespace tf

// Argument validation of the 2-D pooling family, shared by the CPU (native/cpu/pool.cpp) and CUDA
// (cuda/pool.cu) kernels so both raise the same errors and agree on every output size.
// Views are NCHW float32 (indices int32); see native/cpu/pool.cpp for the semantics.
#pragma once
#include <cstdint>
#include <vector>

#include "core/registry.h"

namespace tf {

// Sizes and window of one pooling call: input planes H×W, output planes OH×OW, N·C planes.
struct PoolGeom {
  int64_t N = 0, C = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool ceil = false;
  int64_t planes() const { return N * C; }
};

struct AvgPoolOpts {
  bool count_include_pad = true;
  int64_t divisor_override = 0;  // 0: none
};

// torch's pooling_output_shape: in ceil mode the last window must still start inside the input
// or its left padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil);

// views: x -> y, indices. attrs: kernelSize, stride, padding, dilation, ceilMode.
PoolGeom check_max_pool(const std::vector<View>& v, const Attrs& a);

// maxPool2dBackward serves maxPool2d and adaptiveMaxPool2d. Without attributes it only knows
// the indices (Scatter). Given the forward's window attributes (kernelSize, ...) or adaptive = 1,
// it also knows which outputs' windows hold each input, so a kernel may gather instead.
enum class MaxBackwardMode { Scatter, Window, Adaptive };
struct MaxPoolBackwardArgs {
  PoolGeom g;  // H, W from the input gradient; OH, OW from the output gradient
  MaxBackwardMode mode = MaxBackwardMode::Scatter;
};
// views: g, indices -> gx.
MaxPoolBackwardArgs check_max_pool_backward(const std::vector<View>& v, const Attrs& a);

// views: x -> y (forward) or g -> gx (backward). attrs: kernelSize, stride, padding, ceilMode,
// countIncludePad, divisorOverride.
PoolGeom check_avg_pool(const std::vector<View>& v, const Attrs& a, AvgPoolOpts& opt);
PoolGeom check_avg_pool_backward(const std::vector<View>& v, const Attrs& a, AvgPoolOpts& opt);

// views: x -> y; g -> gx; x -> y, indices. The output size is the output view's.
PoolGeom check_adaptive_avg_pool(const std::vector<View>& v);
PoolGeom check_adaptive_avg_pool_backward(const std::vector<View>& v);
PoolGeom check_adaptive_max_pool(const std::vector<View>& v);

}  // namespace tf

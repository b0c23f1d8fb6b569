// Argument validation of layerNorm and batchNorm (forward and backward), shared by the CPU
// (native/cpu/norm.cpp) and CUDA (cuda/norm.cu) kernels; see native/cpu/norm.cpp for the views
// and attributes of each kernel.
#pragma once
#include <cstdint>
#include <vector>

#include "core/registry.h"

namespace tf {

// x [..., *norm]: `rows` rows (the `lead` leading dims) of `n` elements (the k trailing dims).
struct LayerNormArgs {
  int k = 1, lead = 0;
  int64_t rows = 1, n = 1;
  bool has_w = false, has_b = false;
  double eps = 0;  // forward only
};
// views: x, weight, bias | y, mean, rstd. attrs: normDims, eps, hasWeight, hasBias.
LayerNormArgs check_layer_norm(const std::vector<View>& v, const Attrs& a);
// views: x, weight, mean, rstd, gy | gx, gWeight, gBias. attrs: normDims, hasWeight, hasBias.
LayerNormArgs check_layer_norm_backward(const std::vector<View>& v, const Attrs& a);

// x [N, C, *spatial]: C channels of M = N·prod(spatial) values.
struct BatchNormArgs {
  int64_t C = 0, M = 0;
  bool training = false, has_w = false, has_b = false, has_r = false;
  double eps = 0, momentum = 0;  // forward only
};
// views: x, weight, bias | y, saveMean, saveRstd, runningMean, runningVar.
// attrs: training, momentum, eps, hasWeight, hasBias, hasRunning.
BatchNormArgs check_batch_norm(const std::vector<View>& v, const Attrs& a);
// views: x, weight, saveMean, saveRstd, gy | gx, gWeight, gBias. attrs: training, hasWeight, hasBias.
BatchNormArgs check_batch_norm_backward(const std::vector<View>& v, const Attrs& a);

}  // namespace tf

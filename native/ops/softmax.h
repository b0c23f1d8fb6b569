// Argument checks of the softmax kernels, shared by the CPU and CUDA kernels.
#pragma once
#include <vector>

#include "core/registry.h"

namespace tf {

struct SoftmaxArgs {
  int dim;   // the softmax dim (0 for a 0-d tensor, which is one row of one element)
  bool log;  // log_softmax
};

// views: x, y. attrs: dim (normalised), log (0 | 1).
SoftmaxArgs check_softmax(const std::vector<View>& v, const Attrs& a);
// views: y (the forward's output), g, gx. attrs as the forward's.
SoftmaxArgs check_softmax_backward(const std::vector<View>& v, const Attrs& a);

}  // namespace tf

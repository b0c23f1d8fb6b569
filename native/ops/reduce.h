// Argument checks of the "reduce" kernel, shared by the CPU and CUDA kernels.
#pragma once
#include <vector>

#include "core/registry.h"

namespace tf {

enum class ReduceOp { Sum, Prod, Max, Min, ArgMax, ArgMin };

// views: x [kept..., reduced...] (any strides), out [kept...] contiguous.
struct ReduceArgs {
  ReduceOp op;
  int kept;             // leading dims of x that are kept (out's dims)
  bool arg;             // argmax / argmin: out is int32
  bool extreme;         // max / min / argmax / argmin: an empty reduction is an error
};

// Checks attrs op and reduceDims, out's shape, contiguity and dtype, the input dtype (float32 or
// int32) and that an extreme is not taken over an empty reduction; raises the CPU kernel's errors.
ReduceArgs check_reduce(const std::vector<View>& v, const Attrs& a);

}  // namespace tf

#pragma once
#include <cuda_runtime.h>
#include "core/common.h"
#include "runtime.h"
namespace tf { namespace cuda {
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline unsigned grid_for(int64_t n, int threads) {
  int64_t want = ceil_div(n, threads), cap = device_props().multiProcessorCount * 2;
  if (want > cap) want = cap;
  return unsigned(want < 1 ? 1 : want);
}
}}

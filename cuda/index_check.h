// Checking index values that live in device memory, for kernels that must raise the CPU kernel's
// IndexError instead of skipping a bad index: one pass finds the first offending element, and its
// position and value come back to the host (a 16-byte copy and a wait for the stream). Costs a
// synchronisation, so kernels call it only where the CPU raises for data.
#pragma once
#include <cstdint>

#include "core/common.h"

namespace tf {
namespace cuda {

struct BadIndex {
  int64_t position;  // row-major position in the view; -1 when every value is allowed
  int32_t value;
};

// The first int32 element of `index` outside [lo, hi) that is not equal to `also_allowed`.
BadIndex first_bad_index(const View& index, int64_t lo, int64_t hi, int64_t also_allowed, const char* op);
constexpr int64_t kNoExtraIndex = INT64_MIN;

}  // namespace cuda
}  // namespace tf

// Argument validation of the indexing family (gather, scatterAdd, indexSelect, indexAdd), shared
// by the CPU kernels (native/cpu/index.cpp) and the CUDA kernels (cuda/index.cu). The index
// VALUES are checked by each device itself (they live in its memory), after these checks and
// before anything is written, and reported with index_out_of_range().
#pragma once
#include <cstdint>
#include <vector>

#include "core/registry.h"

namespace tf {

// Each returns the dim and leaves the index's dtype (int32) checked. For scatterAdd and
// indexAdd the output dtype is checked by check_add_dtype, after the index values, as the CPU
// kernel always did.
int check_gather(const std::vector<View>& v, const Attrs& a);       // x, index | out
int check_scatter_add(const std::vector<View>& v, const Attrs& a);  // index, src | out
int check_index_select(const std::vector<View>& v, const Attrs& a); // x, index | out
int check_index_add(const std::vector<View>& v, const Attrs& a);    // index, src | out
void check_add_dtype(const View& out, const char* op);              // float32 or int32

// The size of the dimension the index values address.
inline int64_t index_bound(const View& x, int dim) { return x.ndim ? x.shape[dim] : 1; }

[[noreturn]] void index_out_of_range(const char* op, int32_t value, int64_t bound);

}  // namespace tf

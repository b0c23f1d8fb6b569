// Argument validation of the "matmul" op, shared by the CPU and CUDA kernels.
// Views: a [..., M, K], b [..., K, N] (batch dims already broadcast to the output's, stride 0
// where an operand repeats), out contiguous [..., M, N].
#pragma once
#include <cstdint>
#include <vector>

#include "core/common.h"

namespace tf {

struct MatmulArgs {
  int64_t batch, M, N, K;
  int nb;  // batch dims: ndim - 2
  int64_t bshape[kMaxDims];               // the output's batch dims
  int64_t astride[kMaxDims], bstride[kMaxDims];  // each operand's strides over them
  // element (i, k) of a batch's A at i*rsa + k*csa; element (k, j) of its B at k*rsb + j*csb
  int64_t rsa, csa, rsb, csb;
};

// Throws ShapeError / DTypeError as the matmul kernels always have.
MatmulArgs check_matmul(const std::vector<View>& v);

// The element offset of each batch's A and B (row-major order over the batch dims).
void matmul_batch_offsets(const MatmulArgs& m, std::vector<int64_t>& aoff, std::vector<int64_t>& boff);

}  // namespace tf

// Argument checks of the fused attention kernels, shared by the CPU (native/cpu/attention.cpp)
// and CUDA (cuda/attention.cu) implementations so both raise the same errors for the same views.
//
//   attention[Masked]          q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] (, mask [..., Tq, Tk])
//                              -> out [..., Tq, Dv], lse [..., Tq]
//   attentionBackward[Masked]  q, k, v (, mask), out, lse, dOut -> dq, dk, dv
// attrs: scale (finite number), causal (0 | 1, never with a mask). The mask is bool or float32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/common.h"

namespace tf {

enum class AttnMaskKind { None, Bool, Float };

struct AttentionArgs {
  const char* op = "";
  int nlead = 0;  // leading (batch) dims, shared by every view
  int64_t batch = 0, Tq = 0, Tk = 0, D = 0, Dv = 0;
  float scale = 1;
  bool causal = false;
  AttnMaskKind mask_kind = AttnMaskKind::None;
  // Positions in the view list (SIZE_MAX where the kernel has no such view).
  size_t mask = SIZE_MAX, out = SIZE_MAX, lse = SIZE_MAX, dout = SIZE_MAX;  // out, lse: forward outputs
  size_t dq = SIZE_MAX, dk = SIZE_MAX, dv = SIZE_MAX;                       // or backward inputs
};

// Validates every view and attr of one of the four attention kernels; outputs must be float32
// and contiguous, inputs may have any strides.
AttentionArgs check_attention(const std::vector<View>& views, const Attrs& attrs, bool masked, bool backward);

// Element offsets of each batch entry's matrix in a view whose first nlead dims are the batch dims.
std::vector<int64_t> attention_batch_offsets(const View& v, int nlead, int64_t batch);

}  // namespace tf

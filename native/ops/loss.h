// Argument checks of the loss kernels (class-index losses and binary cross-entropy with logits),
// shared by the CPU and CUDA kernels. Data checks (targets in range) are the callers': the CPU
// kernel checks targets itself, the TS layer checks them on the host before a CUDA dispatch; both
// raise target_out_of_bounds()'s message.
#pragma once
#include <string>
#include <vector>

#include "core/registry.h"

namespace tf {

enum class Reduction { None, Sum, Mean };

// x [N, C, S], target [N, S] int32, weight [C] | [0].
struct ClassShape {
  int64_t N, C, S;
  const char* op;
  int64_t samples() const { return N * S; }
};

struct ClassLossArgs {
  ClassShape p;
  Reduction red;
  int64_t ignore;
  double eps;  // label smoothing (0 for nllLoss)
};

// views: x, target, weight; outputs: loss ([N, S] or 0-d), stats [N, S, 2].
// attrs: ignoreIndex, labelSmoothing, reduction.
ClassLossArgs check_cross_entropy(const std::vector<View>& v, const Attrs& a);
// views: x, target, weight, stats, g; output gx.
ClassLossArgs check_cross_entropy_backward(const std::vector<View>& v, const Attrs& a);
// views: x, target, weight; output loss. attrs: ignoreIndex, reduction.
ClassLossArgs check_nll_loss(const std::vector<View>& v, const Attrs& a);
// views: x, target, weight, g; output gx.
ClassLossArgs check_nll_loss_backward(const std::vector<View>& v, const Attrs& a);

// The IndexError message for target t of flat sample i (i / S, position i % S).
std::string target_out_of_bounds(const ClassShape& p, int64_t t, int64_t i, int64_t ignore);

// views: x, y, [posWeight], out: every one float32 with out's shape.
void check_bce_with_logits(const std::vector<View>& v, bool pos_weight);
// views: x, y, [posWeight], g, out. Returns attr wrt (0: x, 1: y, 2: posWeight).
int check_bce_with_logits_backward(const std::vector<View>& v, const Attrs& a, bool pos_weight);

}  // namespace tf

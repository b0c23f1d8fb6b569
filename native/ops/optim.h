// Argument checks of the optimizer and gradient-clipping kernels (sgdStep, adamStep, rmspropStep,
// gradNorm, gradScale, gradClamp), shared by the CPU kernels (native/cpu/optim.cpp) and the CUDA
// ones (cuda/optim.cu). Host-only: they read view shapes, strides, dtypes and attributes, never data.
//
// Each step check also returns the float32 constants of the update, rounded from the double
// hyperparameters in one place, so both backends multiply by exactly the same numbers.
#pragma once
#include <vector>

#include "core/registry.h"

namespace tf {

// torch: d = ±g (+ wd·p); buf = first ? d : buf·m + (1 − dampening)·d; d = nesterov ? d + m·buf : buf;
// p += −lr·d
struct SgdConst {
  float wd, mom, one_minus_damp, neg_lr;
  bool maximize, has_wd, has_mom, first, nesterov;
};
struct SgdArgs {
  SgdConst c;
  bool present[1];  // momentumBuffer
};

// torch: g = ±g (+ wd·p, Adam) ; p *= 1 − lr·wd (AdamW) ; m = m·β1 + (1 − β1)·g ;
// v = v·β2 + (1 − β2)·g·g ; v̂ = amsgrad ? max(vmax, v) : v ;
// p += (−lr/bc1 · m) / (sqrt(v̂) / sqrt(bc2) + eps)      bc = 1 − β^step
struct AdamConst {
  float wd, decay, b1, one_minus_b1, b2, one_minus_b2, bc2_sqrt, eps, neg_step_size;
  bool maximize, l2, decoupled, amsgrad;
};
struct AdamArgs {
  AdamConst c;
  bool present[3];  // expAvg, expAvgSq, maxExpAvgSq
};

// torch: g = ±g (+ wd·p) ; s = s·α + (1 − α)·g·g ; centered: ga = ga·α + (1 − α)·g, avg = sqrt(s − ga·ga)
// else avg = sqrt(s) ; avg += eps ; momentum: buf = buf·μ + g/avg, p += −lr·buf ; else p += (−lr·g)/avg
struct RmsConst {
  float wd, alpha, one_minus_alpha, eps, mom, neg_lr;
  bool maximize, has_wd, centered, has_mom;
};
struct RmsArgs {
  RmsConst c;
  bool present[3];  // squareAvg, momentumBuffer, gradAvg
};

// views: grad | param, momentumBuffer. attrs: lr, momentum, dampening, weightDecay, nesterov,
// maximize, hasBuffer (whether the buffer holds a previous step; when off it is initialised
// with this step's direction, as torch clones it). The buffer is present iff momentum != 0.
SgdArgs check_sgd(const std::vector<View>& v, const Attrs& a);
// views: grad | param, expAvg, expAvgSq, maxExpAvgSq. attrs: lr, beta1, beta2, eps, weightDecay,
// step (the count after this update, >= 1), decoupled (AdamW), amsgrad, maximize.
// maxExpAvgSq is present iff amsgrad.
AdamArgs check_adam(const std::vector<View>& v, const Attrs& a);
// views: grad | param, squareAvg, momentumBuffer, gradAvg. attrs: lr, alpha, eps, weightDecay,
// momentum, centered, maximize. momentumBuffer is present iff momentum > 0, gradAvg iff centered.
RmsArgs check_rmsprop(const std::vector<View>& v, const Attrs& a);

// views: grad | norm (float32, one element). attrs: normType (> 0, or Infinity). Returns normType.
double check_grad_norm(const std::vector<View>& v, const Attrs& a);
// views: | grad. attrs: scale (not infinite; NaN allowed). Returns the scale rounded to float32.
float check_grad_scale(const std::vector<View>& v, const Attrs& a);
// views: | grad. attrs: clipValue (finite, >= 0). Returns it rounded to float32.
float check_grad_clamp(const std::vector<View>& v, const Attrs& a);

}  // namespace tf

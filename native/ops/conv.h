// Argument validation of the 2-D convolution kernels (conv2d, conv2dBias, conv2dInputGrad,
// conv2dWeightGrad), shared by the CPU (native/cpu/conv.cpp) and CUDA (cuda/conv.cu) kernels so
// both accept exactly the same views and attributes and raise the same errors.
#pragma once
#include <cstdint>
#include <vector>

#include "core/common.h"

namespace tf {

// The geometry of one convolution, NCHW, validated against the views and attributes.
struct ConvParams {
  int64_t N, C, H, W;      // input
  int64_t Co, kh, kw;      // weight [Co, C / G, kh, kw]
  int64_t Ho, Wo;          // output
  int64_t sh, sw, dh, dw;  // stride, dilation
  int64_t pt, pb, pl, pr;  // zero padding: top, bottom, left, right
  int64_t G;               // groups

  int64_t Cg() const { return C / G; }
  int64_t Cog() const { return Co / G; }
  int64_t taps() const { return kh * kw; }
  int64_t Kg() const { return Cg() * kh * kw; }  // rows of one group's column matrix
  int64_t HW() const { return H * W; }
  int64_t P() const { return Ho * Wo; }
  // The input image is its own column matrix.
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && Ho == H && Wo == W; }
};

// conv2d: views x [N, C, H, W], weight [Co, C / G, kh, kw], output [N, Co, Ho, Wo];
// conv2dBias: x, weight, bias [Co] (any stride), output. Attributes: stride [sh, sw],
// padding [top, bottom, left, right], dilation [dh, dw], groups.
ConvParams check_conv2d(const std::vector<View>& v, const Attrs& a);
// conv2dInputGrad: views gOut [N, Co, Ho, Wo], weight; output gx [N, C, H, W].
ConvParams check_conv2d_input_grad(const std::vector<View>& v, const Attrs& a);
// conv2dWeightGrad: views x [N, C, H, W], gOut [N, Co, Ho, Wo]; output gW [Co, C / G, kh, kw].
ConvParams check_conv2d_weight_grad(const std::vector<View>& v, const Attrs& a);

}  // namespace tf

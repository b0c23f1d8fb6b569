// Walking several same-shaped strided views together. Dimensions are first coalesced (size-1
// dims dropped, neighbours merged where every operand is contiguous across them) so the inner
// loop is as long as possible; rows of the outer dims are split across threads.
#pragma once
#include <algorithm>

#include "common.h"
#include "threadpool.h"

namespace tf {

template <int N>
struct StridedLoop {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t st[N][kMaxDims];

  // All views must have the shape of views[0] (callers check); broadcast inputs carry stride 0.
  explicit StridedLoop(const View* const (&views)[N]) {
    const View& ref = *views[0];
    for (int d = 0; d < ref.ndim; d++) {
      if (ref.shape[d] == 1) continue;
      if (ndim > 0) {
        bool merge = true;
        for (int k = 0; k < N; k++) merge &= st[k][ndim - 1] == views[k]->strides[d] * ref.shape[d];
        if (merge) {
          shape[ndim - 1] *= ref.shape[d];
          for (int k = 0; k < N; k++) st[k][ndim - 1] = views[k]->strides[d];
          continue;
        }
      }
      shape[ndim] = ref.shape[d];
      for (int k = 0; k < N; k++) st[k][ndim] = views[k]->strides[d];
      ndim++;
    }
    if (ndim == 0) {  // a scalar, or all dims of size 1
      shape[0] = ref.numel();
      for (int k = 0; k < N; k++) st[k][0] = 1;
      ndim = 1;
    }
  }

  int64_t inner() const { return shape[ndim - 1]; }
  int64_t rows() const {
    int64_t r = 1;
    for (int d = 0; d + 1 < ndim; d++) r *= shape[d];
    return r;
  }

  // f(const int64_t off[N], int64_t n, const int64_t inner_stride[N]) handles one run of the
  // innermost dim; offsets are in elements from each view's data pointer.
  template <class F>
  void run(F&& f, int64_t min_work_per_thread = 32768) const {
    const int64_t n_inner = inner(), n_rows = rows();
    int64_t in_st[N];
    for (int k = 0; k < N; k++) in_st[k] = st[k][ndim - 1];
    if (n_rows == 1) {  // one long run: split it
      parallel_for(n_inner, min_work_per_thread, [&](int64_t b, int64_t e) {
        int64_t off[N];
        for (int k = 0; k < N; k++) off[k] = b * in_st[k];
        f(off, e - b, in_st);
      });
      return;
    }
    int64_t grain = std::max<int64_t>(1, min_work_per_thread / std::max<int64_t>(1, n_inner));
    parallel_for(n_rows, grain, [&](int64_t b, int64_t e) {
      int64_t idx[kMaxDims] = {};
      int64_t off[N] = {};
      int64_t r = b;
      for (int d = ndim - 2; d >= 0; d--) {
        idx[d] = r % shape[d];
        r /= shape[d];
        for (int k = 0; k < N; k++) off[k] += idx[d] * st[k][d];
      }
      for (int64_t row = b; row < e; row++) {
        f(off, n_inner, in_st);
        for (int d = ndim - 2; d >= 0; d--) {  // odometer step
          idx[d]++;
          for (int k = 0; k < N; k++) off[k] += st[k][d];
          if (idx[d] < shape[d]) break;
          for (int k = 0; k < N; k++) off[k] -= st[k][d] * shape[d];
          idx[d] = 0;
        }
      }
    });
  }
};

}  // namespace tf

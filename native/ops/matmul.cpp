#include "ops/matmul.h"

#include "core/registry.h"

namespace tf {

MatmulArgs check_matmul(const std::vector<View>& v) {
  const View &a = v[0], &b = v[1], &out = v[2];
  for (const View* x : {&a, &b, &out}) expect_float(*x, "matmul", "operands");
  const int nd = out.ndim;
  if (nd < 2 || a.ndim != nd || b.ndim != nd)
    throw Error(ErrorKind::Shape, "matmul: operands must share a rank >= 2, got " + shape_str(a) + ", " +
                                      shape_str(b) + " -> " + shape_str(out));
  MatmulArgs m;
  m.M = a.shape[nd - 2];
  m.K = a.shape[nd - 1];
  m.N = b.shape[nd - 1];
  bool ok = b.shape[nd - 2] == m.K && out.shape[nd - 2] == m.M && out.shape[nd - 1] == m.N && out.contiguous();
  for (int d = 0; ok && d < nd - 2; d++) ok = a.shape[d] == out.shape[d] && b.shape[d] == out.shape[d];
  if (!ok)
    throw Error(ErrorKind::Shape, "matmul: cannot multiply " + shape_str(a) + " by " + shape_str(b) + " into " +
                                      shape_str(out) + " (expected [..., M, K] x [..., K, N] -> contiguous [..., M, N])");
  m.nb = nd - 2;
  m.batch = 1;
  for (int d = 0; d < m.nb; d++) {
    m.bshape[d] = out.shape[d];
    m.astride[d] = a.strides[d];
    m.bstride[d] = b.strides[d];
    m.batch *= out.shape[d];
  }
  m.rsa = a.strides[nd - 2];
  m.csa = a.strides[nd - 1];
  m.rsb = b.strides[nd - 2];
  m.csb = b.strides[nd - 1];
  return m;
}

void matmul_batch_offsets(const MatmulArgs& m, std::vector<int64_t>& aoff, std::vector<int64_t>& boff) {
  aoff.assign(m.batch, 0);
  boff.assign(m.batch, 0);
  int64_t idx[kMaxDims] = {};
  for (int64_t i = 0; i < m.batch; i++) {
    int64_t oa = 0, ob = 0;
    for (int d = 0; d < m.nb; d++) {
      oa += idx[d] * m.astride[d];
      ob += idx[d] * m.bstride[d];
    }
    aoff[i] = oa;
    boff[i] = ob;
    for (int d = m.nb - 1; d >= 0; d--) {
      if (++idx[d] < m.bshape[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace tf

// The "matmul" op: [..., M, K] · [..., K, N] -> [..., M, N]. Batch dims arrive already
// broadcast (stride 0 where an operand repeats), so the kernel only turns them into per-batch
// offsets for matmul_f32, which handles any strides without copying.
#include "core/registry.h"
#include "cpu/matmul.h"

namespace tf {
namespace {

void matmul_kernel(std::vector<View>& v, const Attrs&) {
  const View &a = v[0], &b = v[1], &out = v[2];
  for (const View* x : {&a, &b, &out}) expect_float(*x, "matmul", "operands");
  const int nd = out.ndim;
  if (nd < 2 || a.ndim != nd || b.ndim != nd)
    throw Error(ErrorKind::Shape, "matmul: operands must share a rank >= 2, got " + shape_str(a) + ", " +
                                      shape_str(b) + " -> " + shape_str(out));
  const int64_t M = a.shape[nd - 2], K = a.shape[nd - 1], N = b.shape[nd - 1];
  bool ok = b.shape[nd - 2] == K && out.shape[nd - 2] == M && out.shape[nd - 1] == N && out.contiguous();
  for (int d = 0; ok && d < nd - 2; d++) ok = a.shape[d] == out.shape[d] && b.shape[d] == out.shape[d];
  if (!ok)
    throw Error(ErrorKind::Shape, "matmul: cannot multiply " + shape_str(a) + " by " + shape_str(b) + " into " +
                                      shape_str(out) + " (expected [..., M, K] x [..., K, N] -> contiguous [..., M, N])");
  int64_t batch = 1;
  for (int d = 0; d < nd - 2; d++) batch *= out.shape[d];
  std::vector<int64_t> aoff(batch), boff(batch);
  int64_t idx[kMaxDims] = {};
  for (int64_t i = 0; i < batch; i++) {
    int64_t oa = 0, ob = 0;
    for (int d = 0; d < nd - 2; d++) {
      oa += idx[d] * a.strides[d];
      ob += idx[d] * b.strides[d];
    }
    aoff[i] = oa;
    boff[i] = ob;
    for (int d = nd - 3; d >= 0; d--) {
      if (++idx[d] < out.shape[d]) break;
      idx[d] = 0;
    }
  }
  if (batch == 0 || M == 0 || N == 0) return;
  matmul_f32(batch, M, N, K, a.ptr<float>(), aoff.data(), a.strides[nd - 2], a.strides[nd - 1], b.ptr<float>(),
             boff.data(), b.strides[nd - 2], b.strides[nd - 1], out.ptr<float>());
}
TF_REGISTER_KERNEL("matmul", 2, 1, false, matmul_kernel);

}  // namespace
}  // namespace tf

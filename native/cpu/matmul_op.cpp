// The "matmul" op: [..., M, K] · [..., K, N] -> [..., M, N]. Batch dims arrive already
// broadcast (stride 0 where an operand repeats), so the kernel only turns them into per-batch
// offsets for matmul_f32, which handles any strides without copying. The argument checks are
// shared with the CUDA kernel (native/ops/matmul.h).
#include "core/registry.h"
#include "cpu/matmul.h"
#include "ops/matmul.h"

namespace tf {
namespace {

void matmul_kernel(std::vector<View>& v, const Attrs&) {
  const MatmulArgs m = check_matmul(v);
  if (m.batch == 0 || m.M == 0 || m.N == 0) return;
  std::vector<int64_t> aoff, boff;
  matmul_batch_offsets(m, aoff, boff);
  matmul_f32(m.batch, m.M, m.N, m.K, v[0].ptr<float>(), aoff.data(), m.rsa, m.csa, v[1].ptr<float>(), boff.data(),
             m.rsb, m.csb, v[2].ptr<float>());
}
TF_REGISTER_KERNEL("matmul", 2, 1, false, matmul_kernel);

}  // namespace
}  // namespace tf

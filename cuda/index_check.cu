// See index_check.h.
#include <climits>

#include "common.cuh"
#include "index_check.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) find_first_bad(const int32_t* ix, Strided s, int64_t n, int64_t lo, int64_t hi,
                                                           int64_t also, unsigned long long* first) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < n; p += stride) {
    const int64_t v = ix[s.offset(p)];
    if ((v < lo || v >= hi) && v != also) atomicMin(first, static_cast<unsigned long long>(p));
  }
}

__global__ void read_first_bad(const int32_t* ix, Strided s, unsigned long long* first) {
  if (*first != ULLONG_MAX) first[1] = static_cast<unsigned long long>(static_cast<uint32_t>(ix[s.offset(*first)]));
}

}  // namespace

BadIndex first_bad_index(const View& index, int64_t lo, int64_t hi, int64_t also_allowed, const char* op) {
  const int64_t n = index.numel();
  if (n == 0) return {-1, 0};
  Scratch flag(2 * sizeof(unsigned long long));
  unsigned long long* first = flag.as<unsigned long long>();
  check(cudaMemsetAsync(first, 0xff, 2 * sizeof(unsigned long long), stream()), op);
  const Strided s = Strided::of(index);
  find_first_bad<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(index.ptr<int32_t>(), s, n, lo, hi, also_allowed, first);
  check_launch(op);
  read_first_bad<<<1, 1, 0, stream()>>>(index.ptr<int32_t>(), s, first);
  check_launch(op);
  unsigned long long host[2];
  check(cudaMemcpyAsync(host, first, sizeof host, cudaMemcpyDeviceToHost, stream()), op);
  check(cudaStreamSynchronize(stream()), op);
  if (host[0] == ULLONG_MAX) return {-1, 0};
  return {static_cast<int64_t>(host[0]), static_cast<int32_t>(static_cast<uint32_t>(host[1]))};
}

}  // namespace cuda
}  // namespace tf

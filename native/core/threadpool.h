// One process-wide pool of worker threads shared by every kernel.
// Several JS threads (worker_threads) may call kernels at once: the pool runs one job at a
// time and a caller that finds it busy simply runs its job on its own thread.
#pragma once
#include <cstdint>
#include <functional>

namespace tf {

int num_threads();
void set_num_threads(int n);  // n <= 0 restores the default (hardware concurrency)

// Calls fn(begin, end) over disjoint chunks covering [0, n); chunks hold at least `grain`
// items, so small problems stay on the calling thread.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace tf

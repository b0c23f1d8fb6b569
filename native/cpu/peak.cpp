// Machine-peak microbenchmarks. They use std::thread rather than the pool so that exactly
// `threads` threads are busy for the whole measurement, independent of the pool's state.
#include "cpu/peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/threadpool.h"
#include "cpu/matmul.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace tf {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kRunSeconds = 0.2;

// Each FMA loop runs 12 independent accumulator chains: enough to cover FMA latency (4-5
// cycles) × 2 pipes on current x86 cores, so the loop is throughput-bound. The multiplier and
// addend keep values bounded and normal (no denormal slow paths). Returns flops done; `sink`
// keeps the result live so the loop cannot be removed.
constexpr int kChains = 12;
constexpr int64_t kInner = 1 << 14;  // iterations between clock checks

#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) double fma_loop_avx512(Clock::time_point deadline,
                                                               float* sink) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  int64_t iters = 0;
  do {
    for (int64_t n = 0; n < kInner; n++) {
#pragma GCC unroll 12
      for (int i = 0; i < kChains; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
    }
    iters += kInner;
  } while (Clock::now() < deadline);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; i++) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];  // not _mm512_reduce_add_ps: it trips -Wuninitialized in GCC 12
  _mm512_store_ps(lanes, s);
  float t = 0;
  for (float v : lanes) t += v;
  *sink = t;
  return static_cast<double>(iters) * kChains * 16 * 2;
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(Clock::time_point deadline,
                                                         float* sink) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  int64_t iters = 0;
  do {
    for (int64_t n = 0; n < kInner; n++) {
#pragma GCC unroll 12
      for (int i = 0; i < kChains; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
    }
    iters += kInner;
  } while (Clock::now() < deadline);
  alignas(32) float lanes[8];
  __m256 s = acc[0];
  for (int i = 1; i < kChains; i++) s = _mm256_add_ps(s, acc[i]);
  _mm256_store_ps(lanes, s);
  float t = 0;
  for (float v : lanes) t += v;
  *sink = t;
  return static_cast<double>(iters) * kChains * 8 * 2;
}
#endif

// The scalar matmul path's peak: whatever the compiler makes of a plain multiply-add loop
// (SSE mul + add on baseline x86-64, NEON FMA on arm64).
double fma_loop_scalar(Clock::time_point deadline, float* sink) {
  constexpr int kLanes = kChains * 4;
  float acc[kLanes];
  for (int i = 0; i < kLanes; i++) acc[i] = static_cast<float>(i);
  int64_t iters = 0;
  do {
    for (int64_t n = 0; n < kInner; n++)
      for (int i = 0; i < kLanes; i++) acc[i] = acc[i] * 0.999999f + 1e-6f;
    iters += kInner;
  } while (Clock::now() < deadline);
  float t = 0;
  for (float v : acc) t += v;
  *sink = t;
  return static_cast<double>(iters) * kLanes * 2;
}

int resolve_threads(int threads) { return threads > 0 ? threads : num_threads(); }

// Runs body(thread_index) on `threads` threads released together; returns wall seconds.
template <typename F>
double run_threads(int threads, F body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(t);
    });
  while (ready.load() < threads) std::this_thread::yield();
  const auto t0 = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

double measure_peak_gflops(int threads) {
  threads = resolve_threads(threads);
  const std::string isa = matmul_isa();
  std::vector<double> flops(threads, 0.0);
  std::vector<float> sink(threads, 0.f);
  // Every thread works until the same deadline, so the wall time covers them all.
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(kRunSeconds));
  const double secs = run_threads(threads, [&](int t) {
#if defined(__x86_64__)
    if (isa == "avx512") {
      flops[t] = fma_loop_avx512(deadline, &sink[t]);
      return;
    }
    if (isa == "avx2") {
      flops[t] = fma_loop_avx2(deadline, &sink[t]);
      return;
    }
#endif
    flops[t] = fma_loop_scalar(deadline, &sink[t]);
  });
  double total = 0;
  for (double f : flops) total += f;
  return total / secs * 1e-9;
}

double measure_bandwidth_gbs(int threads) {
  threads = resolve_threads(threads);
  constexpr size_t kBytes = size_t(128) << 20;  // per buffer; far beyond any cache
  struct Free {
    void operator()(char* p) const { ::operator delete(p, std::align_val_t(64)); }
  };
  std::unique_ptr<char, Free> src(static_cast<char*>(::operator new(kBytes, std::align_val_t(64))));
  std::unique_ptr<char, Free> dst(static_cast<char*>(::operator new(kBytes, std::align_val_t(64))));
  const size_t per = (kBytes / threads + 63) / 64 * 64;
  auto slice = [&](int t, size_t& off, size_t& len) {
    off = std::min(kBytes, per * t);
    len = std::min(kBytes, off + per) - off;
  };
  // First touch from the copying threads, so page faults are not timed.
  run_threads(threads, [&](int t) {
    size_t off, len;
    slice(t, off, len);
    std::memset(src.get() + off, 1, len);
    std::memset(dst.get() + off, 0, len);
  });
  // Best of several passes: the least disturbed one is closest to what the memory can do.
  double best = 0;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(kRunSeconds));
  for (int pass = 0; pass < 3 || (Clock::now() < end && pass < 20); pass++) {
    const double secs = run_threads(threads, [&](int t) {
      size_t off, len;
      slice(t, off, len);
      std::memcpy(dst.get() + off, src.get() + off, len);
    });
    best = std::max(best, 2.0 * kBytes / secs * 1e-9);
  }
  return best;
}

}  // namespace tf

// The CPU addon: the shared N-API surface (binding.h: alloc/free/read/write/run/runPacked/...)
// over host memory, plus what only the CPU has:
//   memory(resetPeak?)   info()   setNumThreads(n)   measurePeak()   emptyCache()
// Errors reach JS with a `code` (ERR_TF_SHAPE, ERR_TF_DTYPE, ...) that ts/native.ts maps to
// typed error classes.
#include <napi.h>

#include <cstring>

#include "binding/binding.h"
#include "core/common.h"
#include "core/memory.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "cpu/matmul.h"
#include "cpu/peak.h"

namespace tf {
namespace {

Napi::Value Memory(const Napi::CallbackInfo& info) {
  // memory(resetPeak?): live counts, then (optionally) restart the peak from the current total
  Napi::Env env = info.Env();
  const MemoryStats m = memory_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("buffers", Napi::Number::New(env, static_cast<double>(m.buffers)));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(m.buffer_bytes)));
  o.Set("scratchBytes", Napi::Number::New(env, static_cast<double>(m.scratch_bytes)));
  o.Set("peakBytes", Napi::Number::New(env, static_cast<double>(m.peak_bytes)));
  o.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(cached_bytes())));
  if (info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value()) reset_peak_bytes();
  return o;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", Napi::String::New(env, matmul_isa()));
  o.Set("threads", Napi::Number::New(env, num_threads()));
  Napi::Object features = Napi::Object::New(env);
#if defined(__x86_64__)
  __builtin_cpu_init();
  features.Set("avx2", Napi::Boolean::New(env, __builtin_cpu_supports("avx2")));
  features.Set("fma", Napi::Boolean::New(env, __builtin_cpu_supports("fma")));
  features.Set("avx512f", Napi::Boolean::New(env, __builtin_cpu_supports("avx512f")));
#endif
  o.Set("cpuFeatures", features);
  Napi::Array ops = Napi::Array::New(env);
  auto names = kernel_names();
  for (uint32_t i = 0; i < names.size(); i++) ops.Set(i, Napi::String::New(env, names[i]));
  o.Set("ops", ops);
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int64_t n = get_index(info[0], "thread count");
    if (n > 1024) fail(ErrorKind::Argument, "thread count must be at most 1024");
    set_num_threads(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

// Peak FMA throughput and memory bandwidth, for the benchmark's "fraction of peak" column.
Napi::Value MeasurePeak(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("gflops", Napi::Number::New(info.Env(), measure_peak_gflops(0)));
  o.Set("gbs", Napi::Number::New(info.Env(), measure_bandwidth_gbs(0)));
  return o;
}

void host_copy(void* dst, const void* src, size_t n) { std::memcpy(dst, src, n); }

const Backend kHost = {
    {0x7466627566666572ULL, 0x74656e736f72666fULL},
    block_alloc,
    block_free,
    host_copy,
    host_copy,
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  export_common(env, exports, &kHost);
  exports.Set("memory", Napi::Function::New(env, Memory, "memory"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("measurePeak", Napi::Function::New(env, MeasurePeak, "measurePeak"));
  exports.Set("emptyCache", Napi::Function::New(env, [](const Napi::CallbackInfo&) { empty_cache(); }, "emptyCache"));
  return exports;
}

}  // namespace
}  // namespace tf

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return tf::Init(env, exports); }
NODE_API_MODULE(tensorforge, InitAddon)

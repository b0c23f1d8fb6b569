// N-API surface of the CUDA addon (tensorforge_cuda.node): argument validation and conversion
// to JS values, nothing else; host-only C++ (CUDA calls live in runtime.cu and device.cu).
// Exports the CPU addon's tensor functions over device memory (binding.h: alloc, free, read,
// write, run, runPacked, compileAttrs, kernelNames), and
//   deviceCount, deviceProperties(i), memoryInfo(i), runtimeVersion, driverVersion,
//   setDevice(i), currentDevice(), synchronize(), synchronizeAsync(), readAsync(h, off, out),
//   memory(resetPeak?), emptyCache().
// Loading needs no driver: deviceCount() then answers 0 and every tensor function raises the
// typed "CUDA is not available" error. Nothing a JS caller passes may crash the process.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <string>

#include "binding/binding.h"
#include "core/memory.h"
#include "device.h"
#include "runtime.h"

namespace {

// Validates args[0] as a device ordinal in [0, deviceCount()), throwing a JS error otherwise.
int DeviceArg(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  std::string where = std::string(fn) + "(device)";
  if (info.Length() < 1 || !info[0].IsNumber())
    throw Napi::TypeError::New(env, where + ": device must be a number (a CUDA device index)");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < 0) {
    std::string shown = std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                                                              : info[0].ToString().Utf8Value();
    throw Napi::RangeError::New(env, where + ": device must be a non-negative integer, got " + shown);
  }
  int count = tfcuda::device_count();
  if (d >= count) {
    std::string range = count == 0 ? "no CUDA device is available"
                                   : "valid indices are 0.." + std::to_string(count - 1);
    throw Napi::RangeError::New(env, where + ": device index " + info[0].ToString().Utf8Value() +
                                         " is out of range (" + range + ")");
  }
  return static_cast<int>(d);
}

Napi::Value DeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), tfcuda::device_count());
}

Napi::Value RuntimeVersion(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), tfcuda::runtime_version());
}

Napi::Value DriverVersion(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), tfcuda::driver_version());
}

Napi::Value DeviceProperties(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int device = DeviceArg(info, "deviceProperties");
  tfcuda::DeviceProperties p;
  std::string err = tfcuda::device_properties(device, &p);
  if (!err.empty())
    throw Napi::Error::New(env, "deviceProperties(" + std::to_string(device) + "): " + err);
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  o.Set("index", Napi::Number::New(env, device));
  o.Set("name", Napi::String::New(env, p.name));
  o.Set("pciBusId", Napi::String::New(env, p.pciBusId));
  num("totalMemory", static_cast<double>(p.totalMemory));
  Napi::Array cc = Napi::Array::New(env, 2);
  cc.Set(0u, Napi::Number::New(env, p.major));
  cc.Set(1u, Napi::Number::New(env, p.minor));
  o.Set("computeCapability", cc);
  num("multiProcessorCount", p.multiProcessorCount);
  num("warpSize", p.warpSize);
  num("maxThreadsPerBlock", p.maxThreadsPerBlock);
  num("maxThreadsPerMultiProcessor", p.maxThreadsPerMultiProcessor);
  num("sharedMemoryPerBlock", static_cast<double>(p.sharedMemoryPerBlock));
  num("sharedMemoryPerBlockOptin", static_cast<double>(p.sharedMemoryPerBlockOptin));
  num("sharedMemoryPerMultiProcessor", static_cast<double>(p.sharedMemoryPerMultiProcessor));
  num("registersPerBlock", p.registersPerBlock);
  num("l2CacheSize", p.l2CacheSize);
  num("memoryBusWidth", p.memoryBusWidth);
  num("clockRateKHz", p.clockRateKHz);
  num("memoryClockRateKHz", p.memoryClockRateKHz);
  o.Set("integrated", Napi::Boolean::New(env, p.integrated));
  o.Set("eccEnabled", Napi::Boolean::New(env, p.eccEnabled));
  return o;
}

Napi::Value MemoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int device = DeviceArg(info, "memoryInfo");
  tfcuda::MemoryInfo m;
  std::string err = tfcuda::memory_info(device, &m);
  if (!err.empty())
    throw Napi::Error::New(env, "memoryInfo(" + std::to_string(device) + "): " + err);
  Napi::Object o = Napi::Object::New(env);
  o.Set("free", Napi::Number::New(env, static_cast<double>(m.free)));
  o.Set("total", Napi::Number::New(env, static_cast<double>(m.total)));
  return o;
}

const tf::Backend kDevice = {
    {0x7466637564616275ULL, 0x6666657274656e73ULL},
    tf::cuda::device_alloc,
    tf::cuda::device_free,
    tf::cuda::copy_to_device,
    tf::cuda::copy_to_host,
};

// Waits on the host for an event recorded on the stream, in a worker thread, so the event loop
// keeps running; then, back on the main thread, copies `bytes` of pinned staging memory (if any)
// into the caller's typed array and settles the promise.
class EventWaiter : public Napi::AsyncWorker {
 public:
  EventWaiter(Napi::Env env, cudaEvent_t event, void* pinned, size_t bytes, Napi::TypedArray out)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), event_(event), pinned_(pinned),
        bytes_(bytes) {
    if (pinned_) out_ = Napi::Persistent(out.As<Napi::Object>());
  }
  ~EventWaiter() override {
    if (pinned_) tf::cuda::pinned_free(pinned_, bytes_);
    cudaEventDestroy(event_);
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    cudaError_t e = cudaEventSynchronize(event_);
    if (e != cudaSuccess) SetError(std::string("CUDA error ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
  }
  void OnOK() override {
    if (pinned_) {
      Napi::TypedArray ta = out_.Value().As<Napi::TypedArray>();
      std::memcpy(static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), pinned_, bytes_);
    }
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), "ERR_TF_DEVICE"));
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  cudaEvent_t event_;
  void* pinned_;
  size_t bytes_;
  Napi::ObjectReference out_;
};

Napi::Value QueueWait(Napi::Env env, void* pinned, size_t bytes, Napi::TypedArray out) {
  cudaEvent_t ev = nullptr;
  try {
    tf::cuda::check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "event");
    tf::cuda::check(cudaEventRecord(ev, tf::cuda::stream()), "event");
  } catch (...) {
    if (ev) cudaEventDestroy(ev);
    if (pinned) tf::cuda::pinned_free(pinned, bytes);
    throw;
  }
  auto* w = new EventWaiter(env, ev, pinned, bytes, out);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// readAsync(handle, byteOffset, typedArray): a promise that resolves once the bytes are in the array.
Napi::Value ReadAsync(const Napi::CallbackInfo& info) {
  return tf::guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    tf::Buffer* b = tf::get_buffer(env, info[0], "handle");
    int64_t off = tf::get_index(info[1], "byte offset");
    if (!info[2].IsTypedArray()) tf::fail(tf::ErrorKind::Argument, "expected a TypedArray");
    Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
    size_t len = ta.ByteLength();
    tf::check_range(b, off, len);
    if (len == 0) return QueueWait(env, nullptr, 0, ta);
    void* pinned = tf::cuda::pinned_alloc(len);
    cudaError_t e = cudaMemcpyAsync(pinned, static_cast<char*>(b->data) + off, len, cudaMemcpyDeviceToHost,
                                    tf::cuda::stream());
    if (e != cudaSuccess) {
      tf::cuda::pinned_free(pinned, len);
      tf::cuda::check(e, "readAsync");
    }
    return QueueWait(env, pinned, len, ta);
  });
}

Napi::Value SynchronizeAsync(const Napi::CallbackInfo& info) {
  return tf::guarded(info, [&]() -> Napi::Value { return QueueWait(info.Env(), nullptr, 0, Napi::TypedArray()); });
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return tf::guarded(info, [&]() -> Napi::Value {
    tf::cuda::synchronize();
    return info.Env().Undefined();
  });
}

Napi::Value SetDevice(const Napi::CallbackInfo& info) {
  return tf::guarded(info, [&]() -> Napi::Value {
    tf::cuda::select_device(DeviceArg(info, "setDevice"));
    return info.Env().Undefined();
  });
}

Napi::Value CurrentDevice(const Napi::CallbackInfo& info) {
  return tf::guarded(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), tf::cuda::current_device()); });
}

// memory(resetPeak?): this process's device memory as the allocator sees it.
Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const tf::MemoryStats m = tf::memory_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("buffers", Napi::Number::New(env, static_cast<double>(m.buffers)));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(m.buffer_bytes)));
  o.Set("scratchBytes", Napi::Number::New(env, static_cast<double>(m.scratch_bytes)));
  o.Set("peakBytes", Napi::Number::New(env, static_cast<double>(m.peak_bytes)));
  o.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(tf::cuda::device_cached_bytes())));
  o.Set("deviceAllocations", Napi::Number::New(env, static_cast<double>(tf::cuda::device_fresh_allocations())));
  if (info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value()) tf::reset_peak_bytes();
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tf::export_common(env, exports, &kDevice);
  exports.Set("readAsync", Napi::Function::New(env, ReadAsync, "readAsync"));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
  exports.Set("synchronizeAsync", Napi::Function::New(env, SynchronizeAsync, "synchronizeAsync"));
  exports.Set("setDevice", Napi::Function::New(env, SetDevice, "setDevice"));
  exports.Set("currentDevice", Napi::Function::New(env, CurrentDevice, "currentDevice"));
  exports.Set("memory", Napi::Function::New(env, Memory, "memory"));
  exports.Set("emptyCache", Napi::Function::New(env, [](const Napi::CallbackInfo& i) {
    return tf::guarded(i, [&]() -> Napi::Value { tf::cuda::empty_device_cache(); return i.Env().Undefined(); });
  }, "emptyCache"));
  exports.Set("deviceCount", Napi::Function::New(env, DeviceCount, "deviceCount"));
  exports.Set("deviceProperties", Napi::Function::New(env, DeviceProperties, "deviceProperties"));
  exports.Set("memoryInfo", Napi::Function::New(env, MemoryInfo, "memoryInfo"));
  exports.Set("runtimeVersion", Napi::Function::New(env, RuntimeVersion, "runtimeVersion"));
  exports.Set("driverVersion", Napi::Function::New(env, DriverVersion, "driverVersion"));
  return exports;
}

}  // namespace

NODE_API_MODULE(tensorforge_cuda, Init)

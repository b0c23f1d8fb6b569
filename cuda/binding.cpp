// N-API surface of the CUDA addon (tensorforge_cuda.node): argument validation and conversion
// to JS values, nothing else. All CUDA calls live in device.cu; this file is host-only C++.
// Exports: deviceCount, deviceProperties(i), memoryInfo(i), runtimeVersion, driverVersion.
// No global state, so the addon loads in any number of worker_threads (N-API is context-aware).
// Nothing a JS caller passes may crash the process: bad arguments become TypeError/RangeError.
#include <napi.h>

#include <cmath>
#include <string>

#include "device.h"

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceCount", Napi::Function::New(env, DeviceCount, "deviceCount"));
  exports.Set("deviceProperties", Napi::Function::New(env, DeviceProperties, "deviceProperties"));
  exports.Set("memoryInfo", Napi::Function::New(env, MemoryInfo, "memoryInfo"));
  exports.Set("runtimeVersion", Napi::Function::New(env, RuntimeVersion, "runtimeVersion"));
  exports.Set("driverVersion", Napi::Function::New(env, DriverVersion, "driverVersion"));
  return exports;
}

}  // namespace

NODE_API_MODULE(tensorforge_cuda, Init)

// The N-API surface both addons share: buffer handles, view and attribute validation, and the
// kernel calls (run, runPacked, compileAttrs, kernelNames). The CPU addon (addon.cpp) and the
// CUDA addon (cuda/binding.cpp) each compile this file with their own Backend, which says where a
// buffer's memory lives; their kernel tables differ, their checks do not.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/common.h"

namespace tf {

// Where buffer memory lives. Every function may throw tf::Error; alloc throws an Allocation
// error when out of memory. read() returns once the bytes are in host memory.
struct Backend {
  napi_type_tag buffer_tag;  // handles of one addon are not accepted by the other
  void* (*alloc)(size_t bytes);
  void (*free)(void* p, size_t bytes);
  void (*write)(void* dst, const void* host_src, size_t bytes);
  void (*read)(void* host_dst, const void* src, size_t bytes);
};

struct Buffer {
  void* data = nullptr;
  size_t bytes = 0;
  void release();
  ~Buffer() { release(); }
};

// Adds alloc, free, read, write, run, runPacked, compileAttrs and kernelNames to `exports`,
// with `backend` behind the buffers. Called once per addon load.
void export_common(Napi::Env env, Napi::Object exports, const Backend* backend);

[[noreturn]] void fail(ErrorKind k, const std::string& msg);
// The JS error for a tf::Error: its message, and `code` (ERR_TF_SHAPE, ...) for ts/errors.ts.
Napi::Error to_js(Napi::Env env, const Error& e);
double get_number(const Napi::Value& v, const std::string& what);
int64_t get_index(const Napi::Value& v, const std::string& what);  // a non-negative safe integer
// The live buffer behind a handle of this addon; throws for anything else or a freed buffer.
Buffer* get_buffer(Napi::Env env, const Napi::Value& v, const std::string& what);
// The byte range [offset, offset + len) of a buffer, checked to lie inside it.
void check_range(const Buffer* b, int64_t offset, size_t len);

// Runs f, turning tf::Error and std::bad_alloc into JS errors with their codes.
template <class F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw to_js(info.Env(), e);
  } catch (const std::bad_alloc&) {
    throw to_js(info.Env(), Error(ErrorKind::Allocation, "out of memory"));
  }
}

}  // namespace tf

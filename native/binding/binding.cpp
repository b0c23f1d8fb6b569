// The N-API functions both addons share (see binding.h). Every value that crosses here is
// checked before a kernel sees it: handles carry the addon's type tag, views must lie inside
// their buffer, shapes and attributes must be well-formed integers.
#include "binding/binding.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "core/memory.h"
#include "core/registry.h"

namespace tf {
namespace {
const Backend* g_backend = nullptr;

// Largest single allocation we accept; anything bigger is surely a bug in the caller.
constexpr double kMaxAllocBytes = 1ull << 40;
constexpr double kMaxSafeInt = 9007199254740991.0;  // 2^53 - 1



const char* error_code(ErrorKind k) {
  switch (k) {
    case ErrorKind::Shape: return "ERR_TF_SHAPE";
    case ErrorKind::DType: return "ERR_TF_DTYPE";
    case ErrorKind::Device: return "ERR_TF_DEVICE";
    case ErrorKind::Index: return "ERR_TF_INDEX";
    case ErrorKind::Value: return "ERR_TF_VALUE";
    case ErrorKind::Allocation: return "ERR_TF_ALLOCATION";
    case ErrorKind::Disposed: return "ERR_TF_DISPOSED";
    case ErrorKind::Argument: return "ERR_TF_ARGUMENT";
  }
  return "ERR_TF";
}


}  // namespace

void Buffer::release() {
  if (!data) return;
  g_backend->free(data, bytes);
  data = nullptr;
  note_free(MemKind::Buffer, bytes);
}

[[noreturn]] void fail(ErrorKind k, const std::string& msg) { throw Error(k, msg); }

Napi::Error to_js(Napi::Env env, const Error& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, error_code(e.kind)));
  return err;
}

double get_number(const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) fail(ErrorKind::Argument, what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(d)) fail(ErrorKind::Argument, what + " must not be NaN");
  return d;
}

int64_t get_index(const Napi::Value& v, const std::string& what) {
  double d = get_number(v, what);
  if (!(d >= 0 && d <= kMaxSafeInt) || d != std::floor(d))
    fail(ErrorKind::Argument, what + " must be a non-negative integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

template <class What>
Buffer* get_buffer_(Napi::Env env, const Napi::Value& v, What&& what) {
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(env, v, &g_backend->buffer_tag, &tagged);
  if (!tagged) fail(ErrorKind::Argument, what() + " is not a tensorforge buffer handle");
  Buffer* b = v.As<Napi::External<Buffer>>().Data();
  if (!b->data) fail(ErrorKind::Disposed, what() + " refers to a buffer that was already freed (tensor disposed?)");
  return b;
}

Buffer* get_buffer(Napi::Env env, const Napi::Value& v, const std::string& what) {
  return get_buffer_(env, v, [&]() { return what; });
}

void check_range(const Buffer* b, int64_t off, size_t len) {
  if (static_cast<size_t>(off) > b->bytes || len > b->bytes - static_cast<size_t>(off))
    fail(ErrorKind::Index, "transfer of " + std::to_string(len) + " bytes at offset " + std::to_string(off) +
                               " exceeds the buffer's " + std::to_string(b->bytes) + " bytes");
}

namespace {
// Both the nested and the packed form of run() check their views with these, in the same
// order, so a malformed view raises the same error whichever form carried it. Messages are
// built only on failure: this runs for every view of every op.
std::string view_field(int index, const char* field, int dim = -1) {
  return "view " + std::to_string(index) + field + (dim >= 0 ? std::to_string(dim) + "]" : "");
}

int64_t view_index(double d, int index, const char* field, int dim = -1) {
  if (std::isnan(d)) fail(ErrorKind::Argument, view_field(index, field, dim) + " must not be NaN");
  if (!(d >= 0 && d <= kMaxSafeInt) || d != std::floor(d))
    fail(ErrorKind::Argument,
         view_field(index, field, dim) + " must be a non-negative integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

DType view_dtype(double d, int index) {
  int64_t dt = view_index(d, index, " dtype");
  if (dt >= kNumDTypes) fail(ErrorKind::DType, view_field(index, "") + ": unknown dtype code " + std::to_string(dt));
  return static_cast<DType>(dt);
}

void check_ndim(uint32_t ndim, int index) {
  if (ndim > static_cast<uint32_t>(kMaxDims))
    fail(ErrorKind::Shape, view_field(index, "") + ": at most " + std::to_string(kMaxDims) +
                               " dims are supported, got " + std::to_string(ndim));
}

// dims(i, false) yields shape[i] and dims(i, true) strides[i], as doubles known to be numbers.
template <class Dims>
View finish_view(Buffer* buf, int index, DType dtype, int64_t offset, int ndim, Dims&& dims, const char** lo,
                 const char** hi) {
  View view;
  view.dtype = dtype;
  view.ndim = ndim;
  // Bounds in elements, in 128-bit arithmetic so no product can overflow unnoticed.
  __int128 numel = 1, last = offset;
  for (int i = 0; i < ndim; i++) {
    view.shape[i] = view_index(dims(i, false), index, " shape[", i);
    view.strides[i] = view_index(dims(i, true), index, " strides[", i);
    numel *= view.shape[i];
    if (numel > static_cast<__int128>(kMaxSafeInt)) fail(ErrorKind::Shape, view_field(index, "") + ": too many elements");
    if (view.shape[i] > 0) last += static_cast<__int128>(view.shape[i] - 1) * view.strides[i];
  }
  size_t esize = dtype_size(view.dtype);
  if (numel > 0 && (last + 1) * static_cast<__int128>(esize) > static_cast<__int128>(buf->bytes))
    fail(ErrorKind::Index, view_field(index, "") + " reaches past the end of its buffer (" +
                               std::to_string(buf->bytes) + " bytes)");
  char* base = static_cast<char*>(buf->data);
  view.data = base + offset * esize;
  *lo = numel > 0 ? base + offset * esize : base;
  *hi = numel > 0 ? base + static_cast<size_t>(last + 1) * esize : base;
  return view;
}

// A view from JS: [handle, dtype, offset, shape[], strides[]]
View get_view(Napi::Env env, const Napi::Value& v, int index, const char** lo, const char** hi) {
  std::string what = "view " + std::to_string(index);
  if (!v.IsArray()) fail(ErrorKind::Argument, what + " must be [buffer, dtype, offset, shape, strides]");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != 5) fail(ErrorKind::Argument, what + " must be [buffer, dtype, offset, shape, strides]");
  Buffer* buf = get_buffer(env, a.Get(0u), what);
  DType dtype = view_dtype(get_number(a.Get(1u), what + " dtype"), index);
  int64_t offset = view_index(get_number(a.Get(2u), what + " offset"), index, " offset");
  Napi::Value sv = a.Get(3u), tv = a.Get(4u);
  if (!sv.IsArray() || !tv.IsArray()) fail(ErrorKind::Argument, what + ": shape and strides must be arrays");
  Napi::Array shape = sv.As<Napi::Array>(), strides = tv.As<Napi::Array>();
  if (shape.Length() != strides.Length())
    fail(ErrorKind::Argument, what + ": shape and strides must have the same length");
  check_ndim(shape.Length(), index);
  return finish_view(buf, index, dtype, offset, static_cast<int>(shape.Length()),
                     [&](int i, bool stride) {
                       return stride ? get_number(strides.Get(i), what + " strides[" + std::to_string(i) + "]")
                                     : get_number(shape.Get(i), what + " shape[" + std::to_string(i) + "]");
                     },
                     lo, hi);
}

// The packed form: handles[i] with desc holding, view after view,
//   dtype, offset, ndim, shape[0..ndim), strides[0..ndim)
// as float64s. desc is a reused scratch array: entries after the last view are ignored.
View get_packed_view(Napi::Env env, const Napi::Value& handle, const double* desc, size_t len, size_t* pos,
                     int index, const char** lo, const char** hi) {
  Buffer* buf = get_buffer_(env, handle, [&]() { return "view " + std::to_string(index); });
  auto need = [&](size_t n) {
    if (len - *pos < n)
      fail(ErrorKind::Argument, view_field(index, "") + ": the view descriptor ends early (" + std::to_string(len) +
                                    " entries)");
  };
  need(3);
  const double* d = desc + *pos;
  DType dtype = view_dtype(d[0], index);
  int64_t offset = view_index(d[1], index, " offset");
  if (std::isnan(d[2]) || !(d[2] >= 0) || d[2] != std::floor(d[2]))
    fail(ErrorKind::Argument, view_field(index, " ndim") + " must be a non-negative integer");
  check_ndim(d[2] > kMaxDims ? kMaxDims + 1 : static_cast<uint32_t>(d[2]), index);
  const int ndim = static_cast<int>(d[2]);
  need(3 + 2 * static_cast<size_t>(ndim));
  *pos += 3 + 2 * static_cast<size_t>(ndim);
  return finish_view(buf, index, dtype, offset, ndim,
                     [&](int i, bool stride) { return d[3 + (stride ? ndim : 0) + i]; },
                     lo, hi);
}

void get_attrs(const Napi::Value& v, Attrs& attrs) {
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsObject() || v.IsArray()) fail(ErrorKind::Argument, "attrs must be a plain object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    Napi::Value key = keys.Get(i);
    std::string k = key.As<Napi::String>().Utf8Value();
    Napi::Value x = o.Get(key);
    if (x.IsNumber()) {
      attrs.num[k] = x.As<Napi::Number>().DoubleValue();
    } else if (x.IsBoolean()) {
      attrs.num[k] = x.As<Napi::Boolean>().Value() ? 1 : 0;
    } else if (x.IsString()) {
      attrs.str[k] = x.As<Napi::String>().Utf8Value();
    } else if (x.IsArray()) {
      Napi::Array arr = x.As<Napi::Array>();
      if (arr.Length() > 1u << 20) fail(ErrorKind::Argument, "attribute '" + k + "' is too long");
      std::vector<int64_t> list;
      for (uint32_t j = 0; j < arr.Length(); j++) {
        double d = get_number(arr.Get(j), "attribute '" + k + "'[" + std::to_string(j) + "]");
        if (std::fabs(d) > kMaxSafeInt || d != std::floor(d))
          fail(ErrorKind::Argument, "attribute '" + k + "' must hold integers");
        list.push_back(static_cast<int64_t>(d));
      }
      attrs.ints[k] = std::move(list);
    } else {
      fail(ErrorKind::Argument, "attribute '" + k + "' must be a number, boolean, string or integer array");
    }
  }
}


Napi::Value Alloc(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    double bytes = get_number(info[0], "byte count");
    if (!(bytes >= 0) || bytes != std::floor(bytes))
      fail(ErrorKind::Argument, "byte count must be a non-negative integer");
    if (bytes > kMaxAllocBytes)
      fail(ErrorKind::Allocation, "cannot allocate " + std::to_string(bytes) + " bytes: more than the 1 TiB limit");
    size_t n = static_cast<size_t>(bytes);
    void* p = nullptr;
    try {
      p = g_backend->alloc(n);
    } catch (const std::bad_alloc&) {
      fail(ErrorKind::Allocation, "out of memory allocating " + std::to_string(n) + " bytes");
    }
    Buffer* b = new Buffer();
    b->data = p;
    b->bytes = n;
    note_alloc(MemKind::Buffer, n);
    auto ext = Napi::External<Buffer>::New(info.Env(), b, [](Napi::Env, Buffer* buf) { delete buf; });
    napi_type_tag_object(info.Env(), ext, &g_backend->buffer_tag);
    return ext;
  });
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    get_buffer(info.Env(), info[0], "handle")->release();
    return info.Env().Undefined();
  });
}

// read(handle, byteOffset, typedArray) / write(handle, byteOffset, typedArray)
Napi::Value Transfer(const Napi::CallbackInfo& info, bool to_js_side) {
  return guarded(info, [&]() -> Napi::Value {
    Buffer* b = get_buffer(info.Env(), info[0], "handle");
    int64_t off = get_index(info[1], "byte offset");
    if (!info[2].IsTypedArray()) fail(ErrorKind::Argument, "expected a TypedArray");
    Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
    size_t len = ta.ByteLength();
    check_range(b, off, len);
    char* js = static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    char* nat = static_cast<char*>(b->data) + off;
    if (len) {
      if (to_js_side) g_backend->read(js, nat, len);
      else g_backend->write(nat, js, len);
    }
    return info.Env().Undefined();
  });
}

// An output may not overlap any other view, unless the kernel is elementwise and it is the
// very same view (x.add_(y) style). Overlap would make results depend on iteration order.
void check_overlap(const std::string& name, const KernelDef* k, const std::vector<View>& views, const char* const* lo,
                   const char* const* hi) {
  const uint32_t n = static_cast<uint32_t>(views.size());
  for (uint32_t o = static_cast<uint32_t>(k->inputs); o < n; o++)
    for (uint32_t j = 0; j < n; j++) {
      if (j == o || lo[o] >= hi[j] || lo[j] >= hi[o]) continue;
      bool same = k->in_place && j < static_cast<uint32_t>(k->inputs) && views[j].data == views[o].data &&
                  views[j].ndim == views[o].ndim &&
                  std::memcmp(views[j].strides, views[o].strides, sizeof(int64_t) * views[o].ndim) == 0;
      if (!same) fail(ErrorKind::Argument, name + ": output view " + std::to_string(o) + " overlaps view " +
                                               std::to_string(j));
    }
}

void check_view_count(const std::string& name, const KernelDef* k, size_t got) {
  if (got != static_cast<size_t>(k->inputs + k->outputs))
    fail(ErrorKind::Argument, name + ": expected " + std::to_string(k->inputs) + " inputs and " +
                                  std::to_string(k->outputs) + " outputs, got " + std::to_string(got) + " views");
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) fail(ErrorKind::Argument, "op name must be a string");
    std::string name = info[0].As<Napi::String>().Utf8Value();
    const KernelDef* k = find_kernel(name);
    if (!k) fail(ErrorKind::Argument, "unknown op '" + name + "'");
    if (!info[1].IsArray()) fail(ErrorKind::Argument, name + ": views must be an array");
    Napi::Array arr = info[1].As<Napi::Array>();
    check_view_count(name, k, arr.Length());
    uint32_t n = arr.Length();
    std::vector<View> views(n);
    std::vector<const char*> lo(n), hi(n);
    for (uint32_t i = 0; i < n; i++) views[i] = get_view(env, arr.Get(i), static_cast<int>(i), &lo[i], &hi[i]);
    check_overlap(name, k, views, lo.data(), hi.data());
    Attrs attrs;
    get_attrs(info[2], attrs);
    k->fn(views, attrs);
    return env.Undefined();
  });
}

// Kernels by index, in kernelNames() order: the packed form names its op by number, so the hot
// path neither converts nor looks up a string.
struct KernelEntry {
  std::string name;
  const KernelDef* def;
};
const std::vector<KernelEntry>& kernel_table() {
  static const std::vector<KernelEntry> table = [] {
    std::vector<KernelEntry> t;
    for (auto& n : kernel_names()) t.push_back({n, find_kernel(n)});
    return t;
  }();
  return table;
}

Napi::Value KernelNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& t = kernel_table();
  Napi::Array a = Napi::Array::New(env, t.size());
  for (uint32_t i = 0; i < t.size(); i++) a.Set(i, Napi::String::New(env, t[i].name));
  return a;
}

// Attributes parsed once, for callers that pass the same (frozen) attrs object on every call.
const napi_type_tag kAttrsTag = {0x7466617474727300ULL, 0x636f6d70696c6564ULL};

Napi::Value CompileAttrs(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto attrs = std::make_unique<Attrs>();
    get_attrs(info[0], *attrs);
    auto ext = Napi::External<Attrs>::New(info.Env(), attrs.release(), [](Napi::Env, Attrs* a) { delete a; });
    napi_type_tag_object(info.Env(), ext, &kAttrsTag);
    return ext;
  });
}

// runPacked(kernelIndex, desc: Float64Array, attrs, ...handles): run() without nested arrays.
// attrs is undefined, a plain object, or what compileAttrs returned.
Napi::Value RunPacked(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const auto& table = kernel_table();
    double ki = get_number(info[0], "kernel index");
    if (!(ki >= 0 && ki < static_cast<double>(table.size())) || ki != std::floor(ki))
      fail(ErrorKind::Argument, "unknown kernel index " + std::to_string(ki));
    const KernelEntry& entry = table[static_cast<size_t>(ki)];
    const KernelDef* k = entry.def;
    const size_t n = info.Length() < 3 ? 0 : info.Length() - 3;
    check_view_count(entry.name, k, n);
    napi_typedarray_type type = napi_int8_array;
    size_t len = 0;
    void* data = nullptr;
    bool is_ta = false;
    napi_is_typedarray(env, info[1], &is_ta);
    if (is_ta) napi_get_typedarray_info(env, info[1], &type, &len, &data, nullptr, nullptr);
    if (!is_ta || type != napi_float64_array)
      fail(ErrorKind::Argument, entry.name + ": the view descriptor must be a Float64Array");
    const double* desc = static_cast<const double*>(data);
    std::vector<View> views(n);
    const char* bounds[2 * 16];
    std::vector<const char*> more(n > 16 ? 2 * n : 0);
    const char** lo = n > 16 ? more.data() : bounds;
    const char** hi = lo + n;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++)
      views[i] = get_packed_view(env, info[3 + i], desc, len, &pos, static_cast<int>(i), &lo[i], &hi[i]);
    check_overlap(entry.name, k, views, lo, hi);
    Napi::Value av = info[2];
    bool compiled = false;
    if (av.IsExternal()) napi_check_object_type_tag(env, av, &kAttrsTag, &compiled);
    if (compiled) {
      k->fn(views, *av.As<Napi::External<Attrs>>().Data());
    } else {
      Attrs attrs;
      get_attrs(av, attrs);
      k->fn(views, attrs);
    }
    return env.Undefined();
  });
}

}  // namespace

void export_common(Napi::Env env, Napi::Object exports, const Backend* backend) {
  g_backend = backend;
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("read", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Transfer(i, true); }, "read"));
  exports.Set("write", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Transfer(i, false); }, "write"));
  exports.Set("run", Napi::Function::New(env, Run, "run"));
  exports.Set("runPacked", Napi::Function::New(env, RunPacked, "runPacked"));
  exports.Set("compileAttrs", Napi::Function::New(env, CompileAttrs, "compileAttrs"));
  exports.Set("kernelNames", Napi::Function::New(env, KernelNames, "kernelNames"));
}

}  // namespace tf

// Device query and memory functions: the only CUDA runtime calls of the addon so far.
// Kept apart from the N-API binding so the binding stays host-only C++ and each op family
// added later (matmul, conv, …) gets its own .cu file beside this one.
// Errors become return values here: the runtime's codes for "no driver" / "no device" must
// read as zero devices, and other failures as an error string the binding turns into a JS Error.
#include "device.h"
#include "device_props.h"

#include <cuda_runtime.h>

namespace tfcuda {

int device_count() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // reset the last-error slot so later calls do not report this one
    return 0;
  }
  return n < 0 ? 0 : n;
}

int runtime_version() {
  int v = 0;
  return cudaRuntimeGetVersion(&v) == cudaSuccess ? v : 0;
}

int driver_version() {
  int v = 0;
  return cudaDriverGetVersion(&v) == cudaSuccess ? v : 0;
}

static int attribute_or_zero(cudaDeviceAttr attr, int device) {
  int v = 0;
  if (cudaDeviceGetAttribute(&v, attr, device) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

std::string device_properties(int device, DeviceProperties* out) {
  cudaDeviceProp p{};
  cudaError_t err = cudaGetDeviceProperties(&p, device);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return cudaGetErrorString(err);
  }
  copy_properties(p, out);
  char bus[32] = {0};
  if (cudaDeviceGetPCIBusId(bus, sizeof bus, device) == cudaSuccess) out->pciBusId = bus;
  else cudaGetLastError();
  // CUDA 13 dropped the clock fields from cudaDeviceProp; the attributes still answer.
  out->clockRateKHz = attribute_or_zero(cudaDevAttrClockRate, device);
  out->memoryClockRateKHz = attribute_or_zero(cudaDevAttrMemoryClockRate, device);
  out->integrated = p.integrated != 0;
  out->eccEnabled = p.ECCEnabled != 0;
  return {};
}

std::string memory_info(int device, MemoryInfo* out) {
  // cudaMemGetInfo reports on the calling thread's current device (creating its primary context
  // on first use), so switch to `device` and back so callers on this thread see no change.
  int previous = 0;
  cudaError_t err = cudaGetDevice(&previous);
  if (err == cudaSuccess) err = cudaSetDevice(device);
  if (err == cudaSuccess) {
    err = cudaMemGetInfo(&out->free, &out->total);
    cudaSetDevice(previous);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    return cudaGetErrorString(err);
  }
  return {};
}

}  // namespace tfcuda

// The DeviceProperties fields read straight from a cudaDeviceProp, shared by the runtime's
// device query (device.cu) and the emulated runtime (scripts/cuda-emu). The callers fill what a
// cudaDeviceProp does not hold (PCI bus id, clocks).
#pragma once
#include <cuda_runtime.h>

#include "device.h"

namespace tfcuda {

inline void copy_properties(const cudaDeviceProp& p, DeviceProperties* out) {
  out->name = p.name;
  out->totalMemory = p.totalGlobalMem;
  out->major = p.major;
  out->minor = p.minor;
  out->multiProcessorCount = p.multiProcessorCount;
  out->warpSize = p.warpSize;
  out->maxThreadsPerBlock = p.maxThreadsPerBlock;
  out->maxThreadsPerMultiProcessor = p.maxThreadsPerMultiProcessor;
  out->sharedMemoryPerBlock = p.sharedMemPerBlock;
  out->sharedMemoryPerBlockOptin = p.sharedMemPerBlockOptin;
  out->sharedMemoryPerMultiProcessor = p.sharedMemPerMultiprocessor;
  out->registersPerBlock = p.regsPerBlock;
  out->l2CacheSize = p.l2CacheSize;
  out->memoryBusWidth = p.memoryBusWidth;
}

}  // namespace tfcuda

#!/bin/sh
# Emulated CUDA addon: test tooling that runs the CUDA kernels' code on host threads; it checks
# their logic, not their speed or races.
#
# Builds build/emu/tensorforge_cuda.node with g++ from the same sources as the real CUDA addon
# (cuda/*.cu, cuda/binding.cpp, native/binding/binding.cpp, native/core/{registry,accounting}.cpp,
# native/ops/*.cpp), with:
#   - rewrite.py turning each <<<...>>> launch into an emu_launch(...) call and `extern __shared__`
#     into the launch's dynamic shared memory (it fails on any launch it cannot parse);
#   - shim/ standing in for the CUDA headers (builtins, warp shuffles, atomics, bf16) and for
#     cuda/mma.cuh (mma.sync computed from the documented fragment layouts, cp.async);
#   - runtime_emu.cpp replacing cuda/runtime.cu and cuda/device.cu: host memory as device memory,
#     one emulated sm_90 device, and the emulator that runs every CUDA thread of a block as a fiber
#     (blocks one after another, threads switched at __syncthreads / warp collectives).
# Checks on top of the results: launches with a bad configuration, more threads than the
# kernel's __launch_bounds__, or > 48 KiB dynamic shared memory without cudaFuncSetAttribute fail
# in check_launch; shared memory and Scratch start NaN-filled; cp.async bytes land only at the
# covering cp_async_wait; warp collectives with exited lanes or threads split between barriers are
# reported. Threads run in index order at each barrier; TF_CUDA_EMU_REVERSE=1 runs them (and the
# blocks) in reverse, which exposes a missing barrier in the other direction.
# Use: scripts/cuda-emu/build.sh, then TF_EMULATE_CUDA=kernels npx jest test/cuda/<file>
# (tests see TF_CUDA_EMULATED=1 and may pick smaller sizes).
# Limits: x86-64 Linux only (the fiber switch is assembly); no real concurrency, so races between
# blocks or within a barrier interval in the order not tried go unseen; FP contraction is off
# (nvcc fuses a*b+c into FMA by default, so last-bit differences from a GPU are expected);
# fast-math intrinsics (__expf, ...) are computed accurately; atomics are exact and in order.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/build/emu"
src="$out/src"
mkdir -p "$src" "$out/obj"

# Rewritten sources; a file is only replaced when its content changes, so make rebuilds what changed.
for f in "$root"/cuda/*.cu "$root"/cuda/*.cuh "$root"/cuda/*.h "$root"/cuda/*.cpp; do
  name=$(basename "$f")
  case "$name" in runtime.cu|device.cu) continue ;; esac
  case "$name" in
    *.cu|*.cuh) python3 "$here/rewrite.py" "$f" "$src/$name.tmp" ;;
    *) cp "$f" "$src/$name.tmp" ;;
  esac
  if cmp -s "$src/$name.tmp" "$src/$name"; then rm "$src/$name.tmp"; else mv "$src/$name.tmp" "$src/$name"; fi
done
# The emulated mma.cuh replaces the real one (same directory, so "mma.cuh" includes find it).
if ! cmp -s "$here/shim/mma.cuh" "$src/mma.cuh"; then cp "$here/shim/mma.cuh" "$src/mma.cuh"; fi

napi=$(cd "$root" && node -p "require('node-addon-api').include" | tr -d '"')
headers="$root/node_modules/node-api-headers/include"
[ -f "$headers/node_api.h" ] || headers=$(dirname "$(node -p "process.execPath")")/../include/node

srcs=""
for f in "$src"/*.cu; do srcs="$srcs $f"; done
srcs="$srcs $src/binding.cpp $src/precision.cpp $root/native/binding/binding.cpp $root/native/core/registry.cpp"
srcs="$srcs $root/native/core/accounting.cpp $here/runtime_emu.cpp"
for f in "$root"/native/ops/*.cpp; do srcs="$srcs $f"; done

objs=""
rules=""
for f in $srcs; do
  o="$out/obj/$(echo "$f" | sed "s|^$root/||; s|/|_|g").o"
  objs="$objs $o"
  lang=c++
  rules="$rules
$o: $f
	\$(CXX) -x $lang \$(FLAGS) -c $f -o $o
"
done

cat > "$out/Makefile" <<MK
CXX = g++
FLAGS = -std=c++20 -O2 -g0 -fPIC -pthread -ffp-contract=off -fno-math-errno -fvisibility=hidden -w \\
  -MMD -MP -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -DTF_CUDA_EMULATED=1 \\
  -I$here/shim -I$src -I$root/native -I$napi -I$headers
$out/tensorforge_cuda.node: $objs
	\$(CXX) -shared -pthread -o \$@ $objs
$rules
-include $out/obj/*.d
MK
make -s -f "$out/Makefile" -j"${JOBS:-2}"
echo "built $out/tensorforge_cuda.node"

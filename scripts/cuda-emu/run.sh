#!/bin/sh
# Builds and runs the host emulation of cuda/conv.cu (see conv_emu.cpp). The shim headers stand in
# for the CUDA runtime, and the <<<...>>> launches are rewritten to emu_launch(...) calls.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${TMPDIR:-/tmp}/tf-cuda-emu
mkdir -p "$out"
cp "$here"/shim/* "$out"/
python3 - "$root/cuda/conv.cu" "$out/conv.cu" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
s = re.sub(r'(\w+(?:<[^;<>]*>)?)<<<(.*?), (\w+), 0, stream\(\)>>>\((.*?)\);', r'emu_launch(dim3(\2), \3, [&] { \1(\4); });', s)
assert '<<<' not in s, 'a launch the rewrite does not handle'
open(sys.argv[2], 'w').write(s)
PY
g++ -std=c++20 -O1 -w -pthread -I"$out" -I"$root/native" "$here/conv_emu.cpp" "$root/native/core/registry.cpp" \
  "$root/native/ops/conv.cpp" -o "$out/conv_emu"
"$out/conv_emu" "$@"

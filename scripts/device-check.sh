#!/usr/bin/env bash
# The CUDA checks for a session with a GPU, as one prepared script: run from the repository root
# on the device machine (a fresh, bare machine: it builds what is missing first).
#
#   scripts/device-check.sh                 every step, in order
#   scripts/device-check.sh build smoke     only the named steps (in the order below)
#   scripts/device-check.sh --list          the steps and their time budgets
#
# Steps (each continues on failure; its exit code goes into the summary):
#   gpu        nvidia-smi, nvcc, compute-sanitizer and torch versions (also decides "GPU present")
#   prep       node_modules (unpacked from a carried tarball, else npm ci) and dist/ (tsc) if missing
#   build      the CUDA addon for sm_90, only if build/Release/cuda/tensorforge_cuda.node is missing
#   smoke      node: load dist, make a CUDA tensor, add, read back
#   jest-cuda  the CUDA-vs-CPU files (test/cuda/*, test/cuda.test.ts, test/device.test.ts), in the
#              'cpu' jest project where describeCuda runs them     -> $OUT/jest-cuda.json
#   jest-full  TF_TEST_DEVICE=cuda jest: the whole suite with CUDA as the default device -> $OUT/jest-full.json
#   memcheck   compute-sanitizer --tool memcheck on jest test/cuda --runInBand
#   racecheck  compute-sanitizer --tool racecheck on the conv and attention CUDA tests
#   bench      npm run bench -- --filter cuda (the CUDA cases, side by side in one run with the
#              torch CUDA peers' standalone timings of the same shapes)
# Without a GPU (no nvidia-smi, or it lists none) every step but gpu and prep is skipped, so the
# script can be tried anywhere.
#
# Time: each step has a budget (seconds; DEVICE_CHECK_BUDGET_<STEP>, e.g. DEVICE_CHECK_BUDGET_JEST_FULL=300)
# and the whole run a deadline (DEVICE_CHECK_DEADLINE, default 570 s, so one 600 s device call holds
# it): a step gets min(its budget, the time left) and is killed at that limit (exit code 124), and a
# step with under 20 s left is skipped. All the steps together need more than one call: run
#   scripts/device-check.sh gpu prep build smoke jest-cuda     then
#   scripts/device-check.sh jest-full memcheck racecheck bench
# in two calls on the same (warm) machine; build/ and dist/ stay there between calls.
#
# Environment: OUT (logs; default ./device-out), DEVICE_CHECK_FORCE_BUILD=1 (rebuild even if the
# addon exists), DEVICE_CHECK_NODE_MODULES_TGZ (default .device-carry/node_modules.tar.gz: a
# tarball of node_modules, made where npm works, e.g.
#   tar czf .device-carry/node_modules.tar.gz --exclude=node_modules/@stdlib node_modules
# since the device machine has no network and node_modules is too big to carry as it is),
# DEVICE_CHECK_PYTHON (the python with CUDA torch; default python3).
#
# $OUT gets at most 8 files (what the device tool brings back): summary.txt, setup.log, jest.log,
# jest-cuda.json, jest-full.json, sanitizer.log, bench.log, bench.json.
set -u -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT=$(pwd)

ALL_STEPS=(gpu prep build smoke jest-cuda jest-full memcheck racecheck bench)
declare -A BUDGET=([gpu]=30 [prep]=240 [build]=420 [smoke]=60 [jest-cuda]=240 [jest-full]=420
                   [memcheck]=300 [racecheck]=180 [bench]=300)
declare -A LOGFILE=([gpu]=setup.log [prep]=setup.log [build]=setup.log [smoke]=setup.log
                    [jest-cuda]=jest.log [jest-full]=jest.log [memcheck]=sanitizer.log
                    [racecheck]=sanitizer.log [bench]=bench.log)
declare -A NEEDS_GPU=([gpu]=0 [prep]=0 [build]=1 [smoke]=1 [jest-cuda]=1 [jest-full]=1
                      [memcheck]=1 [racecheck]=1 [bench]=1)

budget_of() {  # the step's budget, DEVICE_CHECK_BUDGET_<STEP> overriding
  local var="DEVICE_CHECK_BUDGET_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  local v="${!var:-}"
  if [[ "$v" =~ ^[0-9]+$ ]]; then echo "$v"; else echo "${BUDGET[$1]}"; fi
}

if [[ "${1:-}" == "--list" || "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  for s in "${ALL_STEPS[@]}"; do printf '%-10s %4ss  -> %s\n' "$s" "$(budget_of "$s")" "${LOGFILE[$s]}"; done
  exit 0
fi

declare -A WANT=()
if [[ $# -eq 0 ]]; then
  for s in "${ALL_STEPS[@]}"; do WANT[$s]=1; done
else
  for s in "$@"; do
    if [[ -z "${BUDGET[$s]+x}" ]]; then
      echo "device-check: unknown step '$s' (steps: ${ALL_STEPS[*]})" >&2
      exit 2
    fi
    WANT[$s]=1
  done
fi

OUT="${OUT:-./device-out}"
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
STATE=$(mktemp -d "${TMPDIR:-/tmp}/device-check.XXXXXX")
trap 'rm -rf "$STATE"' EXIT
touch "$STATE/started"
START=$(date +%s)
DEADLINE=${DEVICE_CHECK_DEADLINE:-570}
JOBS=$(nproc 2>/dev/null || echo 4)
PY="${DEVICE_CHECK_PYTHON:-python3}"
NODE_MODULES_TGZ="${DEVICE_CHECK_NODE_MODULES_TGZ:-.device-carry/node_modules.tar.gz}"
export OUT STATE ROOT JOBS PY NODE_MODULES_TGZ
export TENSORFORGE_BUILD_JOBS="$JOBS" CMAKE_BUILD_PARALLEL_LEVEL="$JOBS"

HAVE_GPU=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then HAVE_GPU=1; fi

# A step says "skipped, because ..." by writing the reason here and exiting 0.
skip_because() { echo "$*" >"$STATE/skip"; echo "SKIPPED: $*"; }
export -f skip_because

# ---- the steps (each runs in its own bash under `timeout`, output to its log) ------------------

step_gpu() {
  nvidia-smi || echo "nvidia-smi failed or is missing"
  nvidia-smi -L
  local rc=$?
  { nvidia-smi -L 2>/dev/null | head -1 | grep . || echo "nvidia-smi lists no GPU"; } >"$STATE/note"
  echo "--- versions"
  nvcc --version 2>&1 | tail -1 || true
  compute-sanitizer --version 2>&1 | head -2 || true
  node --version 2>&1 || true
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1 || true
  return $rc
}

step_prep() {
  local rc=0
  if [[ ! -x node_modules/.bin/jest || ! -d node_modules/cmake-js ]]; then
    if [[ -f "$NODE_MODULES_TGZ" ]]; then
      echo "unpacking $NODE_MODULES_TGZ"
      tar xzf "$NODE_MODULES_TGZ" || rc=1
    else
      echo "node_modules missing and no $NODE_MODULES_TGZ: npm ci"
      npm ci --no-audit --no-fund --prefer-offline || rc=1
    fi
  else
    echo "node_modules present"
  fi
  if [[ ! -f dist/ts/index.js ]] || [[ -n "$(find ts bench examples -name '*.ts' -newer dist/ts/index.js 2>/dev/null | head -1)" ]]; then
    echo "building dist (tsc -p tsconfig.build.json)"
    npx tsc -p tsconfig.build.json || rc=1
  else
    echo "dist is up to date"
  fi
  return $rc
}

step_build() {
  local addon=build/Release/cuda/tensorforge_cuda.node
  if [[ -f "$addon" && "${DEVICE_CHECK_FORCE_BUILD:-0}" != 1 ]]; then
    local newer
    newer=$(find cuda native CMakeLists.txt -newer "$addon" -type f 2>/dev/null | head -5)
    [[ -n "$newer" ]] && echo "WARNING: sources newer than $addon (DEVICE_CHECK_FORCE_BUILD=1 rebuilds): $newer"
    skip_because "$addon exists"
    return 0
  fi
  # a build/ carried from another checkout names that checkout in its cache: CMake refuses it
  if [[ -f build/CMakeCache.txt ]]; then
    local home
    home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' build/CMakeCache.txt)
    if [[ -n "$home" && "$home" != "$ROOT" ]]; then
      echo "build/CMakeCache.txt belongs to $home: removing the cache"
      rm -rf build/CMakeCache.txt build/CMakeFiles
    fi
  fi
  echo "building with $JOBS jobs"
  TENSORFORGE_CUDA_ARCHS=90 node scripts/build-native.js || return $?
  [[ -f "$addon" ]] || { echo "the build finished but $addon is missing (was nvcc found?)"; return 1; }
}

step_smoke() {
  node -e '
    const tf = require(require("path").resolve("dist/ts"));
    if (!tf.cuda || !tf.cuda.isAvailable()) { console.error("tf.cuda.isAvailable() is false"); process.exit(1); }
    const a = tf.tensor([1, 2, 3], [3]).to("cuda");
    const b = tf.tensor([10, 20, 30], [3], { device: "cuda" });
    const c = a.add(b);
    if (c.device !== "cuda") { console.error("a.add(b) landed on " + c.device); process.exit(1); }
    const back = Array.from(c.to("cpu").dataSync());
    console.log("smoke: [1,2,3] + [10,20,30] on cuda ->", JSON.stringify(back));
    if (JSON.stringify(back) !== "[11,22,33]") process.exit(1);
  '
}

jest_summary() {  # jest --json file, label -> a summary line and the failures
  node -e '
    const fs = require("fs"), path = require("path");
    const [file, label] = process.argv.slice(1);
    if (!fs.existsSync(file)) { console.log(label + ": no jest JSON written"); process.exit(0); }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    console.log(`${label}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + (r.numTodoTests || 0)} skipped ` +
      `of ${r.numTotalTests} tests; ${r.numFailedTestSuites} of ${r.numTotalTestSuites} suites failed`);
    const lines = [];
    for (const s of r.testResults) {
      const rel = path.relative(process.cwd(), s.name);
      const failed = s.assertionResults.filter((a) => a.status === "failed");
      if (s.status === "failed" && failed.length === 0)
        lines.push(`  SUITE FAILED ${rel}: ${(s.message || "").replace(/\u001b\[[0-9;]*m/g, "").split("\n").filter(Boolean).slice(0, 2).join(" | ")}`);
      for (const a of failed) lines.push(`  FAIL ${rel} > ${a.fullName}`);
    }
    console.log(lines.slice(0, 40).join("\n") + (lines.length > 40 ? `\n  ... ${lines.length - 40} more` : ""));
  ' "$1" "$2"
}
export -f jest_summary

step_jest_cuda() {
  TF_TEST_DEVICE=cpu npx jest --json --outputFile="$OUT/jest-cuda.json" test/cuda test/device.test.ts
  local rc=$?
  jest_summary "$OUT/jest-cuda.json" "jest test/cuda (cuda)" | tee "$STATE/note"
  return $rc
}

step_jest_full() {
  TF_TEST_DEVICE=cuda npx jest --json --outputFile="$OUT/jest-full.json"
  local rc=$?
  jest_summary "$OUT/jest-full.json" "jest full suite (cuda)" | tee "$STATE/note"
  return $rc
}

sanitize() {  # tool, jest args...
  local tool=$1
  shift
  TF_TEST_DEVICE=cpu compute-sanitizer --tool "$tool" --print-limit 50 --error-exitcode 99 --target-processes all \
    node node_modules/.bin/jest --runInBand --testTimeout=600000 "$@"
  local rc=$?
  grep -h "ERROR SUMMARY\|RACECHECK SUMMARY\|LEAK SUMMARY" "$OUT/sanitizer.log" 2>/dev/null | tail -1 | sed "s/^/$tool: /" >"$STATE/note"
  return $rc
}
export -f sanitize

step_memcheck() {
  command -v compute-sanitizer >/dev/null || { echo "compute-sanitizer not found"; return 127; }
  sanitize memcheck test/cuda
}

step_racecheck() {
  command -v compute-sanitizer >/dev/null || { echo "compute-sanitizer not found"; return 127; }
  local files
  files=$(ls test/cuda 2>/dev/null | grep -E '^(conv|attention)[^/]*\.test\.ts$' | sed 's|^|test/cuda/|' | tr '\n' ' ')
  if [[ -z "$files" ]]; then
    skip_because "no test/cuda/conv*.test.ts or attention*.test.ts yet"
    return 0
  fi
  # shellcheck disable=SC2086
  sanitize racecheck $files
}

step_bench() {
  # tensorforge's CUDA cases (copy/add/relu/sum/softmax bandwidth, matmul, conv, attention at each
  # precision), then PyTorch's timings of the same shapes in the same step, for the ratios
  npm run bench -- --filter cuda
  local rc=$?
  [[ -f bench/results/latest.json && bench/results/latest.json -nt "$STATE/started" ]] && cp bench/results/latest.json "$OUT/bench.json"
  if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    for peer in torch_cuda_matmul.py torch_cuda_peer.py torch_cuda_attention.py; do
      echo "== PyTorch: $peer --standalone"
      "$PY" "bench/peers/$peer" --standalone || rc=$?
    done
  else
    echo "NOTE: $PY has no CUDA torch: no PyTorch timings"
  fi
  return $rc
}

export -f step_gpu step_prep step_build step_smoke step_jest_cuda step_jest_full step_memcheck step_racecheck step_bench

# ---- the runner ------------------------------------------------------------------------------------

ROWS=()
NOTES=()
FAILED=0

record() {  # step, status, exit code, seconds, note
  ROWS+=("$(printf '%-10s %-9s %5s %6s  %s' "$1" "$2" "$3" "$4" "$5")")
  echo "== $1: $2 (exit $3, ${4}s)${5:+ $5}"
}

run_step() {
  local name=$1 log="$OUT/${LOGFILE[$1]}"
  if [[ "${NEEDS_GPU[$name]}" == 1 && $HAVE_GPU == 0 ]]; then
    record "$name" skipped - 0 "no GPU (nvidia-smi lists none)"
    return
  fi
  local left=$(( DEADLINE - ($(date +%s) - START) - 5 ))
  if (( left < 20 )); then
    record "$name" skipped - 0 "out of time: ${left}s left of the ${DEADLINE}s deadline"
    return
  fi
  local budget limit
  budget=$(budget_of "$name")
  limit=$(( budget < left ? budget : left ))
  rm -f "$STATE/skip" "$STATE/note"
  printf '\n===== %s (limit %ss) %s =====\n' "$name" "$limit" "$(date -u +%H:%M:%S)" >>"$log"
  local t0 rc
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" bash -c "step_${name//-/_}" >>"$log" 2>&1
  rc=$?
  local secs=$(( $(date +%s) - t0 )) note=""
  [[ -f "$STATE/note" ]] && note=$(head -1 "$STATE/note")
  if [[ -f "$STATE/skip" ]]; then
    record "$name" skipped "$rc" "$secs" "$(cat "$STATE/skip")"
  elif (( rc == 124 || rc == 137 )); then
    FAILED=1
    record "$name" TIMEOUT "$rc" "$secs" "killed at ${limit}s; ${note}"
  elif (( rc != 0 )); then
    FAILED=1
    record "$name" FAIL "$rc" "$secs" "$note"
  else
    record "$name" ok "$rc" "$secs" "$note"
  fi
  # the details: a step's own multi-line note (jest failures), else a failed step's last lines
  if [[ -f "$STATE/note" ]] && (( $(wc -l <"$STATE/note") > 1 )); then
    NOTES+=("$(head -n 25 "$STATE/note")")
  elif (( rc != 0 )) && [[ ! -f "$STATE/skip" ]]; then
    NOTES+=("--- $name: last lines of ${LOGFILE[$name]}")
    NOTES+=("$(tail -n 12 "$log" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-240)")
  fi
}

echo "device-check: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), GPU present: $([[ $HAVE_GPU == 1 ]] && echo yes || echo no), $JOBS cores, deadline ${DEADLINE}s, logs in $OUT"
for s in "${ALL_STEPS[@]}"; do
  [[ -n "${WANT[$s]+x}" ]] && run_step "$s"
done

# what comes back is capped at 16 MiB a file: keep the head and the tail of a longer log
for f in "$OUT"/*; do
  [[ -f "$f" ]] || continue
  if (( $(stat -c %s "$f") > 15 * 1024 * 1024 )); then
    { head -c $((7 * 1024 * 1024)) "$f"; printf '\n\n[... cut by device-check.sh ...]\n\n'; tail -c $((7 * 1024 * 1024)) "$f"; } >"$f.cut" && mv "$f.cut" "$f"
  fi
done

{
  echo
  echo "device-check summary ($(( $(date +%s) - START ))s in all; GPU present: $([[ $HAVE_GPU == 1 ]] && echo yes || echo no))"
  printf '%-10s %-9s %5s %6s  %s\n' step status exit secs note
  printf '%s\n' "${ROWS[@]}"
  if (( ${#NOTES[@]} > 0 )); then echo; printf '%s\n' "${NOTES[@]}"; fi
} | tee "$OUT/summary.txt"
exit $FAILED

# Shared by the Python peers of the benchmark harness (bench/peers.ts runs them): the harness's
# timing method, and the request/response protocol. The harness writes a JSON request on stdin,
#   {"targetMs": 500, "cases": [{"id": "...", "kind": "matmul", "m": ..., "k": ..., "n": ...}, ...]}
# and reads one JSON object from stdout,
#   {"peer": ..., "version": ..., "threads": ..., "config": {...}, "results": [{"id", "medianMs", "minMs", "reps"} | {"id", "error"}]}
# FLOP counts stay on the harness's side, so a peer's GFLOP/s uses exactly tensorforge's count.
import json
import math
import sys
import time


def time_op(run, target_ms):
    """bench/run.ts timeOp: warm up (at least 2 runs, up to target/5 ms or 50 runs), then time
    enough runs for about target_ms (5 to 5000) and return the median."""
    now = lambda: time.perf_counter() * 1e3
    warm_start = now()
    warm = 0
    while warm < 2 or (now() - warm_start < target_ms / 5 and warm < 50):
        run()
        warm += 1
    estimate = (now() - warm_start) / warm
    reps = max(5, min(5000, math.ceil(target_ms / max(estimate, 1e-3))))
    samples = []
    for _ in range(reps):
        t0 = now()
        run()
        samples.append(now() - t0)
    samples.sort()
    mid = len(samples) // 2
    median = samples[mid] if len(samples) % 2 else (samples[mid - 1] + samples[mid]) / 2
    return {"medianMs": median, "minMs": samples[0], "reps": reps}


def serve(peer, version, threads, config, prepare):
    """Reads the request, times every case `prepare(case)` returns a run function for (None: the
    peer has no such op), writes the response."""
    request = json.load(sys.stdin)
    results = []
    for case in request["cases"]:
        try:
            run = prepare(case)
            if run is None:
                results.append({"id": case["id"], "error": f"{peer} has no {case['kind']} case"})
                continue
            results.append({"id": case["id"], **time_op(run, request["targetMs"])})
        except Exception as e:  # one failing case must not lose the others' timings
            results.append({"id": case["id"], "error": f"{type(e).__name__}: {e}"})
        print(f"  {peer} {case['id']}: {results[-1].get('medianMs', results[-1].get('error'))}", file=sys.stderr, flush=True)
    json.dump({"peer": peer, "version": version, "threads": threads, "config": config, "results": results}, sys.stdout)
    sys.stdout.write("\n")

#!/usr/bin/env python3
# PyTorch on CUDA, the peer of the harness's "cuda matmul (<precision>)" cases: torch.matmul of
# float32 M×K and K×N on the GPU, each run timed to completion (torch.cuda.synchronize), with the
# precision equivalents of tf.setMatmulPrecision:
#   highest  torch.backends.cuda.matmul.allow_tf32 = False (true float32)
#   high     allow_tf32 = True (TF32 tensor cores)
#   medium   BF16 autocast (BF16 tensor cores, float32 accumulation)
# Protocol: peer_common.py, with cases {"id", "kind": "matmul", "m", "k", "n", "precision"}.
# Run alone (`python3 bench/peers/torch_cuda_matmul.py --standalone [M K N]`) it times the three
# precisions at M×K×N (default 4096³) and prints the same JSON object with TFLOP/s added.
import contextlib
import json
import sys

import torch

from peer_common import serve, time_op

PRECISIONS = ("highest", "high", "medium")


def prepare(c):
    if c["kind"] != "matmul":
        return None
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device")
    precision = c.get("precision", "highest")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    a = torch.randn(c["m"], c["k"], device="cuda")
    b = torch.randn(c["k"], c["n"], device="cuda")

    def run():
        torch.backends.cuda.matmul.allow_tf32 = precision == "high"
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if precision == "medium" else contextlib.nullcontext()
        with ctx:
            y = torch.matmul(a, b)
        torch.cuda.synchronize()
        return y

    return run


def config():
    return {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cuda": torch.version.cuda}


def standalone(argv):
    m, k, n = (int(x) for x in argv) if argv else (4096, 4096, 4096)
    results = []
    for p in PRECISIONS:
        case = {"id": f"cuda matmul ({p}) {m}×{k} @ {k}×{n}", "kind": "matmul", "m": m, "k": k, "n": n, "precision": p}
        try:
            t = time_op(prepare(case), 500)
            results.append({"id": case["id"], **t, "tflops": 2 * m * k * n / (t["medianMs"] / 1e3) / 1e12})
        except Exception as e:
            results.append({"id": case["id"], "error": f"{type(e).__name__}: {e}"})
    json.dump({"peer": "pytorch-cuda", "version": torch.__version__, "threads": None, "config": config(),
               "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--standalone":
        standalone(sys.argv[2:])
    else:
        serve("pytorch-cuda", torch.__version__, None, config(), prepare)

#!/usr/bin/env python3
# PyTorch on CUDA, the peer of the harness's "cuda attention (<precision>)" cases:
# F.scaled_dot_product_attention on q, k, v [B, H, T, D] on the GPU, forward alone or the
# backward alone (torch.autograd.grad from a retained graph), each run timed to completion
# (torch.cuda.synchronize). Precisions as tf.setMatmulPrecision:
#   highest  float32 tensors, allow_tf32 off (torch picks its float32 kernel, memory-efficient)
#   high     float32 tensors, allow_tf32 on
#   medium   bfloat16 tensors (torch picks its flash-attention kernel)
# Protocol: peer_common.py, with cases {"id", "kind": "attention", "b", "h", "t", "d", "causal",
# "backward", "precision"}. Run alone (`python3 bench/peers/torch_cuda_attention.py --standalone
# [B H T D]`, default 8 16 1024 64) it times every precision, forward and backward, causal and
# not, and prints the same JSON object with TFLOP/s added (FLOPs counted as bench/run.ts does:
# forward 4·B·H·T²·D, halved when causal; backward 2.5× the forward).
import json
import sys

import torch
import torch.nn.functional as F

from peer_common import serve, time_op

PRECISIONS = ("highest", "high", "medium")


def prepare(c):
    if c["kind"] != "attention":
        return None
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device")
    precision = c.get("precision", "highest")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    dtype = torch.bfloat16 if precision == "medium" else torch.float32
    shape = (c["b"], c["h"], c["t"], c["d"])
    backward = c.get("backward", False)
    causal = c.get("causal", False)
    torch.backends.cuda.matmul.allow_tf32 = precision == "high"
    q, k, v = (torch.randn(shape, device="cuda", dtype=dtype, requires_grad=backward) for _ in range(3))
    if not backward:
        def run():
            with torch.no_grad():
                y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            torch.cuda.synchronize()
            return y
        return run
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    g = torch.randn_like(out)

    def run_bwd():
        grads = torch.autograd.grad(out, (q, k, v), g, retain_graph=True)
        torch.cuda.synchronize()
        return grads
    return run_bwd


def config():
    return {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cuda": torch.version.cuda}


def standalone(argv):
    b, h, t, d = (int(x) for x in argv) if argv else (8, 16, 1024, 64)
    results = []
    for p in PRECISIONS:
        for backward in (False, True):
            for causal in (False, True):
                name = f"cuda attention {'bwd' if backward else 'fwd'}{' causal' if causal else ''} ({p}) B{b} H{h} T{t} D{d}"
                case = {"id": name, "kind": "attention", "b": b, "h": h, "t": t, "d": d, "causal": causal,
                        "backward": backward, "precision": p}
                flops = (2 if causal else 4) * b * h * t * t * d * (2.5 if backward else 1)
                try:
                    r = time_op(prepare(case), 500)
                    results.append({"id": name, **r, "tflops": flops / (r["medianMs"] / 1e3) / 1e12})
                except Exception as e:
                    results.append({"id": name, "error": f"{type(e).__name__}: {e}"})
    json.dump({"peer": "pytorch-cuda", "version": torch.__version__, "threads": None, "config": config(),
               "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--standalone":
        standalone(sys.argv[2:])
    else:
        serve("pytorch-cuda", torch.__version__, None, config(), prepare)

#!/usr/bin/env python3
# PyTorch (cuDNN) peer of the benchmark harness on a CUDA GPU: conv2d forward and backward on the
# harness's shapes, at the precision the case names ("highest": float32 arithmetic, cuDNN TF32
# off; "high": TF32 allowed, PyTorch's default for convolutions; "medium": BF16, autocast, the
# nearest PyTorch has to tensorforge's BF16-input / float32-accumulate kernels). Protocol:
# peer_common.py; each run ends with torch.cuda.synchronize(), so the harness's clock measures
# the GPU work. Backward cases time the backward alone from a retained graph, as the harness's do.
#
# Without the harness: python3 bench/peers/torch_cuda_peer.py --standalone prints the benchmark
# shape (32×64×56×56, 64 3×3 filters, pad 1) forward and backward at each precision.
import contextlib
import json
import sys

import torch
import torch.nn.functional as F

from peer_common import serve, time_op

torch.manual_seed(0)
torch.backends.cudnn.benchmark = True  # let cuDNN pick its fastest algorithm, as users do


def precision_context(precision):
    torch.backends.cudnn.allow_tf32 = precision != "highest"
    torch.backends.cuda.matmul.allow_tf32 = precision != "highest"
    if precision == "medium":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare(c):
    if c["kind"] != "conv2d":
        return None
    precision = c.get("precision", "highest")
    dev = torch.device("cuda")
    bwd = c["backward"]
    x = torch.randn(c["n"], c["cin"], c["h"], c["w"], device=dev, requires_grad=bwd)
    w = torch.randn(c["cout"], c["cin"], c["k"], c["k"], device=dev, requires_grad=bwd)
    ctx = precision_context(precision)
    if not bwd:
        def fwd():
            with torch.no_grad(), ctx:
                F.conv2d(x, w, padding=c["pad"])
            torch.cuda.synchronize()
        return fwd
    with ctx:
        y = F.conv2d(x, w, padding=c["pad"])
    g = torch.randn_like(y)

    def bwd_run():
        torch.autograd.grad(y, (x, w), g, retain_graph=True)
        torch.cuda.synchronize()
    return bwd_run


def standalone():
    shape = {"kind": "conv2d", "n": 32, "cin": 64, "h": 56, "w": 56, "cout": 64, "k": 3, "pad": 1}
    flops = 2 * 32 * 64 * 56 * 56 * 64 * 9
    rows = []
    for precision in ("highest", "high", "medium"):
        for bwd in (False, True):
            t = time_op(prepare({**shape, "backward": bwd, "precision": precision}), 500)
            rows.append({"precision": precision, "pass": "backward" if bwd else "forward", **t,
                         "tflops": (2 if bwd else 1) * flops / t["medianMs"] / 1e9})
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "cudnn": torch.backends.cudnn.version(), "results": rows}, indent=1))


if __name__ == "__main__":
    if "--standalone" in sys.argv:
        standalone()
    else:
        serve("pytorch-cuda", f"torch {torch.__version__} cuDNN {torch.backends.cudnn.version()}", 1,
              {"device": torch.cuda.get_device_name()}, prepare)

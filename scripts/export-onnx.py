#!/usr/bin/env python3
# Exports the ONNX graphs the benchmark harness times with onnxruntime-node (`npm run bench --
# --peers`): matmul, conv2d forward and attention forward (causal and not) at the harness's
# headline shapes. Every operand is a graph input, so the files hold graph structure only (the
# causal mask, 64 KiB of booleans, is the one constant). Shapes are static, as in the harness,
# so onnxruntime may plan for them. Writes bench/peers/onnx/<name>.onnx and manifest.json.
#
#   /usr/bin/python3 scripts/export-onnx.py [OUT_DIR]
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

OPSET = 17  # the newest torch 1.13 exports

# name -> (module, {input name: shape}); the harness looks models up by these names
MATMULS = [(1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 4096), (64, 784, 128), (64, 3136, 128)]
CONV = dict(n=8, cin=64, h=56, w=56, cout=64, k=3, pad=1)
ATTN = dict(b=8, h=8, t=256, d=64)


class MatMul(torch.nn.Module):
    def forward(self, a, b):
        return a @ b


class Conv(torch.nn.Module):
    def __init__(self, pad):
        super().__init__()
        self.pad = pad

    def forward(self, x, w):
        return F.conv2d(x, w, padding=self.pad)


class Attention(torch.nn.Module):
    """softmax(Q·Kᵀ·scale [+ causal mask])·V, the composition onnxruntime sees from a PyTorch model."""

    def __init__(self, t, d, causal):
        super().__init__()
        self.scale = 1 / math.sqrt(d)
        self.causal = causal
        self.register_buffer("mask", torch.ones(t, t, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, q, k, v):
        s = (q @ k.transpose(-1, -2)) * self.scale
        if self.causal:
            s = s.masked_fill(self.mask, float("-inf"))
        return torch.softmax(s, dim=-1) @ v


def models():
    for m, k, n in MATMULS:
        yield f"matmul_{m}x{k}x{n}", MatMul(), {"a": [m, k], "b": [k, n]}
    c = CONV
    yield (f"conv2d_{c['n']}x{c['cin']}x{c['h']}x{c['w']}_{c['cout']}k{c['k']}p{c['pad']}", Conv(c["pad"]),
           {"x": [c["n"], c["cin"], c["h"], c["w"]], "w": [c["cout"], c["cin"], c["k"], c["k"]]})
    a = ATTN
    for causal in (False, True):
        shape = [a["b"], a["h"], a["t"], a["d"]]
        yield (f"attention_b{a['b']}h{a['h']}t{a['t']}d{a['d']}{'_causal' if causal else ''}",
               Attention(a["t"], a["d"], causal), {"q": shape, "k": shape, "v": shape})


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "bench", "peers", "onnx")
    os.makedirs(out, exist_ok=True)
    manifest = {"torch": torch.__version__, "opset": OPSET, "models": {}}
    for name, module, inputs in models():
        path = os.path.join(out, name + ".onnx")
        args = tuple(torch.zeros(s) for s in inputs.values())
        torch.onnx.export(module.eval(), args, path, input_names=list(inputs), output_names=["out"], opset_version=OPSET,
                          do_constant_folding=True)
        manifest["models"][name] = {"file": name + ".onnx", "inputs": inputs}
        print(f"{path}: {os.path.getsize(path)} bytes")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


main()

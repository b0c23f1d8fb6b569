#!/usr/bin/env python3
# PyTorch peer of the benchmark harness: matmul, conv2d forward and backward, attention forward and
# backward (causal and not) and the Fashion-MNIST CNN training step, on the harness's shapes.
# Protocol: peer_common.py. Backward cases time the backward alone from a retained graph, as the
# harness's do.
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_common import serve

# Debian's build starts with one OpenMP thread here (omp_get_max_threads() is 1): use every core,
# as tensorforge does
torch.set_num_threads(os.cpu_count())
torch.manual_seed(0)


def attention(q, k, v, causal, mask):
    # torch 1.13 has no F.scaled_dot_product_attention: the usual composition
    s = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(q.shape[-1]))
    if causal:
        s = s.masked_fill(mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def cnn(c):
    # ts/models cnn(): (conv 3×3 pad 1 → ReLU → maxpool 2) × 2 → Linear → ReLU → Linear
    side = c["imageSize"] // 2 // 2
    return nn.Sequential(
        nn.Conv2d(c["inChannels"], c["channels"][0], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c["channels"][0], c["channels"][1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c["channels"][1] * side * side, c["hidden"]), nn.ReLU(), nn.Linear(c["hidden"], c["classes"]))


def prepare(c):
    kind = c["kind"]
    if kind == "matmul":
        a, b = torch.randn(c["m"], c["k"]), torch.randn(c["k"], c["n"])
        return lambda: torch.mm(a, b)
    if kind == "conv2d":
        x = torch.randn(c["n"], c["cin"], c["h"], c["w"], requires_grad=c["backward"])
        w = torch.randn(c["cout"], c["cin"], c["k"], c["k"], requires_grad=c["backward"])
        if not c["backward"]:
            return lambda: torch.no_grad()(F.conv2d)(x, w, padding=c["pad"])
        y = F.conv2d(x, w, padding=c["pad"])
        g = torch.randn_like(y)
        return lambda: torch.autograd.grad(y, (x, w), g, retain_graph=True)
    if kind == "attention":
        shape = (c["b"], c["h"], c["t"], c["d"])
        q, k, v = (torch.randn(shape, requires_grad=c["backward"]) for _ in range(3))
        mask = torch.ones(c["t"], c["t"], dtype=torch.bool).triu(1)
        if not c["backward"]:
            return lambda: torch.no_grad()(attention)(q, k, v, c["causal"], mask)
        out = attention(q, k, v, c["causal"], mask)
        g = torch.randn_like(out)
        return lambda: torch.autograd.grad(out, (q, k, v), g, retain_graph=True)
    if kind == "cnn_step":
        model = cnn(c["model"])
        opt = torch.optim.Adam(model.parameters(), lr=c["lr"])
        n, size = c["batch"], c["model"]["imageSize"]
        x = torch.randn(n, c["model"]["inChannels"], size, size)
        y = torch.randint(0, c["model"]["classes"], (n,))

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return step
    return None


serve("pytorch", f"torch {torch.__version__}", torch.get_num_threads(),
      {"parallel_info": torch.__config__.parallel_info().strip().splitlines(), "mkldnn": torch.backends.mkldnn.is_available(),
       "env": {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "OPENBLAS_", "GOMP_"))}},
      prepare)

#!/usr/bin/env python3
# PyTorch's side of the training-speed comparison: the CLI's CNN (conv 32 -> pool -> conv 64 ->
# pool -> linear 128 -> 10) on Fashion-MNIST IDX files, batch 64, Adam lr 1e-3, the same input
# normalisation, shuffled every epoch. Prints one JSON line per epoch (seconds, test accuracy).
# Run beside `tensorforge train --data DIR --epochs N` on the same quiet machine:
#   /usr/bin/python3 bench/peers/pytorch_cnn_epoch.py /usr/share/datasets/fashion-mnist 2
import gzip
import json
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def find(d, stem):
    return os.path.join(d, next(n for n in os.listdir(d) if n.startswith(stem)))


def main():
    d, epochs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1
    torch.manual_seed(42)
    # Debian's build starts with one OpenMP thread here (omp_get_max_threads() is 1): use every
    # core, as tensorforge does
    torch.set_num_threads(os.cpu_count())
    mean, std = 0.2860, 0.3530
    load = lambda stem: ((read_idx(find(d, stem + "-images")).float() / 255 - mean) / std).unsqueeze(1)
    xtr, ytr = load("train"), read_idx(find(d, "train-labels")).long()
    xte, yte = load("t10k"), read_idx(find(d, "t10k-labels")).long()
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        for i in range(0, len(xtr), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        seconds = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            correct = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(xte), 1000))
        print(json.dumps({"framework": "pytorch " + torch.__version__, "threads": torch.get_num_threads(), "epoch": epoch + 1,
                          "seconds": round(seconds, 2), "test_accuracy": correct / len(xte)}), flush=True)


main()

#!/usr/bin/env python3
# NumPy/OpenBLAS peer of the benchmark harness (matmul only): float32 a @ b, i.e. OpenBLAS sgemm.
# bench/peers.ts runs it with OPENBLAS_CORETYPE=SkylakeX in this process's environment only
# (OpenBLAS misdetects the CPU here and would run a slower kernel). Protocol: peer_common.py.
import ctypes
import os

import numpy as np

from peer_common import serve


def blas_config():
    """Which BLAS numpy loaded and how OpenBLAS configured itself (core, threads), read from the
    library itself; threadpoolctl reports the same where it is installed."""
    try:
        from threadpoolctl import threadpool_info
        return {"source": "threadpoolctl", "libraries": threadpool_info()}
    except ImportError:
        pass
    np.ones((2, 2), np.float32) @ np.ones((2, 2), np.float32)  # make sure BLAS is loaded
    paths = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line and line.split()[-1].startswith("/")})
    info = {"source": "/proc/self/maps", "loaded": paths, "env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}}
    for path in paths:
        if "openblas" not in os.path.basename(path):
            continue
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            info.update(openblas=lib.openblas_get_config().decode(), corename=lib.openblas_get_corename().decode(),
                        threads=lib.openblas_get_num_threads())
            break
        except (OSError, AttributeError):
            continue
    return info


def prepare(case):
    if case["kind"] != "matmul":
        return None
    rng = np.random.default_rng(0)
    a = rng.standard_normal((case["m"], case["k"]), dtype=np.float32)
    b = rng.standard_normal((case["k"], case["n"]), dtype=np.float32)
    return lambda: a @ b


config = blas_config()
# the short name (the chart's legend); the whole build string is in config
blas = f" + OpenBLAS {config['openblas'].split()[1]} ({config['corename']})" if "openblas" in config else ""
serve("numpy", f"numpy {np.__version__}{blas}",
      config.get("threads"), config, prepare)

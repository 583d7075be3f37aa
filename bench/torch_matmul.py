"""PyTorch fp32 CPU side of bench/matmul.ts: same shapes, median time, GFLOP/s as JSON."""
import json
import os
import sys
import time

import torch


def gflops(shape):
    m, n, k, transpose_b = shape["M"], shape["N"], shape["K"], shape.get("transposeB", False)
    torch.manual_seed(0)
    a = torch.rand(m, k) - 0.5
    b = torch.rand(n, k) - 0.5 if transpose_b else torch.rand(k, n) - 0.5
    f = (lambda: a @ b.t()) if transpose_b else (lambda: a @ b)
    f()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < 1.0 and len(times) < 50):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    times.sort()
    return 2 * m * n * k / times[len(times) // 2] / 1e9


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    shapes = json.load(sys.stdin)
    print(json.dumps({"torch": torch.__version__, "result": [gflops(s) for s in shapes]}))


if __name__ == "__main__":
    main()

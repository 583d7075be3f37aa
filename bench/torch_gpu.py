"""PyTorch side of bench/gpu.ts, on CUDA when this machine has it, else the CPU: fp32 matmul
GFLOP/s for the same shapes and greedy decoding with a KV cache (bench/torch_rollout.py's loop)
on the same checkpoints and prompts; median times."""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_rollout import decode  # noqa: E402
from torch_scoring import load  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def median(f, min_reps=3, min_seconds=1.0, max_reps=50):
    f()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < min_seconds and len(times) < max_reps):
        t0 = time.perf_counter()
        f()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    if DEVICE == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    else:
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 as ours: no TF32 tensor cores
    job = json.load(sys.stdin)
    matmul = []
    for s in job["matmul"]:
        a = torch.rand(s["M"], s["K"], device=DEVICE) - 0.5
        b = torch.rand(s["N"], s["K"], device=DEVICE) - 0.5
        matmul.append(2 * s["M"] * s["N"] * s["K"] / median(lambda: a @ b.t()) / 1e9)
    decoding = []
    for case in job["decode"]:
        cfg, w = load(case["dir"])
        w = {k: v.to(DEVICE) for k, v in w.items()}
        with torch.no_grad():
            seconds = median(lambda: decode(cfg, w, case["prompts"], case["newTokens"], DEVICE), min_reps=case.get("minReps", 2))
        decoding.append({"seconds": seconds})
        del w
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"
    print(json.dumps({"torch": torch.__version__, "result": {"device": DEVICE, "name": name, "matmul": matmul, "decode": decoding}}))


if __name__ == "__main__":
    main()

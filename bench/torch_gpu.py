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


def attend(q, k, v):
    """Causal GQA attention: PyTorch's fused scaled_dot_product_attention where this PyTorch has it
    (2.0+), else the eager composition (scores, mask, softmax, product) that older versions run."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    if sdpa is not None:
        return sdpa(q, k, v, is_causal=True)
    T = q.shape[2]
    scores = (q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    return scores.masked_fill(mask, float("-inf")).softmax(-1) @ v


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
    attention = []
    for s in job["attention"]:
        # Causal GQA attention of one sequence.
        T, H, G, d = s["T"], s["heads"], s["kvHeads"], s["headDim"]
        q = (torch.rand(1, H, T, d, device=DEVICE) - 0.5).requires_grad_()
        k = (torch.rand(1, G, T, d, device=DEVICE) - 0.5).requires_grad_()
        v = (torch.rand(1, G, T, d, device=DEVICE) - 0.5).requires_grad_()
        sdpa = lambda: attend(q, k, v)
        with torch.no_grad():
            forward = median(sdpa)
        grad = torch.rand(1, H, T, d, device=DEVICE)
        backward = median(lambda: torch.autograd.grad(sdpa(), (q, k, v), grad)) - forward
        attention.append({"forward": forward, "backward": backward})
    decoding = []
    for case in job["decode"]:
        cfg, w = load(case["dir"])
        w = {k: v.to(DEVICE) for k, v in w.items()}
        with torch.no_grad():
            seconds = median(lambda: decode(cfg, w, case["prompts"], case["newTokens"], DEVICE), min_reps=case.get("minReps", 2))
        decoding.append({"seconds": seconds})
        del w
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"
    fused = hasattr(torch.nn.functional, "scaled_dot_product_attention")
    print(json.dumps({"torch": torch.__version__, "result": {"device": DEVICE, "name": name, "matmul": matmul, "attention": attention, "attentionKernel": "sdpa" if fused else "eager", "decode": decoding}}))


if __name__ == "__main__":
    main()

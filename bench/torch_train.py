"""PyTorch fp32 CPU side of bench/train.ts: one full fine-tuning step (forward, policy loss with
verl's clipping and k3 KL, backward, clip_grad_norm_, AdamW) on the same checkpoint and batch."""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_scoring import load, logprobs  # noqa: E402


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    results = []
    for case in json.load(sys.stdin):
        cfg, w = load(case["dir"])
        leaves = {k: torch.nn.Parameter(v) for k, v in w.items()}
        ids = torch.tensor(case["sequences"], dtype=torch.long)
        old = torch.tensor(case["old"])
        ref = torch.tensor(case["ref"])
        adv = torch.tensor(case["advantages"])
        opt = torch.optim.AdamW(list(leaves.values()), lr=1e-6, weight_decay=0.01)

        def step():
            opt.zero_grad()
            logp = logprobs(cfg, leaves, ids)
            ratio = torch.exp(torch.clamp(logp - old, -20.0, 20.0))
            clip1 = torch.maximum(-adv * ratio, -adv * torch.clamp(ratio, 0.8, 1.2))
            pg = torch.where(adv < 0, torch.minimum(-adv * 3.0, clip1), clip1)
            kl = torch.clamp(ref - logp, -20.0, 20.0)
            kl = torch.clamp(torch.exp(kl) - kl - 1, -10.0, 10.0)
            loss = (pg + 0.001 * kl).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(leaves.values()), 1.0)
            opt.step()

        step()
        times = []
        start = time.perf_counter()
        while len(times) < case.get("minReps", 2) or (time.perf_counter() - start < 1.0 and len(times) < 10):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        times.sort()
        results.append({"seconds": times[len(times) // 2]})
        del leaves, w, opt
    print(json.dumps({"torch": torch.__version__, "result": results}))


if __name__ == "__main__":
    main()

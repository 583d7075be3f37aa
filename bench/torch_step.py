"""PyTorch fp32 CPU side of bench/step.ts: the update of recorded RL steps — the same checkpoint and
the same sequences (prompt + trajectory token ids, ragged, right-padded into one batch) — as eager
PyTorch does it: forward, per-token log-probs, PPO-clip policy loss with dual clip (on-policy, the
ratio is 1), token-mean over the trajectory tokens, backward, clip_grad_norm_, AdamW. Median
seconds per step over a few repetitions (after a warm-up)."""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_scoring import load, logprobs  # noqa: E402


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    job = json.load(sys.stdin)
    cfg, w = load(job["dir"])
    leaves = {k: torch.nn.Parameter(v) for k, v in w.items()}
    opt = torch.optim.AdamW(list(leaves.values()), lr=job["lr"], weight_decay=job["weightDecay"])
    gen = torch.Generator().manual_seed(0)
    results = []
    for step in job["steps"]:
        seqs, prompts = step["sequences"], step["promptLengths"]
        width = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), width, dtype=torch.long)
        mask = torch.zeros(len(seqs), width - 1)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, prompts[i] - 1 : len(s) - 1] = 1  # entries predicting trajectory tokens
        adv = torch.randn(len(seqs), 1, generator=gen).expand(-1, width - 1)

        def update():
            opt.zero_grad()
            logp = logprobs(cfg, leaves, ids)
            ratio = torch.exp(torch.clamp(logp - logp.detach(), -20.0, 20.0))
            clip1 = torch.maximum(-adv * ratio, -adv * torch.clamp(ratio, 0.8, 1.2))
            pg = torch.where(adv < 0, torch.minimum(-adv * 3.0, clip1), clip1)
            loss = (pg * mask).sum() / mask.sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(leaves.values()), 1.0)
            opt.step()

        update()
        times = []
        for _ in range(job.get("reps", 3)):
            t0 = time.perf_counter()
            update()
            times.append(time.perf_counter() - t0)
        times.sort()
        results.append({"seconds": times[len(times) // 2], "rows": sum(len(s) for s in seqs), "paddedRows": len(seqs) * width})
    print(json.dumps({"torch": torch.__version__, "result": results}))


if __name__ == "__main__":
    main()

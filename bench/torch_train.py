"""PyTorch fp32 CPU side of bench/train.ts: one full fine-tuning step (forward, policy loss with
verl's clipping and k3 KL, backward, clip_grad_norm_, AdamW) on the same checkpoint and batch."""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_scoring import load, logprobs  # noqa: E402


class LoraWeight:
    """Stands in for a weight in `linear(x, W)`: returns the LoRA-adapted product when used as W."""

    def __init__(self, base, a, b, scale):
        self.base, self.a, self.b, self.scale = base, a, b, scale


_linear = torch.nn.functional.linear


def _lora_linear(x, weight, bias=None):
    if isinstance(weight, LoraWeight):
        return _linear(x, weight.base, bias) + weight.scale * ((x @ weight.a.T) @ weight.b.T)
    return _linear(x, weight, bias)


torch.nn.functional.linear = _lora_linear


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    results = []
    for case in json.load(sys.stdin):
        cfg, w = load(case["dir"])
        lora = case.get("lora")
        if lora:
            # LoRA as PEFT does it: frozen base, y += (alpha/r)·(x·Aᵀ)·Bᵀ on each target.
            leaves = {}
            h, inter = cfg["hidden_size"], cfg["intermediate_size"]
            d = h // cfg["num_attention_heads"]
            dims = {"q_proj": (h, cfg["num_attention_heads"] * d), "k_proj": (h, cfg["num_key_value_heads"] * d), "v_proj": (h, cfg["num_key_value_heads"] * d),
                    "o_proj": (h, h), "gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h)}
            scale = lora["alpha"] / lora["rank"]
            for i in range(cfg["num_hidden_layers"]):
                for t in lora["targets"]:
                    module = "mlp" if t in ("gate_proj", "up_proj", "down_proj") else "self_attn"
                    name = f"model.layers.{i}.{module}.{t}.weight"
                    fan_in, fan_out = dims[t]
                    a_ = torch.nn.Parameter((torch.rand(lora["rank"], fan_in) * 2 - 1) / fan_in**0.5)
                    b_ = torch.nn.Parameter(torch.zeros(fan_out, lora["rank"]))
                    leaves[name + ".A"], leaves[name + ".B"] = a_, b_
                    base = w[name]
                    w[name] = LoraWeight(base, a_, b_, scale)
        else:
            leaves = {k: torch.nn.Parameter(v) for k, v in w.items()}
            w = leaves
        ids = torch.tensor(case["sequences"], dtype=torch.long)
        old = torch.tensor(case["old"])
        ref = torch.tensor(case["ref"])
        adv = torch.tensor(case["advantages"])
        opt = torch.optim.AdamW(list(leaves.values()), lr=1e-6, weight_decay=0.01)

        def step():
            opt.zero_grad()
            logp = logprobs(cfg, w, ids)
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

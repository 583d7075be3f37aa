"""PyTorch fp32 CPU side of bench/rollout.ts: greedy decoding with a KV cache on the same
checkpoint and prompts; median seconds per run and the generated tokens."""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_scoring import load, rms_norm, rotate_half  # noqa: E402


def decode(cfg, w, prompts, new_tokens, device="cpu"):
    h, heads, kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d, eps, layers = h // heads, cfg["rms_norm_eps"], cfg["num_hidden_layers"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float32, device=device) / d))
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    cache = [[None, None] for _ in range(layers)]

    def step(ids, start):
        b, t = ids.shape
        x = w["model.embed_tokens.weight"][ids]
        freqs = torch.outer(torch.arange(start, start + t, dtype=torch.float32, device=device), inv_freq)
        cos, sin = torch.cat((freqs, freqs), -1).cos(), torch.cat((freqs, freqs), -1).sin()
        total = start + t
        mask = torch.full((t, total), float("-inf"), device=device).triu(start + 1)
        for i in range(layers):
            p = f"model.layers.{i}."
            a = rms_norm(x, w[p + "input_layernorm.weight"], eps)
            q = torch.nn.functional.linear(a, w[p + "self_attn.q_proj.weight"], w[p + "self_attn.q_proj.bias"]).view(b, t, heads, d).transpose(1, 2)
            k = torch.nn.functional.linear(a, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.k_proj.bias"]).view(b, t, kv, d).transpose(1, 2)
            v = torch.nn.functional.linear(a, w[p + "self_attn.v_proj.weight"], w[p + "self_attn.v_proj.bias"]).view(b, t, kv, d).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            if cache[i][0] is not None:
                k, v = torch.cat((cache[i][0], k), 2), torch.cat((cache[i][1], v), 2)
            cache[i] = [k, v]
            kk, vv = k.repeat_interleave(heads // kv, 1), v.repeat_interleave(heads // kv, 1)
            att = torch.softmax(q @ kk.transpose(-1, -2) / d**0.5 + mask, dim=-1)
            o = (att @ vv).transpose(1, 2).reshape(b, t, heads * d)
            x = x + torch.nn.functional.linear(o, w[p + "self_attn.o_proj.weight"])
            m = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
            gate = torch.nn.functional.linear(m, w[p + "mlp.gate_proj.weight"])
            up = torch.nn.functional.linear(m, w[p + "mlp.up_proj.weight"])
            x = x + torch.nn.functional.linear(torch.nn.functional.silu(gate) * up, w[p + "mlp.down_proj.weight"])
        return rms_norm(x[:, -1], w["model.norm.weight"], eps) @ head.T

    ids = torch.tensor(prompts, dtype=torch.long, device=device)
    logits = step(ids, 0)
    out = []
    pos = ids.shape[1]
    for _ in range(new_tokens):
        nxt = logits.argmax(-1)
        out.append(nxt.tolist())
        logits = step(nxt[:, None], pos)
        pos += 1
    return [list(col) for col in zip(*out)]


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    results = []
    for case in json.load(sys.stdin):
        cfg, w = load(case["dir"])
        with torch.no_grad():
            tokens = decode(cfg, w, case["prompts"], case["newTokens"])
            times = []
            start = time.perf_counter()
            while len(times) < case.get("minReps", 2) or (time.perf_counter() - start < 1.0 and len(times) < 10):
                t0 = time.perf_counter()
                decode(cfg, w, case["prompts"], case["newTokens"])
                times.append(time.perf_counter() - t0)
        times.sort()
        results.append({"seconds": times[len(times) // 2], "tokens": tokens})
        del w
    print(json.dumps({"torch": torch.__version__, "result": results}))


if __name__ == "__main__":
    main()

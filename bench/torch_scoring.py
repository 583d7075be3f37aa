"""PyTorch fp32 CPU side of bench/scoring.ts: the same checkpoint (config.json + model.safetensors
written by the bench), the same token batch; teacher-forced per-token log-probs, median time.
The forward follows transformers' Qwen2 (as scripts/fixtures.py), batched with a causal mask."""
import json
import os
import struct
import sys
import time

import numpy as np
import torch


def load(directory):
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    path = os.path.join(directory, "model.safetensors")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    w = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32"
        begin, end = e["data_offsets"]
        w[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=np.float32).copy()).view(*e["shape"])
    return cfg, w


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def logprobs(cfg, w, ids):
    """ids [B, L] → log p(ids[:, t+1] | ids[:, :t+1]) [B, L-1]."""
    h, heads, kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d, eps = h // heads, cfg["rms_norm_eps"]
    b, t = ids.shape
    x = w["model.embed_tokens.weight"][ids]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    freqs = torch.outer(torch.arange(t, dtype=torch.float32), inv_freq)
    cos, sin = torch.cat((freqs, freqs), -1).cos(), torch.cat((freqs, freqs), -1).sin()
    mask = torch.full((t, t), float("-inf")).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = torch.nn.functional.linear(a, w[p + "self_attn.q_proj.weight"], w[p + "self_attn.q_proj.bias"]).view(b, t, heads, d).transpose(1, 2)
        k = torch.nn.functional.linear(a, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.k_proj.bias"]).view(b, t, kv, d).transpose(1, 2)
        v = torch.nn.functional.linear(a, w[p + "self_attn.v_proj.weight"], w[p + "self_attn.v_proj.bias"]).view(b, t, kv, d).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(heads // kv, 1), v.repeat_interleave(heads // kv, 1)
        att = torch.softmax(q @ k.transpose(-1, -2) / d**0.5 + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(b, t, heads * d)
        x = x + torch.nn.functional.linear(o, w[p + "self_attn.o_proj.weight"])
        m = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.linear(m, w[p + "mlp.gate_proj.weight"])
        up = torch.nn.functional.linear(m, w[p + "mlp.up_proj.weight"])
        x = x + torch.nn.functional.linear(torch.nn.functional.silu(gate) * up, w[p + "mlp.down_proj.weight"])
    x = rms_norm(x[:, :-1], w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    logp = torch.log_softmax(x @ head.T, dim=-1)
    return logp.gather(-1, ids[:, 1:, None])[..., 0]


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    job = json.load(sys.stdin)
    results = []
    for case in job:
        cfg, w = load(case["dir"])
        ids = torch.tensor(case["sequences"], dtype=torch.long)
        with torch.no_grad():
            out = logprobs(cfg, w, ids)
            times = []
            start = time.perf_counter()
            while len(times) < case.get("minReps", 2) or (time.perf_counter() - start < 1.0 and len(times) < 20):
                t0 = time.perf_counter()
                logprobs(cfg, w, ids)
                times.append(time.perf_counter() - t0)
        times.sort()
        results.append({"seconds": times[len(times) // 2], "logprobs": out.tolist()})
        del w
    print(json.dumps({"torch": torch.__version__, "result": results}))


if __name__ == "__main__":
    main()

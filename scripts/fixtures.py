#!/usr/bin/python3
"""Writes the PyTorch oracle fixtures for the Qwen2 forward pass (test/fixtures/qwen2/).

Two tiny random Qwen2 models, written as Hugging Face checkpoints (config.json + safetensors):
  tiny-f32/   untied LM head, one F32 model.safetensors
  tiny-bf16/  tied embeddings, BF16 weights in two shards with model.safetensors.index.json
and, for each, a few token sequences of different lengths with the per-token log-probs
log p(x[t+1] | x[..t]) that this script's fp32 forward gives, plus a greedy continuation of one
prompt, recomputed from scratch at every step (expected.json).

The forward is written out here from the Qwen2 definition (RMSNorm, q/k/v with bias, rotate-half
RoPE, grouped-query causal attention, SwiGLU MLP, final norm, LM head) so that only Debian's
python3-torch is needed (scripts/setup.sh installs it; --bench adds OpenBLAS for speed; Debian's /usr/bin/python3, not a pyenv one):

  /usr/bin/python3 scripts/fixtures.py --out test/fixtures    # rewrite the committed fixtures
  npm run check:fixtures                                      # regenerate elsewhere and compare
"""
import argparse
import json
import math
import os
import struct

import torch

ROOT = ""  # OUT/qwen2, set from --out before anything is written


def make_weights(cfg, gen):
    h, inter, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", h // heads)

    def randn(*shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std + mean

    w = {"model.embed_tokens.weight": randn(v, h, std=0.5)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = randn(h, std=0.1, mean=1.0)
        bias = has_bias(cfg)
        w[p + "self_attn.q_proj.weight"] = randn(heads * d, h, std=0.15)
        if bias:
            w[p + "self_attn.q_proj.bias"] = randn(heads * d, std=0.1)
        w[p + "self_attn.k_proj.weight"] = randn(kv * d, h, std=0.15)
        if bias:
            w[p + "self_attn.k_proj.bias"] = randn(kv * d, std=0.1)
        w[p + "self_attn.v_proj.weight"] = randn(kv * d, h, std=0.15)
        if bias:
            w[p + "self_attn.v_proj.bias"] = randn(kv * d, std=0.1)
        if cfg.get("model_type") == "qwen3":
            w[p + "self_attn.q_norm.weight"] = randn(d, std=0.1, mean=1.0)
            w[p + "self_attn.k_norm.weight"] = randn(d, std=0.1, mean=1.0)
        w[p + "self_attn.o_proj.weight"] = randn(h, heads * d, std=0.15)
        w[p + "post_attention_layernorm.weight"] = randn(h, std=0.1, mean=1.0)
        w[p + "mlp.gate_proj.weight"] = randn(inter, h, std=0.15)
        w[p + "mlp.up_proj.weight"] = randn(inter, h, std=0.15)
        w[p + "mlp.down_proj.weight"] = randn(h, inter, std=0.1)
    w["model.norm.weight"] = randn(h, std=0.1, mean=1.0)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = randn(v, h, std=0.3)
    return w


def has_bias(cfg):
    """Qwen2 has q/k/v biases; Llama only with attention_bias."""
    return cfg.get("model_type", "qwen2") == "qwen2" or cfg.get("attention_bias", False)


def inverse_frequencies(cfg, d):
    """RoPE's θ^(−2j/d), with Llama-3's scaling when rope_scaling says "llama3" (written from its definition:
    long wavelengths divided by factor, short ones kept, the band between interpolated)."""
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    scaling = cfg.get("rope_scaling")
    if not scaling:
        return inv
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    wavelength = 2 * math.pi / inv
    smooth = (old / wavelength - low) / (high - low)
    medium = (1 - smooth) * inv / factor + smooth * inv
    return torch.where(wavelength > old / low, inv / factor, torch.where(wavelength < old / high, inv, medium))


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(cfg, w, ids, lora=None, hidden=False):
    """Logits [T, V] for one sequence (fp32), or with `hidden` the final-normed hidden states [T, H].
    `lora`: {(layer, target): (A, B)} and a "scale"."""
    h, heads, kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d, eps, t = cfg.get("head_dim", h // heads), cfg["rms_norm_eps"], len(ids)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    inv_freq = inverse_frequencies(cfg, d)
    freqs = torch.outer(torch.arange(t, dtype=torch.float32), inv_freq)
    cos, sin = torch.cat((freqs, freqs), -1).cos(), torch.cat((freqs, freqs), -1).sin()
    mask = torch.full((t, t), float("-inf")).triu(1)

    def delta(i, target, inp):
        if not lora or (i, target) not in lora:
            return 0
        a_, b_ = lora[(i, target)]
        return lora["scale"] * (inp @ a_.T) @ b_.T

    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (a @ w[p + "self_attn.q_proj.weight"].T + w.get(p + "self_attn.q_proj.bias", 0) + delta(i, "q_proj", a)).view(t, heads, d).transpose(0, 1)
        k = (a @ w[p + "self_attn.k_proj.weight"].T + w.get(p + "self_attn.k_proj.bias", 0) + delta(i, "k_proj", a)).view(t, kv, d).transpose(0, 1)
        v = (a @ w[p + "self_attn.v_proj.weight"].T + w.get(p + "self_attn.v_proj.bias", 0) + delta(i, "v_proj", a)).view(t, kv, d).transpose(0, 1)
        if cfg.get("model_type") == "qwen3":  # Qwen3: per-head RMSNorm of q and k before RoPE
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(heads // kv, 0), v.repeat_interleave(heads // kv, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / d**0.5 + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(t, heads * d)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T + delta(i, "o_proj", o)
        m = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = m @ w[p + "mlp.gate_proj.weight"].T + delta(i, "gate_proj", m)
        up = m @ w[p + "mlp.up_proj.weight"].T + delta(i, "up_proj", m)
        act = torch.nn.functional.silu(gate) * up
        x = x + act @ w[p + "mlp.down_proj.weight"].T + delta(i, "down_proj", act)
    x = rms_norm(x, w["model.norm.weight"], eps)
    if hidden:
        return x
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


def write_last_token_embeddings(name, cfg, seed):
    """A decoder embedder's vectors (Qwen3-Embedding's recipe): the final-normed hidden state of each
    sequence's last token, L2-normalised, for sequences of several lengths (OUT/qwen2/NAME/embedding.json)."""
    w = make_weights(cfg, torch.Generator().manual_seed(seed))
    tokens = torch.Generator().manual_seed(seed + 2)
    sequences = [torch.randint(0, cfg["vocab_size"], (n,), generator=tokens).tolist() for n in (1, 6, 23, 50)]
    with torch.no_grad():
        vectors = [forward(cfg, w, s, hidden=True)[-1] for s in sequences]
    expected = {"sequences": sequences, "embeddings": [(v / v.norm()).tolist() for v in vectors], "raw": [v.tolist() for v in vectors]}
    with open(os.path.join(ROOT, name, "embedding.json"), "w") as f:
        json.dump(expected, f)
    print(f"{name}: last-token embeddings of {len(sequences)} sequences")


def token_logprobs(cfg, w, ids):
    logp = torch.log_softmax(forward(cfg, w, ids), dim=-1)
    return [logp[i, ids[i + 1]].item() for i in range(len(ids) - 1)]


DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, tensor in tensors.items():
        data = tensor.contiguous().view(torch.uint8).numpy().tobytes() if tensor.dtype != torch.float32 else tensor.contiguous().numpy().tobytes()
        header[name] = {"dtype": DTYPES[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def config(**over):
    cfg = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": 64,
        "intermediate_size": 176,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "max_position_embeddings": 128,
        "vocab_size": 512,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }
    cfg.update(over)
    return cfg


def write_model(name, cfg, seed, dtype, shards):
    gen = torch.Generator().manual_seed(seed)
    weights = {k: v.to(dtype) for k, v in make_weights(cfg, gen).items()}
    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    names = list(weights)
    if shards == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), weights)
    else:
        weight_map = {}
        per = (len(names) + shards - 1) // shards
        for s in range(shards):
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: weights[n] for n in names[s * per:(s + 1) * per]}
            write_safetensors(os.path.join(out, file), part)
            weight_map.update({n: file for n in part})
        total = sum(t.numel() * t.element_size() for t in weights.values())
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    # The oracle runs in fp32 on exactly the stored (possibly rounded) weights.
    w32 = {k: v.to(torch.float32) for k, v in weights.items()}
    tokens = torch.Generator().manual_seed(seed + 1)
    sequences = [torch.randint(0, cfg["vocab_size"], (n,), generator=tokens).tolist() for n in (2, 9, 31, 64)]
    with torch.no_grad():
        expected = {"sequences": sequences, "logprobs": [token_logprobs(cfg, w32, s) for s in sequences]}
        # Greedy decoding by full recomputation at every step (no cache): the KV-cache oracle.
        prompt, generated = sequences[1], []
        for _ in range(12):
            generated.append(int(forward(cfg, w32, prompt + generated)[-1].argmax()))
        expected["greedy"] = {"prompt": prompt, "tokens": generated}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(f"{name}: {sum(t.numel() for t in weights.values())} parameters, {len(sequences)} sequences")


def write_gradients():
    """Autograd gradients of L = Σ c_t · log p(x[t+1] | x[..t]) over two sequences for tiny-f32
    (test/fixtures/qwen2/tiny-f32/grads.safetensors + grads.json with the sequences and c)."""
    out = os.path.join(ROOT, "tiny-f32")
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(out, "expected.json")) as f:
        sequences = json.load(f)["sequences"][1:3]
    gen = torch.Generator().manual_seed(1234)
    weights = make_weights(cfg, gen)
    leaves = {k: torch.nn.Parameter(v.clone()) for k, v in weights.items()}
    coeffs = torch.Generator().manual_seed(77)
    c = [torch.randn(len(s) - 1, generator=coeffs).tolist() for s in sequences]
    loss = 0
    for seq, cs in zip(sequences, c):
        logp = torch.log_softmax(forward(cfg, leaves, seq), dim=-1)
        picked = logp[torch.arange(len(seq) - 1), torch.tensor(seq[1:])]
        loss = loss + (picked * torch.tensor(cs)).sum()
    loss.backward()
    write_safetensors(os.path.join(out, "grads.safetensors"), {k: v.grad.detach().contiguous() for k, v in leaves.items()})
    with open(os.path.join(out, "grads.json"), "w") as f:
        json.dump({"sequences": sequences, "coefficients": c, "loss": float(loss)}, f)
    print(f"gradients: {len(leaves)} tensors, loss {float(loss):.4f}")


def write_train_step():
    """One IG-Search/GRPO update of tiny-f32 as docs/method.md states it (verl's loss: ratio clamp ±20,
    PPO clip 0.2, dual clip 3, clamped k3 KL with β 0.001, token-mean), clip_grad_norm_(1.0),
    AdamW(lr 1e-3). Writes the inputs (train_step.json) and some updated tensors (train_step.safetensors)."""
    out = os.path.join(ROOT, "tiny-f32")
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(out, "expected.json")) as f:
        sequences = json.load(f)["sequences"][1:3]
    weights = make_weights(cfg, torch.Generator().manual_seed(1234))
    leaves = {k: torch.nn.Parameter(v.clone()) for k, v in weights.items()}
    gen = torch.Generator().manual_seed(31)
    with torch.no_grad():
        current = [token_logprobs(cfg, weights, s) for s in sequences]
    old = [[v + float(torch.randn(1, generator=gen)) * 0.3 for v in lp] for lp in current]
    ref = [[v + float(torch.randn(1, generator=gen)) * 0.5 for v in lp] for lp in current]
    adv = [(torch.randn(len(lp), generator=gen) * 1.5).tolist() for lp in current]
    mask = [[1 if t >= 2 else 0 for t in range(len(lp))] for lp in current]
    terms, count = [], 0
    for seq, o, r, a, m in zip(sequences, old, ref, adv, mask):
        logp_all = torch.log_softmax(forward(cfg, leaves, seq), dim=-1)
        logp = logp_all[torch.arange(len(seq) - 1), torch.tensor(seq[1:])]
        o, r, a, m = (torch.tensor(x, dtype=torch.float32) for x in (o, r, a, m))
        ratio = torch.exp(torch.clamp(logp - o, -20.0, 20.0))
        pg1, pg2 = -a * ratio, -a * torch.clamp(ratio, 0.8, 1.2)
        clip1 = torch.maximum(pg1, pg2)
        pg = torch.where(a < 0, torch.minimum(-a * 3.0, clip1), clip1)
        kl = torch.clamp(r - logp, -20.0, 20.0)
        kl = torch.clamp(torch.exp(kl) - kl - 1, -10.0, 10.0)
        terms.append(((pg + 0.001 * kl) * m).sum())
        count += int(m.sum())
    loss = sum(terms) / count
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(list(leaves.values()), 1.0)
    opt = torch.optim.AdamW(list(leaves.values()), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    opt.step()
    keep = ["model.embed_tokens.weight", "lm_head.weight", "model.norm.weight", "model.layers.0.self_attn.q_proj.weight",
            "model.layers.0.self_attn.k_proj.bias", "model.layers.1.mlp.down_proj.weight", "model.layers.1.input_layernorm.weight"]
    write_safetensors(os.path.join(out, "train_step.safetensors"), {k: leaves[k].detach().contiguous() for k in keep})
    with open(os.path.join(out, "train_step.json"), "w") as f:
        json.dump({"sequences": sequences, "old": old, "ref": ref, "advantages": adv, "mask": mask, "loss": float(loss), "gradNorm": float(norm),
                   "optimizer": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weightDecay": 0.01, "maxGradNorm": 1.0}}, f)
    print(f"train step: loss {float(loss):.5f}, grad norm {float(norm):.4f}")


def write_lora_step():
    """LoRA (r 4, alpha 8) on q/v/o/gate/down of tiny-f32: the adapter before (PEFT files in
    tiny-f32-lora/), log-probs with it, and A/B after one AdamW step on L = Σ c·log p (lora_step.*)."""
    src = os.path.join(ROOT, "tiny-f32")
    out = os.path.join(ROOT, "tiny-f32-lora")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(src, "grads.json")) as f:
        g = json.load(f)
    weights = make_weights(cfg, torch.Generator().manual_seed(1234))
    gen = torch.Generator().manual_seed(4)
    rank, alpha, targets = 4, 8.0, ["q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"]
    h, inter, d = cfg["hidden_size"], cfg["intermediate_size"], cfg["hidden_size"] // cfg["num_attention_heads"]
    dims = {"q_proj": (h, cfg["num_attention_heads"] * d), "v_proj": (h, cfg["num_key_value_heads"] * d), "o_proj": (h, h), "gate_proj": (h, inter), "down_proj": (inter, h)}
    lora, tensors = {"scale": alpha / rank}, {}
    for i in range(cfg["num_hidden_layers"]):
        for t in targets:
            fan_in, fan_out = dims[t]
            a_ = torch.nn.Parameter((torch.rand(rank, fan_in, generator=gen) * 2 - 1) / fan_in**0.5)
            b_ = torch.nn.Parameter(torch.randn(fan_out, rank, generator=gen) * 0.05)
            lora[(i, t)] = (a_, b_)
            module = "mlp" if t in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            tensors[f"base_model.model.model.layers.{i}.{module}.{t}.lora_A.weight"] = a_
            tensors[f"base_model.model.model.layers.{i}.{module}.{t}.lora_B.weight"] = b_
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), {k: v.detach().clone() for k, v in tensors.items()})
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha, "lora_dropout": 0.0, "bias": "none", "target_modules": targets}, f, indent=2)
    opt = torch.optim.AdamW(list(tensors.values()), lr=1e-2, weight_decay=0.0)
    loss, logps = 0, []
    for seq, cs in zip(g["sequences"], g["coefficients"]):
        logp = torch.log_softmax(forward(cfg, weights, seq, lora), dim=-1)[torch.arange(len(seq) - 1), torch.tensor(seq[1:])]
        logps.append(logp.tolist())
        loss = loss + (logp * torch.tensor(cs)).sum()
    loss.backward()
    opt.step()
    write_safetensors(os.path.join(src, "lora_step.safetensors"), {k: v.detach().clone() for k, v in tensors.items()})
    with open(os.path.join(src, "lora_step.json"), "w") as f:
        json.dump({"logprobs": logps, "loss": float(loss)}, f)
    print(f"lora step: {len(tensors)} adapter tensors, loss {float(loss):.4f}")


def write_adamw():
    """torch.optim.AdamW + clip_grad_norm_ over three steps on two tensors (test/fixtures/adamw.json)."""
    gen = torch.Generator().manual_seed(5)
    params = [torch.randn(7, 5, generator=gen), torch.randn(33, generator=gen)]
    initial = [p.clone() for p in params]
    leaves = [torch.nn.Parameter(p.clone()) for p in params]
    options = {"lr": 0.01, "betas": [0.9, 0.95], "eps": 1e-8, "weightDecay": 0.1, "maxGradNorm": 1.0}
    opt = torch.optim.AdamW(leaves, lr=options["lr"], betas=tuple(options["betas"]), eps=options["eps"], weight_decay=options["weightDecay"])
    steps = []
    for scale in (0.3, 3.0, 0.05):  # the second step is clipped
        grads = [torch.randn(p.shape, generator=gen) * scale for p in params]
        for leaf, g in zip(leaves, grads):
            leaf.grad = g.clone()
        norm = torch.nn.utils.clip_grad_norm_(leaves, options["maxGradNorm"])
        opt.step()
        steps.append({"grads": [g.flatten().tolist() for g in grads], "norm": float(norm), "params": [p.detach().flatten().tolist() for p in leaves]})
    with open(os.path.join(ROOT, "..", "adamw.json"), "w") as f:
        json.dump({"options": options, "initial": [p.flatten().tolist() for p in initial], "steps": steps}, f)
    print("adamw: 3 steps")


def bert_layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def bert_forward(cfg, w, ids, mask):
    """BertModel's last hidden state for padded ids [B, L] with attention mask [B, L] (1 = token)."""
    h, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    d = h // heads
    b, length = ids.shape
    lin = lambda x, name: x @ w[name + ".weight"].T + w[name + ".bias"]
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length][None] + w["embeddings.token_type_embeddings.weight"][0]
    x = bert_layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    blocked = (mask == 0)[:, None, None, :]
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        split = lambda t: t.view(b, length, heads, d).transpose(1, 2)
        q, k, v = (split(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        a = torch.softmax(scores.masked_fill(blocked, float("-inf")), dim=-1) @ v
        a = a.transpose(1, 2).reshape(b, length, h)
        x = bert_layer_norm(x + lin(a, p + "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        inner = lin(x, p + "intermediate.dense")
        inner = 0.5 * inner * (1.0 + torch.erf(inner / math.sqrt(2.0)))
        x = bert_layer_norm(x + lin(inner, p + "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    return x


def write_bert():
    """A tiny random BertModel (test/fixtures/bert/tiny-bert): hidden states of a padded batch, and its
    mean- and CLS-pooled, L2-normalised embeddings."""
    cfg = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 48, "type_vocab_size": 2,
        "vocab_size": 300, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute",
        "pad_token_id": 0, "torch_dtype": "float32",
    }
    gen = torch.Generator().manual_seed(2718)
    randn = lambda *shape, std=0.2, mean=0.0: torch.randn(*shape, generator=gen, dtype=torch.float32) * std + mean
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    w = {
        "embeddings.word_embeddings.weight": randn(cfg["vocab_size"], h, std=0.5),
        "embeddings.position_embeddings.weight": randn(cfg["max_position_embeddings"], h, std=0.3),
        "embeddings.token_type_embeddings.weight": randn(cfg["type_vocab_size"], h, std=0.3),
        "embeddings.LayerNorm.weight": randn(h, std=0.1, mean=1.0),
        "embeddings.LayerNorm.bias": randn(h, std=0.1),
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            w[p + f"attention.self.{n}.weight"] = randn(h, h)
            w[p + f"attention.self.{n}.bias"] = randn(h, std=0.1)
        w[p + "attention.output.dense.weight"] = randn(h, h)
        w[p + "attention.output.dense.bias"] = randn(h, std=0.1)
        w[p + "attention.output.LayerNorm.weight"] = randn(h, std=0.1, mean=1.0)
        w[p + "attention.output.LayerNorm.bias"] = randn(h, std=0.1)
        w[p + "intermediate.dense.weight"] = randn(inter, h)
        w[p + "intermediate.dense.bias"] = randn(inter, std=0.1)
        w[p + "output.dense.weight"] = randn(h, inter, std=0.15)
        w[p + "output.dense.bias"] = randn(h, std=0.1)
        w[p + "output.LayerNorm.weight"] = randn(h, std=0.1, mean=1.0)
        w[p + "output.LayerNorm.bias"] = randn(h, std=0.1)
    out = os.path.join(os.path.dirname(ROOT), "bert", "tiny-bert")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out, "model.safetensors"), w)
    tokens = torch.Generator().manual_seed(2719)
    sequences = [torch.randint(1, cfg["vocab_size"], (n,), generator=tokens).tolist() for n in (1, 5, 17, 40)]
    longest = max(len(s) for s in sequences)
    ids = torch.tensor([s + [0] * (longest - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (longest - len(s)) for s in sequences])
    with torch.no_grad():
        hidden = bert_forward(cfg, w, ids, mask)
        m = mask[:, :, None].float()
        mean = (hidden * m).sum(1) / m.sum(1)
        cls = hidden[:, 0]
    unit = lambda t: (t / t.norm(dim=-1, keepdim=True)).tolist()
    expected = {
        "sequences": sequences,
        "hidden": [hidden[i, : len(s)].reshape(-1).tolist() for i, s in enumerate(sequences)],
        "mean": unit(mean),
        "cls": unit(cls),
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(f"bert/tiny-bert: {sum(t.numel() for t in w.values())} parameters, {len(sequences)} sequences (padded to {longest})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the PyTorch oracle fixtures (OUT/adamw.json, OUT/qwen2/...).")
    parser.add_argument("--out", required=True, help="fixtures directory, e.g. test/fixtures (the committed ones) or a temporary one")
    args = parser.parse_args()
    ROOT = os.path.join(os.path.abspath(args.out), "qwen2")
    os.makedirs(ROOT, exist_ok=True)
    torch.set_num_threads(1)
    write_adamw()
    write_model("tiny-f32", config(), seed=1234, dtype=torch.float32, shards=1)
    write_model("tiny-bf16", config(tie_word_embeddings=True, num_hidden_layers=3, torch_dtype="bfloat16", rope_theta=1000000.0), seed=99, dtype=torch.bfloat16, shards=2)
    # Llama-3.x / SmolLM2's block: no q/k/v bias, Llama-3 RoPE scaling (a small original context so that
    # all three frequency bands occur at head dimension 16), tied embeddings.
    llama = config(
        architectures=["LlamaForCausalLM"], model_type="llama", attention_bias=False, mlp_bias=False, hidden_act="silu",
        tie_word_embeddings=True, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
    )
    write_model("tiny-llama", llama, seed=4321, dtype=torch.float32, shards=1)
    # Qwen3's block: per-head q/k RMSNorm before RoPE, no q/k/v bias, head_dim 32 ≠ hidden / heads = 16.
    qwen3 = config(architectures=["Qwen3ForCausalLM"], model_type="qwen3", head_dim=32, attention_bias=False, hidden_act="silu", tie_word_embeddings=True, rope_theta=1000000.0)
    write_model("tiny-qwen3", qwen3, seed=777, dtype=torch.float32, shards=1)
    write_last_token_embeddings("tiny-qwen3", qwen3, seed=777)
    write_gradients()
    write_train_step()
    write_lora_step()
    write_bert()

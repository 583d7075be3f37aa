"""PyTorch fp32 CPU side of bench/dense.ts: the same random MiniLM-shaped BertModel checkpoint and
the same passages (token ids), encoded in the same batches (padded with an attention mask, mean
pooling, L2 normalisation, as sentence-transformers does); then exact search over an index of the
same shape, `torch.topk(q @ E.T)` for batches of queries. Reports passages/s and queries/s, and the
first batch's embeddings so the bench can check the two sides agree. On CUDA when the machine has it
(a GPU machine from scripts/device-bundle.sh), else on the CPU."""
import json
import math
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
        begin, end = e["data_offsets"]
        w[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=np.float32).copy()).view(*e["shape"])
    return cfg, w


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def encode(cfg, w, ids, mask):
    h, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    d = h // heads
    b, length = ids.shape
    lin = lambda x, name: torch.nn.functional.linear(x, w[name + ".weight"], w[name + ".bias"])
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length][None] + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    bias = torch.zeros(b, 1, 1, length).masked_fill((mask == 0)[:, None, None, :], float("-inf"))
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        split = lambda t: t.view(b, length, heads, d).transpose(1, 2)
        q, k, v = (split(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, dim=-1) @ v
        x = layer_norm(x + lin(a.transpose(1, 2).reshape(b, length, h), p + "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        inner = torch.nn.functional.gelu(lin(x, p + "intermediate.dense"))
        x = layer_norm(x + lin(inner, p + "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    m = mask[:, :, None].float()
    pooled = (x * m).sum(1) / m.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    job = json.load(sys.stdin)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    cfg, w = load(job["dir"])
    w = {k: v.to(device) for k, v in w.items()}
    passages = job["passages"]
    batch = job["batch"]
    first = None
    with torch.no_grad():
        start = time.perf_counter()
        for at in range(0, len(passages), batch):
            part = passages[at:at + batch]
            longest = max(len(p) for p in part)
            ids = torch.tensor([p + [0] * (longest - len(p)) for p in part], device=device)
            mask = torch.tensor([[1] * len(p) + [0] * (longest - len(p)) for p in part], device=device)
            out = encode(cfg, w, ids, mask)
            if first is None:
                first = out.tolist()
        sync()
        embed_seconds = time.perf_counter() - start
        gen = torch.Generator().manual_seed(7)
        index = torch.nn.functional.normalize(torch.randn(job["indexRows"], job["dims"], generator=gen), dim=-1).to(device)
        queries = torch.nn.functional.normalize(torch.randn(job["queryBatches"] * job["queryBatch"], job["dims"], generator=gen), dim=-1).to(device)
        torch.topk(queries[: job["queryBatch"]] @ index.T, job["k"])  # warm-up
        sync()
        start = time.perf_counter()
        for b in range(job["queryBatches"]):
            # A search answers its queries: the ids come back to the host, as ours do.
            torch.topk(queries[b * job["queryBatch"]:(b + 1) * job["queryBatch"]] @ index.T, job["k"]).indices.cpu()
        search_seconds = time.perf_counter() - start
    print(json.dumps({"torch": torch.__version__, "result": {"device": device, "embedSeconds": embed_seconds, "searchSeconds": search_seconds, "firstBatch": first}}))


if __name__ == "__main__":
    main()

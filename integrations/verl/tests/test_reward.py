"""The IG step reward: by hand with a table policy, and against ig-search's WebGPU scorer with a torch Qwen2."""
import json
import math
import os
import random
import struct
import sys

import pytest
import torch

from ig_search_verl import IgStep, format_information, information_gain, sample_random_documents


def table_policy(table):
    """log p(token) = table[token] whatever the context; counts the probes it is asked."""
    calls = []

    def fn(pairs):
        calls.append(len(pairs))
        return [torch.tensor([table[t] for t in answer]) for _, answer in pairs]

    return fn, calls


def test_information_gain_by_hand():
    # A context-free table makes real and random equal unless the policy depends on context:
    # use one that reads the last context token instead.
    def fn(pairs):
        return [torch.tensor([-0.5 if context[-1] == 9 else -2.0] * len(answer)) for context, answer in pairs]

    steps = [IgStep(prefix=[1, 2], real=[5, 9], random=[5, 8], answers=[[3, 4], [6]])]
    [score] = information_gain(fn, steps)
    assert (score.real, score.random, score.ig) == (-0.5, -2.0, 1.5)
    fn2, calls = table_policy({3: -1.0, 4: -3.0, 6: -1.5})
    [s] = information_gain(fn2, steps)
    assert s.real == -1.5 and s.random == -1.5 and s.ig == 0  # max over answers: (−1 − 3)/2 = −2 vs −1.5
    assert calls == [4]  # one call for every probe of the batch
    with pytest.raises(ValueError, match="answers\\[0\\] is empty"):
        information_gain(fn2, [IgStep(prefix=[1], real=[2], random=[3], answers=[[]])])


def test_format_information_and_random_documents():
    docs = ['"Gemar"\nGemar is a city in Zisistan.', "Untitled"]
    assert format_information(docs) == "\n\n<information>Doc 1(Title: Gemar) Gemar is a city in Zisistan.\nDoc 2(Title: Untitled) </information>\n\n"
    corpus = ["Paris is in France.", "The Louvre.", "Berlin.", "Rome, Italy.", "Madrid"]
    drawn = sample_random_documents(corpus, 3, exclude=[1], golden_answers=["paris"], rng=random.Random(0))
    assert len(drawn) == 3 and "The Louvre." not in drawn and "Paris is in France." not in drawn


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", meta["dtype"]
        start, end = meta["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32).reshape(meta["shape"])
    return out


def test_ig_scores_match_the_webgpu_scorer_with_a_torch_qwen2():
    path = os.environ.get("IG_SEARCH_IG_GOLDEN")
    if not path:
        pytest.skip("IG_SEARCH_IG_GOLDEN not set (npx vitest run test/verl.test.ts scores the steps on WebGPU and runs this test)")
    with open(path) as f:
        golden = json.load(f)
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    sys.path.insert(0, os.path.join(root, "scripts"))
    from fixtures import forward  # the repository's fp32 torch Qwen2 (the oracle of every model fixture)

    with open(os.path.join(golden["model"], "config.json")) as f:
        cfg = json.load(f)
    weights = read_safetensors(os.path.join(golden["model"], "model.safetensors"))

    def log_probs(pairs):
        out = []
        for context, answer in pairs:
            ids = context + answer
            logp = torch.log_softmax(forward(cfg, weights, ids), dim=-1)
            out.append(torch.stack([logp[len(context) + t - 1, answer[t]] for t in range(len(answer))]))
        return out

    steps = [IgStep(**s) for s in golden["steps"]]
    with torch.no_grad():
        scores = information_gain(log_probs, steps)
    for ours, theirs in zip(scores, golden["scores"]):
        assert [ours.real, ours.random, ours.ig] == pytest.approx([theirs["real"], theirs["random"], theirs["ig"]], abs=1e-4)
    assert len(scores) == len(golden["scores"]) > 0
    assert any(abs(s.ig) > 1e-3 for s in scores)  # not a vacuous match

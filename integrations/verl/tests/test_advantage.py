"""The estimator on batches worked out by hand, and on golden vectors from ig-search's Rust core."""
import json
import math
import os
import random

import pytest
import torch

from ig_search_verl import Shaping, compute_ig_search_advantage, grpo_advantages, pack_token_level_rewards, shape_information_gain

EPS = 1e-6


def test_grpo_by_hand():
    a = grpo_advantages(torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64), ["a", "a", "b"])
    std = math.sqrt(0.5)  # [1, 0]: mean .5, unbiased var .5
    assert a.tolist() == pytest.approx([0.5 / (std + EPS), -0.5 / (std + EPS), 0.5 / (1 + EPS)], abs=1e-12)
    same = grpo_advantages(torch.tensor([1.0, 1.0, 1.0]), [7, 7, 7])
    assert same.tolist() == [0.0, 0.0, 0.0]
    dr = grpo_advantages(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), [1, 1, 1], norm_by_std=False)
    assert dr.tolist() == pytest.approx([2 / 3, -1 / 3, -1 / 3], abs=1e-12)


def test_shaping_by_hand():
    raw = torch.tensor([0.04, -0.04, 0.3, -0.3, 5.0, -5.0, -3.0], dtype=torch.float64)
    shaped = shape_information_gain(raw, [0] * 7)
    assert shaped.tolist() == pytest.approx([0.0, 0.0, 0.3, -0.15, 2.0, -2.0, -1.5], abs=1e-15)
    with pytest.raises(ValueError, match="clip must be finite and > 0"):
        Shaping(clip=0)


def hand_batch():
    # Row 0 (group a, R 1): query [1, 3) with IG̃ 0.5, retrieved [3, 5), last policy token 5.
    # Row 1 (group a, R 0): query [0, 1) with IG̃ −1, padding from 4.
    # Row 2 (group b, R 0.5): two tokens.
    mask = torch.tensor([[1, 1, 1, 0, 0, 1], [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])
    rewards = pack_token_level_rewards([1.0, 0.0, 0.5], mask, [[(1, 3)], [(0, 1)], []], [[0.5], [-1.0], []], lam=2.0, dtype=torch.float64)
    return rewards, mask


def test_packing_and_estimator_by_hand():
    rewards, mask = hand_batch()
    assert rewards.tolist() == [[0, 1, 1, 0, 0, 1], [-2, 0, 0, 0, 0, 0], [0, 0.5, 0, 0, 0, 0]]
    adv, returns = compute_ig_search_advantage(rewards, mask, ["a", "a", "b"])
    hi, lo, b = 0.5 / (math.sqrt(0.5) + EPS), -0.5 / (math.sqrt(0.5) + EPS), 0.5 / (1 + EPS)
    expected = [[hi, hi + 1, hi + 1, 0, 0, hi], [lo - 2, lo, lo, lo, 0, 0], [b, b, 0, 0, 0, 0]]
    assert adv.tolist() == [pytest.approx(row, abs=1e-12) for row in expected]
    assert torch.equal(adv, returns)
    times, _ = compute_ig_search_advantage(rewards, mask, ["a", "a", "b"], mode="multiplicative")
    assert times[0].tolist() == pytest.approx([hi, hi * 2, hi * 2, 0, 0, hi], abs=1e-12)  # Â·(1 + λ·IG̃)
    assert times[1].tolist() == pytest.approx([lo * -1, lo, lo, lo, 0, 0], abs=1e-12)


def test_all_fail_group_still_moves_its_queries():
    mask = torch.ones(3, 5, dtype=torch.long)
    rewards = pack_token_level_rewards([0, 0, 0], mask, [[(1, 2)], [(1, 2)], []], [[0.8], [-0.4], []], lam=1.0)
    adv, _ = compute_ig_search_advantage(rewards, mask, ["q", "q", "q"])
    assert adv[:, 0].tolist() == [0, 0, 0]  # GRPO gives nothing
    assert adv[:, 1].tolist() == pytest.approx([0.8, -0.4, 0.0])


def test_dr_grpo_from_the_config_and_bad_input():
    rewards, mask = hand_batch()
    adv, _ = compute_ig_search_advantage(rewards, mask, ["a", "a", "b"], config={"norm_adv_by_std_in_grpo": False})
    assert adv[0, 0].item() == pytest.approx(0.5) and adv[2, 0].item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="holds the last policy token"):
        pack_token_level_rewards([1.0], torch.ones(1, 4), [[(2, 4)]], [[0.3]])
    with pytest.raises(ValueError, match="covers tokens response_mask excludes"):
        pack_token_level_rewards([1.0], torch.tensor([[1, 0, 1, 1]]), [[(0, 2)]], [[0.3]])
    with pytest.raises(ValueError, match="must be the same"):
        compute_ig_search_advantage(torch.zeros(2, 3), torch.ones(2, 4), [0, 1])
    with pytest.raises(ValueError, match="mode must be"):
        compute_ig_search_advantage(rewards, mask, [0, 1, 2], mode="sideways")


def verl_grpo(token_level_rewards, response_mask, index, epsilon=EPS):
    """verl's GRPO outcome advantage as core_algos.compute_grpo_outcome_advantage computes it: the row's
    rewards summed, z-scored per group (unbiased std; a group of one: mean 0, std 1), times the mask."""
    scores = token_level_rewards.sum(dim=-1)
    out = scores.clone()
    for uid in set(index):
        rows = [i for i, u in enumerate(index) if u == uid]
        if len(rows) == 1:
            mean, std = 0.0, 1.0
        else:
            mean, std = scores[rows].mean(), scores[rows].std()
        out[rows] = (scores[rows] - mean) / (std + epsilon)
    return out.unsqueeze(-1) * response_mask


def verl_padded_batch():
    """Six rollouts in verl's layout: policy tokens (mask 1), tool observations (mask 0), right padding
    (mask 0). verl's naive reward manager puts R on the last non-padding token: rows 0, 2 and 4 end
    inside an observation, so their score sits on a masked position."""
    valid = [7, 5, 8, 6, 4, 8]
    mask = torch.tensor([
        [1, 1, 1, 0, 0, 0, 0, 0],  # policy, then an observation to the end
        [1, 1, 1, 1, 1, 0, 0, 0],
        [1, 1, 0, 0, 1, 1, 0, 0],  # observation, policy, observation
        [1, 1, 1, 1, 1, 1, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 1, 1, 1],
    ])
    scores = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    rewards = torch.zeros(6, 8, dtype=torch.float64)
    for i, (n, r) in enumerate(zip(valid, scores)):
        rewards[i, n - 1] = r
    return rewards, mask, ["a", "a", "a", "b", "b", "b"]


def test_without_the_hook_the_estimator_is_verls_grpo_even_when_a_rollout_ends_in_an_observation():
    rewards, mask, index = verl_padded_batch()
    adv, _ = compute_ig_search_advantage(rewards, mask, index)
    expected = verl_grpo(rewards, mask.to(torch.float64), index)
    assert torch.allclose(adv, expected, atol=1e-12)
    assert adv[0, 0].item() > 0  # R = 1 in a group of [1, 0, 1]: positive, as verl's GRPO gives
    dr, _ = compute_ig_search_advantage(rewards, mask, index, config={"norm_adv_by_std_in_grpo": False})
    sums = rewards.sum(-1)
    assert dr[0, 0].item() == pytest.approx(float(sums[0] - sums[:3].mean()), abs=1e-12)


def test_kl_in_the_reward_is_refused_by_name():
    rewards, mask, index = verl_padded_batch()
    beta_kl = 0.1 * torch.rand(6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * mask  # apply_kl_penalty's -beta*KL
    with pytest.raises(ValueError, match="use_kl_in_reward=True"):
        compute_ig_search_advantage(rewards - beta_kl, mask, index, config={"use_kl_in_reward": True, "norm_adv_by_std_in_grpo": True})
    adv, _ = compute_ig_search_advantage(rewards, mask, index, config={"use_kl_in_reward": False})
    assert torch.allclose(adv, verl_grpo(rewards, mask.to(torch.float64), index), atol=1e-12)


def golden_cases():
    path = os.environ.get("IG_SEARCH_GOLDEN")
    if not path:
        pytest.skip("IG_SEARCH_GOLDEN not set: the golden vectors come from ig-search's Rust core (npx vitest run test/verl.test.ts writes them and runs these tests)")
    with open(path) as f:
        return json.load(f)["cases"]


def test_golden_grpo_and_shaping_match_the_rust_core():
    for case in golden_cases():
        uids = [g for g, size in enumerate(case["groups"]) for _ in range(size)]
        grpo = grpo_advantages(torch.tensor(case["rewards"], dtype=torch.float64), uids, norm_by_std=case["norm"] == "std")
        assert grpo.tolist() == pytest.approx(case["grpo"], abs=1e-12)
        step_groups = [g for g, n in enumerate(case["stepsPerGroup"]) for _ in range(n)]
        s = case["shaping"]
        shaping = Shaping(dead_zone=s["deadZone"], negative_scale=s["negativeScale"], clip=s["clip"], group_z=s["normalize"] == "group-z", epsilon=s["epsilon"])
        raw = torch.tensor(case["real"], dtype=torch.float64) - torch.tensor(case["counterfactual"], dtype=torch.float64)
        assert raw.tolist() == pytest.approx(case["raw"], abs=1e-12)
        assert shape_information_gain(raw, step_groups, shaping).tolist() == pytest.approx(case["shaped"], abs=1e-12)


def test_golden_per_token_advantages_match_the_rust_core():
    for case in golden_cases():
        counts = case["tokenCounts"]
        rows, width = len(counts), max(counts) + 3  # right padding, as in a verl batch
        mask = torch.zeros(rows, width, dtype=torch.long)
        for r, n in enumerate(counts):
            mask[r, :n] = 1
        ret = case["retrieved"]
        for r, s, e in zip(ret["rollout"], ret["start"], ret["end"]):
            mask[r, s:e] = 0
        spans = [[] for _ in range(rows)]
        steps = [[] for _ in range(rows)]
        q = case["queries"]
        for r, s, e, ig in zip(q["rollout"], q["start"], q["end"], case["shaped"]):
            spans[r].append((s, e))
            steps[r].append(ig)
        packed = pack_token_level_rewards(case["rewards"], mask, spans, steps, lam=case["lambda"], dtype=torch.float64)
        uids = [f"uid-{g}" for g, size in enumerate(case["groups"]) for _ in range(size)]
        # verl's batch is not ordered by group: shuffle the rows, compute, and put them back.
        order = list(range(rows))
        random.Random(len(counts)).shuffle(order)
        adv, _ = compute_ig_search_advantage(packed[order], mask[order], [uids[i] for i in order], config={"norm_adv_by_std_in_grpo": case["norm"] == "std"}, mode=case["mode"])
        back = torch.empty_like(adv)
        back[order] = adv
        flat = torch.cat([back[r, :n] for r, n in enumerate(counts)])
        assert flat.tolist() == pytest.approx(case["advantages"], abs=1e-6)
        assert torch.cat([mask[r, :n] for r, n in enumerate(counts)]).tolist() == case["lossMask"]
        assert back[:, max(counts):].abs().sum().item() == 0  # padding


def test_golden_exact_match_rewards_match_the_rust_core():
    from ig_search_verl.verl_reward import compute_score

    path = os.environ.get("IG_SEARCH_GOLDEN")
    if not path:
        pytest.skip("IG_SEARCH_GOLDEN not set")
    with open(path) as f:
        em = json.load(f)["em"]
    ours = [compute_score("searchR1_nq", r, {"target": g}) for r, g in zip(em["responses"], em["golds"])]
    assert ours == em["rewards"]

"""Finding searches in verl responses, scoring them, and packing for the estimator (a character-level tokenizer)."""
import random

import pytest
import torch

from ig_search_verl import compute_ig_search_advantage, format_information
from ig_search_verl.batch import ig_token_rewards, pack_verl_rewards, search_spans


class CharTokenizer:
    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


TOK = CharTokenizer()
CORPUS = ['"Bo"\nBo is a city in Zisistan.', '"Cy"\nCy is a film from 1931.', '"Ana"\nAna founded Tiobean Group.', '"Di"\nDi is a country.']


def rollout(parts):
    """(ids, mask) from [(text, is_policy)]."""
    ids, mask = [], []
    for text, policy in parts:
        ids += TOK.encode(text)
        mask += [1 if policy else 0] * len(text)
    return ids, mask


def test_search_spans_find_queries_and_their_observations():
    obs = format_information([CORPUS[2]])
    ids, mask = rollout([("<think>a</think><search> who founded</search>", True), (obs, False), ("<search> x</search>", True), ("<answer> Ana</answer>", True)])
    spans = search_spans(ids, mask, lambda t: chr(t))
    text = TOK.decode(ids)
    assert len(spans) == 1  # the second search got no observation
    q0, q1 = spans[0].query
    assert text[q0:q1] == " who founded"
    i0, i1 = spans[0].information
    assert text[i0:i1] == obs


def test_ig_token_rewards_score_each_search_and_the_estimator_reads_them():
    obs = format_information([CORPUS[2]])
    ids, mask = rollout([("<search> who founded</search>", True), (obs, False), ("<answer> Ana</answer>", True)])
    ids2, mask2 = rollout([("<answer> Bo</answer>", True)])
    width = len(ids)
    response_mask = torch.zeros(2, width, dtype=torch.long)
    response_mask[0] = torch.tensor(mask)
    response_mask[1, : len(ids2)] = 1

    seen = []

    def log_probs(pairs):
        # The gold answer is likely exactly when the context shows it: the retrieved block does, random passages never do.
        seen.extend(pairs)
        return [torch.full((len(a),), -0.1 if "Ana" in TOK.decode(c) else -3.0) for c, a in pairs]

    prompt = TOK.encode("Q: who founded Tiobean Group?\n")
    ig, stats = ig_token_rewards([prompt, prompt], [ids, ids2], response_mask, [["Ana"], ["Ana"]], ["g", "g"], TOK, log_probs, CORPUS, lam=0.5, rng=random.Random(3))
    assert stats["ig/steps"] == 1 and stats["ig/raw_mean"] == pytest.approx(2.9)
    text = TOK.decode(ids)
    q0 = text.index(" who")
    assert ig[0, q0 : q0 + len(" who founded")].tolist() == [1.0] * len(" who founded")  # λ · clip(2.9) = 0.5 · 2
    assert ig.abs().sum().item() == pytest.approx(len(" who founded"))
    # Both probes (real, random) continue the prompt + response up to the observation with " Ana".
    assert [TOK.decode(a) for _, a in seen] == [" Ana", " Ana"]
    assert TOK.decode(seen[0][0]).endswith(obs + "<answer>") and TOK.decode(seen[0][0]).startswith("Q: who")
    random_context = TOK.decode(seen[1][0])
    assert "Ana" not in random_context.split("</search>")[1] and "Doc 1(Title:" in random_context

    # verl's reward manager puts the outcome at the last valid token; pack it where the estimator reads it.
    outcome = torch.zeros(2, width)
    outcome[0, len(ids) - 1] = 1.0
    outcome[1, len(ids2) - 1] = 0.0
    packed = pack_verl_rewards(outcome, response_mask, ig)
    adv, _ = compute_ig_search_advantage(packed, response_mask, ["g", "g"])
    a = 0.5 / ((0.5**0.5) + 1e-6)  # group [1, 0]
    assert adv[0, 0].item() == pytest.approx(a, abs=1e-6)
    assert adv[0, q0].item() == pytest.approx(a + 1.0, abs=1e-6)
    assert adv[0, text.index("<answer>")].item() == pytest.approx(a, abs=1e-6)
    assert adv[0, text.index("<information>")].item() == 0  # masked observation
    assert adv[1, 0].item() == pytest.approx(-a, abs=1e-6)


def test_pack_verl_rewards_moves_an_outcome_off_a_masked_last_token():
    mask = torch.tensor([[1, 1, 0, 0]])
    outcome = torch.tensor([[0.0, 0.0, 0.0, 1.0]])  # the reward manager's last valid position is masked
    packed = pack_verl_rewards(outcome, mask, torch.zeros(1, 4))
    assert packed.tolist() == [[0.0, 1.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="last policy token"):
        pack_verl_rewards(outcome, mask, torch.tensor([[0.0, 0.3, 0.0, 0.0]]))


def test_the_custom_reward_function_is_exact_match_on_the_last_answer():
    from ig_search_verl.verl_reward import compute_score

    gt = {"target": ["The Tiobean Group", "Tiobean"]}
    assert compute_score("searchR1_nq", "<answer> x </answer> ... <answer> tiobean group. </answer>", gt) == 1.0
    assert compute_score("searchR1_nq", "<answer> Tiobean Labs </answer>", gt) == 0.0
    assert compute_score("searchR1_nq", "<answer> Tiobean", gt) == 0.0  # not closed
    assert compute_score("searchR1_nq", "<answer>Ana</answer>", ["Ana"]) == 1.0


def test_add_ig_rewards_unpads_a_verl_batch():
    from types import SimpleNamespace

    from ig_search_verl.verl_hook import add_ig_rewards

    obs = format_information([CORPUS[2]])
    ids, mask = rollout([("<search> who</search>", True), (obs, False), ("<answer> Ana</answer>", True)])
    prompt = TOK.encode("Q?\n")
    pw, rw = len(prompt) + 2, len(ids) + 3  # left-padded prompts, right-padded responses (pad id 0)
    prompts = torch.zeros(1, pw, dtype=torch.long)
    prompts[0, 2:] = torch.tensor(prompt)
    responses = torch.zeros(1, rw, dtype=torch.long)
    responses[0, : len(ids)] = torch.tensor(ids)
    attention = torch.zeros(1, pw + rw, dtype=torch.long)
    attention[0, 2 : pw + len(ids)] = 1
    response_mask = torch.zeros(1, rw, dtype=torch.long)
    response_mask[0, : len(ids)] = torch.tensor(mask)
    rewards = torch.zeros(1, rw)
    rewards[0, len(ids) - 1] = 1.0
    data = SimpleNamespace(
        batch={"prompts": prompts, "responses": responses, "attention_mask": attention, "response_mask": response_mask, "token_level_rewards": rewards},
        non_tensor_batch={"reward_model": [{"ground_truth": {"target": ["Ana"]}}], "uid": ["u0"]},
    )
    contexts = []

    def log_probs(pairs):
        contexts.extend(TOK.decode(c) for c, _ in pairs)
        return [torch.full((len(a),), -0.1 if "Ana" in TOK.decode(c) else -3.0) for c, a in pairs]

    stats = add_ig_rewards(data, SimpleNamespace(tokenizer=TOK), CORPUS, 1.0, __import__("ig_search_verl").Shaping(), 3, random.Random(0), log_probs)
    assert stats["ig/steps"] == 1
    assert contexts[0] == "Q?\n<search> who</search>" + obs + "<answer>"  # no padding inside
    out = data.batch["token_level_rewards"][0]
    q0 = TOK.decode(ids).index(" who")
    assert out[q0 : q0 + 4].tolist() == [2.0] * 4 and out[len(ids) - 1].item() == 1.0
    assert out.sum().item() == pytest.approx(9.0)

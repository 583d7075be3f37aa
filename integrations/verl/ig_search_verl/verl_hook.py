"""Puts IG step rewards into verl's PPO loop (verl ≥ 0.5's ``RayPPOTrainer``) without forking it.

verl has no hook between the reward and the advantage, so :func:`install` wraps two of its names in
the driver process: ``RayPPOTrainer.init_workers`` (to keep the trainer, whose actor scores the IG
probes) and ``ray_trainer.compute_advantage`` (to add λ·IG̃ to the query tokens, with the outcome on
the last policy token, when ``algorithm.adv_estimator=ig_search``). Everything it calls is tested
here (tests/); this glue is not: verl and its GPU stack cannot be installed on the machines that
test this package. If verl renames these, the estimator and :func:`ig_search_verl.batch.ig_token_rewards`
still serve, called from your own trainer.
"""
from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Optional

from . import ESTIMATOR_NAME
from .advantage import Shaping
from .batch import ig_token_rewards, pack_verl_rewards
from .reward import verl_log_prob_fn


def read_corpus(path: str) -> List[str]:
    """The ``contents`` of a Search-R1 corpus JSONL (what ``ig-search serve --corpus`` serves)."""
    with open(path) as f:
        return [json.loads(line)["contents"] for line in f if line.strip()]


def install(corpus_path: str, lam: float = 1.0, shaping: Shaping = Shaping(), docs_per_search: int = 3, seed: int = 0) -> None:
    import verl.trainer.ppo.ray_trainer as rt

    corpus = read_corpus(corpus_path)
    rng = random.Random(seed)
    state: Dict[str, Any] = {}
    if getattr(rt.RayPPOTrainer.init_workers, "_ig_search", False):
        return
    original_init = rt.RayPPOTrainer.init_workers
    original_advantage = rt.compute_advantage

    def init_workers(self, *args, **kwargs):
        state["trainer"] = self
        return original_init(self, *args, **kwargs)

    def compute_advantage(data, adv_estimator, *args, **kwargs):
        if str(getattr(adv_estimator, "value", adv_estimator)) == ESTIMATOR_NAME:
            add_ig_rewards(data, state["trainer"], corpus, lam, shaping, docs_per_search, rng)
        return original_advantage(data, adv_estimator, *args, **kwargs)

    init_workers._ig_search = True  # type: ignore[attr-defined]
    rt.RayPPOTrainer.init_workers = init_workers
    rt.compute_advantage = compute_advantage


def add_ig_rewards(data: Any, trainer: Any, corpus: List[str], lam: float, shaping: Shaping, docs_per_search: int, rng: Optional[random.Random] = None, log_prob_fn: Any = None) -> Dict[str, float]:
    """λ·IG̃ into ``data.batch["token_level_rewards"]`` of a verl ``DataProto`` (prompts left-padded,
    responses right-padded); the probes go to the trainer's actor unless ``log_prob_fn`` is given."""
    batch = data.batch
    prompt_width = batch["prompts"].shape[1]
    attention = batch["attention_mask"]
    prompts, responses = [], []
    for i in range(batch["prompts"].shape[0]):
        p_mask = attention[i, :prompt_width].bool()
        r_len = int(attention[i, prompt_width:].sum())
        prompts.append(batch["prompts"][i][p_mask].tolist())
        responses.append(batch["responses"][i, :r_len].tolist())
    golds = [list(rm["ground_truth"]["target"]) for rm in data.non_tensor_batch["reward_model"]]
    tokenizer = trainer.tokenizer
    log_probs = log_prob_fn or verl_log_prob_fn(trainer.actor_rollout_wg, tokenizer.pad_token_id)
    ig, stats = ig_token_rewards(prompts, responses, batch["response_mask"].cpu(), golds, list(data.non_tensor_batch["uid"]), tokenizer, log_probs, corpus, lam, shaping, rng, docs_per_search)
    rewards = batch["token_level_rewards"]
    batch["token_level_rewards"] = pack_verl_rewards(rewards.cpu(), batch["response_mask"].cpu(), ig).to(rewards.device)
    return stats

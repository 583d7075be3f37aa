"""IG-Search (step-level information-gain rewards in GRPO) for verl.

Importing this package registers the ``ig_search`` advantage estimator with verl when verl is
importable (``algorithm.adv_estimator=ig_search``); nothing else here needs verl.
"""
from .advantage import (
    Shaping,
    compute_ig_search_advantage,
    grpo_advantages,
    last_policy_token,
    pack_token_level_rewards,
    shape_information_gain,
)
from .batch import SearchSpan, ig_token_rewards, pack_verl_rewards, search_spans
from .reward import IgScore, IgStep, format_information, ig_step, information_gain, sample_random_documents, verl_log_prob_fn

ESTIMATOR_NAME = "ig_search"


def register() -> bool:
    """Registers ``ig_search`` with verl's advantage-estimator registry; False when verl is absent."""
    try:
        from verl.trainer.ppo.core_algos import register_adv_est
    except ImportError:
        return False
    try:
        register_adv_est(ESTIMATOR_NAME)(compute_ig_search_advantage)
    except ValueError:  # already registered (the package imported twice)
        pass
    return True


REGISTERED = register()

__all__ = [
    "ESTIMATOR_NAME",
    "REGISTERED",
    "IgScore",
    "IgStep",
    "Shaping",
    "compute_ig_search_advantage",
    "format_information",
    "grpo_advantages",
    "ig_token_rewards",
    "ig_step",
    "information_gain",
    "last_policy_token",
    "pack_token_level_rewards",
    "pack_verl_rewards",
    "register",
    "sample_random_documents",
    "search_spans",
    "SearchSpan",
    "shape_information_gain",
    "verl_log_prob_fn",
]

"""A verl custom reward function (``custom_reward_function.path`` = this file, ``.name`` = ``compute_score``).

The outcome reward ig-search trains with: exact match of the last ``<answer> … </answer>`` against any
gold answer (SQuAD normalisation), 0 without a closed answer. Loading this file — which verl does in
the process that computes advantages — also registers the ``ig_search`` advantage estimator and,
with ``IG_SEARCH_CORPUS`` set, installs the IG step rewards (``verl_hook.install``).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ig_search_verl  # noqa: E402  (registers ig_search with verl)
from ig_search_verl.reward import _normalize  # noqa: E402

# With IG_SEARCH_CORPUS set (the corpus JSONL the retrieval server serves), the IG step rewards are
# computed in verl's loop too; IG_SEARCH_LAMBDA sets λ (default 1).
if ig_search_verl.REGISTERED and os.environ.get("IG_SEARCH_CORPUS"):
    from ig_search_verl.verl_hook import install

    install(os.environ["IG_SEARCH_CORPUS"], lam=float(os.environ.get("IG_SEARCH_LAMBDA", "1")))


def extract_answer(text: str):
    """The text of the last closed ``<answer> … </answer>``, or None."""
    matches = re.findall(r"<answer>(.*?)</answer>", text, flags=re.S)
    return matches[-1].strip() if matches else None


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **_):
    answer = extract_answer(solution_str)
    if answer is None:
        return 0.0
    targets = ground_truth.get("target", []) if isinstance(ground_truth, dict) else ground_truth
    if isinstance(targets, str):
        targets = [targets]
    return float(any(_normalize(answer) == _normalize(str(t)) for t in targets))

"""IG-Search's step rewards for a verl batch: find each search in the responses, score it, pack it.

In a Search-R1-style rollout the response holds the policy's text and, after each ``</search>``,
the observation the tool appended — masked out of the loss (``response_mask`` 0). For every search
that got an observation, h is the prompt plus the response up to the observation, the retrieved
branch is the observation's own tokens, and the counterfactual branch renders as many random
corpus passages the same way (``format_observation``, default Search-R1's ``<information>`` block).
:func:`ig_token_rewards` returns λ·IG̃ on the query tokens; :func:`pack_verl_rewards` adds it to
verl's outcome rewards in the layout the ``ig_search`` estimator reads.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch

from .advantage import Shaping, last_policy_token, shape_information_gain
from .reward import IgStep, LogProbFn, format_information, information_gain, sample_random_documents


@dataclass
class SearchSpan:
    """Response positions [start, end) of a query and of the observation that followed it."""

    query: Tuple[int, int]
    information: Tuple[int, int]


def search_spans(response_ids: Sequence[int], response_mask: Sequence[int], token_text: Callable[[int], str]) -> List[SearchSpan]:
    """Every completed search of one response (ids without padding): the query's tokens (those overlapping the text between
    ``<search>`` and ``</search>``) and the run of masked tokens after it. ``token_text`` decodes one
    token (tags are ASCII, so per-token decoding finds them even where a multi-byte character spans
    two tokens)."""
    mask = [int(m) for m in response_mask[: len(response_ids)]]
    length = len(mask)
    ends: List[int] = []
    text = ""
    for t in response_ids[:length]:
        text += token_text(int(t))
        ends.append(len(text))

    def token_at(char: int) -> int:
        lo, hi = 0, len(ends)
        while lo < hi:
            mid = (lo + hi) // 2
            if ends[mid] <= char:
                lo = mid + 1
            else:
                hi = mid
        return lo

    spans: List[SearchSpan] = []
    for match in re.finditer(r"<search>(.*?)</search>", text, flags=re.S):
        q0, q1 = match.start(1), match.end(1)
        first, last = token_at(q0), token_at(max(q0, q1 - 1))
        if q1 <= q0 or mask[first] == 0:
            continue
        tag_end = token_at(match.end() - 1)  # the token holding </search>'s '>'
        start = tag_end + 1
        while start < length and start <= tag_end + 2 and mask[start] == 1:  # e.g. an end-of-turn token
            start += 1
        if start >= length or mask[start] == 1:
            continue  # no observation (the rollout stopped): no IG for this search
        end = start
        while end < length and mask[end] == 0:
            end += 1
        spans.append(SearchSpan(query=(first, last + 1), information=(start, end)))
    return spans


def ig_token_rewards(
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    response_mask: torch.Tensor,
    golden_answers: Sequence[Sequence[str]],
    group_ids: Sequence[Any],
    tokenizer: Any,
    log_prob_fn: LogProbFn,
    corpus: Sequence[str],
    lam: float = 1.0,
    shaping: Shaping = Shaping(),
    rng: Optional[random.Random] = None,
    docs_per_search: int = 3,
    format_observation: Callable[[Sequence[str]], str] = format_information,
) -> Tuple[torch.Tensor, dict]:
    """λ·IG̃ on every query token of the batch ([rows, response width], zero elsewhere), and stats.

    ``prompts``: prompt ids per row, ``responses``: response ids per row, both without padding
    (``response_mask`` may be wider: it is read up to each response's length);
    ``group_ids``: verl's ``uid`` (steps are z-scored per group when ``shaping.group_z``).
    """
    rng = rng or random.Random(0)
    encode = lambda s: list(tokenizer.encode(s, add_special_tokens=False))  # noqa: E731
    token_text = lambda t: tokenizer.decode([t])  # noqa: E731
    answer_tag = encode("<answer>")
    steps: List[IgStep] = []
    where: List[Tuple[int, Tuple[int, int]]] = []
    step_groups: List[Any] = []
    for i, (prompt, response) in enumerate(zip(prompts, responses)):
        ids = [int(t) for t in response]
        answers = [encode(" " + a) for a in golden_answers[i] if a.strip()]
        if not answers:
            continue
        for span in search_spans(ids, response_mask[i].tolist(), token_text):
            block = ids[span.information[0] : span.information[1]]
            observed = tokenizer.decode(block)
            count = len(re.findall(r"Doc \d+\(Title:", observed)) or docs_per_search
            random_docs = sample_random_documents(corpus, count, (), golden_answers[i], rng, exclude_texts=observed)
            steps.append(IgStep(prefix=list(prompt) + ids[: span.information[0]], real=block + answer_tag, random=encode(format_observation(random_docs)) + answer_tag, answers=answers))
            where.append((i, span.query))
            step_groups.append(group_ids[i])
    out = torch.zeros(response_mask.shape, dtype=torch.float32)
    stats = {"ig/steps": len(steps)}
    if steps:
        scores = information_gain(log_prob_fn, steps)
        raw = torch.tensor([s.ig for s in scores], dtype=torch.float64)
        shaped = shape_information_gain(raw, step_groups, shaping)
        for (i, (q0, q1)), value in zip(where, shaped.tolist()):
            out[i, q0:q1] = lam * value
        stats.update({"ig/raw_mean": float(raw.mean()), "ig/shaped_mean": float(shaped.mean()), "ig/nonzero_fraction": float((shaped != 0).double().mean())})
    return out, stats


def pack_verl_rewards(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, ig_rewards: torch.Tensor) -> torch.Tensor:
    """verl's outcome rewards (summed per row, wherever the reward manager put them) moved to the
    last policy token, plus ``ig_rewards``: the layout the ``ig_search`` estimator reads."""
    if not (token_level_rewards.shape == response_mask.shape == ig_rewards.shape):
        raise ValueError(f"shapes differ: rewards {tuple(token_level_rewards.shape)}, mask {tuple(response_mask.shape)}, IG {tuple(ig_rewards.shape)}")
    last = last_policy_token(response_mask)
    out = ig_rewards.to(token_level_rewards.dtype).clone()
    rows = torch.arange(out.shape[0])
    has = last >= 0
    if bool((out[rows[has], last[has]] != 0).any()):
        raise ValueError("an IG reward sits on a row's last policy token, where the outcome reward goes")
    out[rows[has], last[has]] += token_level_rewards.sum(dim=-1)[has]
    return out

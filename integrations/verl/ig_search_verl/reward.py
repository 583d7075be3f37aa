"""The IG step reward, written against a log-prob callable.

For the k-th search of a rollout, with h the trajectory through that search's ``</search>``, D the
documents retrieved and D̃ as many documents drawn at random from the corpus (never a retrieved one,
never one containing a gold answer):

    score(D) = max over gold answers a of (1/|a|) Σ_t log π(a_t | h, info(D), "<answer>", a_<t)
    IG       = score(D) − score(D̃)                                     (nats per answer token)

``info(D)`` is the observation block ig-search (and Search-R1) appends: ``\\n\\n<information>Doc 1(Title: T)
text\\n…</information>\\n\\n``; each answer is tokenised with a leading space, as the policy writes it
after ``<answer>``. Shape the raw values with :func:`ig_search_verl.shape_information_gain`.

A log-prob callable takes ``[(context_ids, continuation_ids), …]`` and returns, for each pair, the
log-probabilities of the continuation's tokens (a 1-D tensor or list) under the policy that sampled
the rollouts (π_old, temperature 1). :func:`verl_log_prob_fn` builds one from verl's actor worker group.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

import torch

LogProbFn = Callable[[List[Tuple[List[int], List[int]]]], Sequence[Any]]


@dataclass
class IgStep:
    """One search step as token ids: ``real``/``random`` are info(D) + "<answer>" for each document set."""

    prefix: Sequence[int]
    real: Sequence[int]
    random: Sequence[int]
    answers: Sequence[Sequence[int]]


@dataclass
class IgScore:
    real: float
    random: float
    ig: float


def information_gain(log_prob_fn: LogProbFn, steps: Sequence[IgStep]) -> List[IgScore]:
    """Raw IG of every step, all probes in one call of ``log_prob_fn``."""
    pairs: List[Tuple[List[int], List[int]]] = []
    for i, step in enumerate(steps):
        if len(step.prefix) == 0:
            raise ValueError(f"steps[{i}].prefix is empty")
        if len(step.answers) == 0:
            raise ValueError(f"steps[{i}].answers is empty: IG needs at least one gold answer")
        for j, answer in enumerate(step.answers):
            if len(answer) == 0:
                raise ValueError(f"steps[{i}].answers[{j}] is empty")
            for side in (step.real, step.random):
                pairs.append((list(step.prefix) + list(side), list(answer)))
    scores = log_prob_fn(pairs)
    if len(scores) != len(pairs):
        raise ValueError(f"log_prob_fn returned {len(scores)} results for {len(pairs)} probes")
    out: List[IgScore] = []
    at = 0
    for step in steps:
        real = random_ = float("-inf")
        for answer in step.answers:
            for side in ("real", "random"):
                values = torch.as_tensor(scores[at], dtype=torch.float64)
                if values.numel() != len(answer):
                    raise ValueError(f"log_prob_fn returned {values.numel()} log-probs for a {len(answer)}-token answer")
                mean = float(values.mean())
                if side == "real":
                    real = max(real, mean)
                else:
                    random_ = max(random_, mean)
                at += 1
        out.append(IgScore(real=real, random=random_, ig=real - random_))
    return out


def format_information(documents: Iterable[str]) -> str:
    """The observation block for Search-R1 passages (``contents``: title line, then text)."""
    lines = []
    for i, contents in enumerate(documents):
        title, _, text = contents.partition("\n")
        title = title.strip()
        if len(title) >= 2 and title.startswith('"') and title.endswith('"'):
            title = title[1:-1]
        lines.append(f"Doc {i + 1}(Title: {title}) {text.strip()}")
    return "\n\n<information>" + "\n".join(lines) + "</information>\n\n"


def ig_step(tokenizer: Any, prefix_ids: Sequence[int], retrieved: Sequence[str], random_documents: Sequence[str], golden_answers: Sequence[str]) -> IgStep:
    """An :class:`IgStep` from text, with a Hugging Face tokenizer (each piece encoded on its own, as ig-search does)."""
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    answer_tag = encode("<answer>")
    return IgStep(
        prefix=list(prefix_ids),
        real=encode(format_information(retrieved)) + answer_tag,
        random=encode(format_information(random_documents)) + answer_tag,
        answers=[encode(" " + a) for a in golden_answers],
    )


def _normalize(text: str) -> str:
    import re
    import string

    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def sample_random_documents(corpus: Sequence[str], count: int, exclude: Iterable[int], golden_answers: Sequence[str], rng: random.Random, exclude_texts: str = "") -> List[str]:
    """``count`` distinct passages drawn uniformly (by rejection: cost independent of the corpus size),
    never an index in ``exclude``, a passage whose text after its title line appears in
    ``exclude_texts`` (e.g. the retrieved block), or one containing a gold answer (SQuAD-normalised,
    whole words). Fewer only when few passages are eligible."""
    skip = set(exclude)
    golds = [f" {_normalize(a)} " for a in golden_answers if _normalize(a)]
    chosen: List[str] = []
    tried = set()
    for _ in range(50 * count + 100):
        if len(chosen) == count or len(tried) == len(corpus):
            break
        i = rng.randrange(len(corpus))
        if i in tried:
            continue
        tried.add(i)
        body = corpus[i].partition("\n")[2].strip() or corpus[i]
        if i in skip or (exclude_texts and body in exclude_texts):
            continue
        if any(g in f" {_normalize(corpus[i])} " for g in golds):
            continue
        chosen.append(corpus[i])
    return chosen


def verl_log_prob_fn(actor_rollout_wg: Any, pad_token_id: int, divisor: Optional[int] = None) -> LogProbFn:
    """A log-prob callable over verl's actor (``actor_rollout_wg.compute_log_prob``).

    Builds the batch verl's rollout produces — prompts left-padded, continuations right-padded as
    ``responses`` — pads it to a multiple of the worker count, and returns the ``old_log_probs`` of
    each continuation. The actor applies ``rollout.temperature``: IG is defined at temperature 1.
    Written against verl's worker API; it cannot run on machines without verl and a GPU.
    """
    from verl import DataProto  # only with verl installed
    from verl.protocol import pad_dataproto_to_divisor, unpad_dataproto

    def fn(pairs: List[Tuple[List[int], List[int]]]) -> List[torch.Tensor]:
        prompt_len = max(len(c) for c, _ in pairs)
        response_len = max(len(a) for _, a in pairs)
        n = len(pairs)
        input_ids = torch.full((n, prompt_len + response_len), pad_token_id, dtype=torch.long)
        attention = torch.zeros((n, prompt_len + response_len), dtype=torch.long)
        for i, (context, answer) in enumerate(pairs):
            input_ids[i, prompt_len - len(context) : prompt_len] = torch.tensor(context)
            input_ids[i, prompt_len : prompt_len + len(answer)] = torch.tensor(answer)
            attention[i, prompt_len - len(context) : prompt_len + len(answer)] = 1
        position_ids = (attention.cumsum(dim=1) - 1).clamp(min=0)
        data = DataProto.from_dict(
            tensors={"input_ids": input_ids, "attention_mask": attention, "position_ids": position_ids, "responses": input_ids[:, prompt_len:]},
        )
        padded, pad = pad_dataproto_to_divisor(data, divisor or actor_rollout_wg.world_size)
        out = unpad_dataproto(actor_rollout_wg.compute_log_prob(padded), pad_size=pad)
        log_probs = out.batch["old_log_probs"]
        return [log_probs[i, : len(answer)].float().cpu() for i, (_, answer) in enumerate(pairs)]

    return fn

"""IG-Search's advantages for verl: GRPO outcome advantages plus λ·IG̃ on each search query's tokens.

The same formulas as ig-search's Rust core (docs/method.md in the ig-search package):

    Â_i   = (R_i − mean_G R) / (std_G R + ε)     unbiased std; a group of one has mean 0, std 1
    IG̃    = clip(scale⁻(deadzone(z?(IG))))         optional group z-score, |IG| < τ → 0, IG < 0 × β, clip ±c
    A_it  = Â_i + λ·IG̃_ik   on the tokens of the k-th query of rollout i, Â_i on other policy tokens
            (multiplicative mode: Â_i·(1 + λ·IG̃_ik))

verl hands an advantage estimator only ``token_level_rewards``, ``response_mask``, ``index`` (the
group id of each row) and ``config``. IG-Search therefore travels inside ``token_level_rewards``,
packed by :func:`pack_token_level_rewards`:

- the outcome reward R_i on the **last policy token** of the response (the last position where
  ``response_mask`` is 1 — where verl's reward managers put the score);
- λ·IG̃_ik on every token of the k-th search query (zero on all other tokens).

The estimator reads R_i as verl's own GRPO would: everything on the last policy token plus
everything on tokens ``response_mask`` excludes — verl's reward managers (``naive.py``, the agent
loop) put the score on the last *non-padding* token, which is masked when a rollout ends inside a
tool observation. What sits on the other policy tokens is the per-token IG term. The advantage is
masked with ``response_mask`` (retrieved documents and padding get none). ``algorithm.use_kl_in_reward``
is refused: its −β·KL on every policy token would read as IG (use the actor's KL loss instead).
Only torch and numpy are needed; verl is not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch

EPSILON = 1e-6


@dataclass(frozen=True)
class Shaping:
    """IG shaping, in the order applied (defaults as ig-search's ``TRAINER_DEFAULTS.ig``)."""

    dead_zone: float = 0.05  # τ: |IG| below this becomes 0
    negative_scale: float = 0.5  # β: negative IG is multiplied by this
    clip: float = 2.0  # c: clipped to [−c, c]
    group_z: bool = False  # standardise over all steps of a group first
    epsilon: float = EPSILON

    def __post_init__(self) -> None:
        for name in ("dead_zone", "negative_scale", "epsilon"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"Shaping.{name} must be finite and >= 0, got {value}")
        if not (np.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"Shaping.clip must be finite and > 0, got {self.clip}")


def _groups(index: Sequence[Any]) -> dict:
    """Row positions of each group id, in first-seen order."""
    groups: dict = {}
    for row, uid in enumerate(index):
        groups.setdefault(uid if not isinstance(uid, np.ndarray) else uid.item(), []).append(row)
    return groups


def _standardize(values: torch.Tensor, index: Sequence[Any], by_std: bool, epsilon: float) -> torch.Tensor:
    """Within each group: (v − mean) / (std + ε), unbiased std; a group of one has mean 0, std 1."""
    out = torch.empty_like(values)
    for rows in _groups(index).values():
        v = values[rows]
        if len(rows) == 1:
            mean, std = torch.zeros((), dtype=values.dtype), torch.ones((), dtype=values.dtype)
        else:
            mean, std = v.mean(), v.std(unbiased=True)
        out[rows] = (v - mean) / (std + epsilon) if by_std else v - mean
    return out


def grpo_advantages(rewards: torch.Tensor, index: Sequence[Any], norm_by_std: bool = True, epsilon: float = EPSILON) -> torch.Tensor:
    """Â per rollout: GRPO (``norm_by_std``) or Dr. GRPO (mean only), grouped by ``index``."""
    rewards = torch.as_tensor(rewards)
    if rewards.dim() != 1 or len(index) != rewards.shape[0]:
        raise ValueError(f"grpo_advantages: {tuple(rewards.shape)} rewards for {len(index)} group ids")
    if not torch.isfinite(rewards).all():
        raise ValueError(f"grpo_advantages: reward {int((~torch.isfinite(rewards)).nonzero()[0])} is not finite")
    return _standardize(rewards, index, norm_by_std, epsilon)


def shape_information_gain(raw: torch.Tensor, step_groups: Sequence[Any], shaping: Shaping = Shaping()) -> torch.Tensor:
    """IG̃ for raw IG values (one per search step); ``step_groups`` is each step's question/group id."""
    raw = torch.as_tensor(raw)
    if raw.dim() != 1 or len(step_groups) != raw.shape[0]:
        raise ValueError(f"shape_information_gain: {tuple(raw.shape)} values for {len(step_groups)} group ids")
    if not torch.isfinite(raw).all():
        raise ValueError("shape_information_gain: a raw IG value is not finite")
    x = _standardize(raw, step_groups, True, shaping.epsilon) if shaping.group_z else raw.clone()
    x = torch.where(x.abs() < shaping.dead_zone, torch.zeros_like(x), x)
    x = torch.where(x < 0, x * shaping.negative_scale, x)
    return x.clamp(-shaping.clip, shaping.clip)


def last_policy_token(response_mask: torch.Tensor) -> torch.Tensor:
    """Position of the last 1 in each row of ``response_mask`` (−1 for a row without one)."""
    positions = torch.arange(response_mask.shape[1], device=response_mask.device).expand_as(response_mask)
    return torch.where(response_mask > 0, positions, torch.full_like(positions, -1)).max(dim=1).values


def pack_token_level_rewards(
    outcome: Sequence[float],
    response_mask: torch.Tensor,
    query_spans: Sequence[Sequence[Tuple[int, int]]],
    step_rewards: Sequence[Sequence[float]],
    lam: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``token_level_rewards`` for the ``ig_search`` estimator.

    ``outcome[i]``: R_i; ``query_spans[i]``: [start, end) response positions of rollout i's queries;
    ``step_rewards[i][k]``: IG̃ of its k-th query (already shaped); ``lam``: λ.
    """
    rows, width = response_mask.shape
    if not (len(outcome) == len(query_spans) == len(step_rewards) == rows):
        raise ValueError(f"pack_token_level_rewards: {len(outcome)} outcomes, {len(query_spans)} span lists, {len(step_rewards)} step-reward lists for {rows} rows")
    out = torch.zeros((rows, width), dtype=dtype)
    last = last_policy_token(response_mask)
    for i in range(rows):
        if len(query_spans[i]) != len(step_rewards[i]):
            raise ValueError(f"row {i}: {len(query_spans[i])} query spans but {len(step_rewards[i])} step rewards")
        for k, (start, end) in enumerate(query_spans[i]):
            if not (0 <= start <= end <= width):
                raise ValueError(f"row {i}: query span {k} [{start}, {end}) is outside the {width}-token response")
            if start <= int(last[i]) < end:
                raise ValueError(f"row {i}: query span {k} [{start}, {end}) holds the last policy token ({int(last[i])}), where the outcome reward goes")
            if not bool((response_mask[i, start:end] > 0).all()):
                raise ValueError(f"row {i}: query span {k} [{start}, {end}) covers tokens response_mask excludes")
            out[i, start:end] = lam * float(step_rewards[i][k])
        if int(last[i]) >= 0:
            out[i, int(last[i])] = float(outcome[i])
        elif outcome[i] != 0:
            raise ValueError(f"row {i}: a non-zero outcome reward but no policy token to carry it")
    return out


def _option(config: Any, name: str, default: Any) -> Any:
    """A key of verl's algorithm config (a dataclass or a DictConfig), or the default."""
    if config is None:
        return default
    if isinstance(config, dict) or hasattr(config, "get"):
        try:
            value = config.get(name, default)
            return default if value is None else value
        except TypeError:
            pass
    return getattr(config, name, default)


def compute_ig_search_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Optional[Sequence[Any]] = None,
    config: Any = None,
    epsilon: float = EPSILON,
    norm_adv_by_std_in_grpo: Optional[bool] = None,
    mode: Optional[str] = None,
    **_: Any,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``ig_search`` advantage estimator (verl's signature); returns (advantages, returns).

    Reads R_i from the last policy token and λ·IG̃ from the query tokens (see
    :func:`pack_token_level_rewards`). ``norm_adv_by_std_in_grpo`` (verl's key, default True) picks
    GRPO or Dr. GRPO; ``mode`` ("additive", default, or "multiplicative") comes from the argument or
    from ``config.ig_search_mode``.
    """
    if token_level_rewards.shape != response_mask.shape or token_level_rewards.dim() != 2:
        raise ValueError(f"token_level_rewards {tuple(token_level_rewards.shape)} and response_mask {tuple(response_mask.shape)} must be the same [batch, response] shape")
    rows = token_level_rewards.shape[0]
    if index is None:
        index = list(range(rows))
    if len(index) != rows:
        raise ValueError(f"index has {len(index)} group ids for {rows} rows")
    if bool(_option(config, "use_kl_in_reward", False)):
        raise ValueError(
            "ig_search does not combine with algorithm.use_kl_in_reward=True: the KL penalty puts -beta*KL on every policy token, "
            "which this estimator would read as information gain; use the actor's KL loss instead "
            "(actor_rollout_ref.actor.use_kl_loss=True, algorithm.use_kl_in_reward=False)"
        )
    by_std = norm_adv_by_std_in_grpo if norm_adv_by_std_in_grpo is not None else bool(_option(config, "norm_adv_by_std_in_grpo", True))
    mode = mode or str(_option(config, "ig_search_mode", "additive"))
    if mode not in ("additive", "multiplicative"):
        raise ValueError(f'ig_search mode must be "additive" or "multiplicative", got {mode!r}')
    mask = response_mask.to(token_level_rewards.dtype)
    with torch.no_grad():
        last = last_policy_token(response_mask)
        has = last >= 0
        rows_at = torch.arange(rows, device=token_level_rewards.device)
        policy = response_mask > 0
        # R_i: the last policy token plus every masked position (where verl puts it when the rollout ends in an observation).
        off_policy = torch.where(policy, torch.zeros_like(token_level_rewards), token_level_rewards).sum(dim=1)
        outcome = off_policy + torch.where(has, token_level_rewards[rows_at, last.clamp(min=0)], torch.zeros(rows, dtype=token_level_rewards.dtype, device=token_level_rewards.device))
        step = torch.where(policy, token_level_rewards, torch.zeros_like(token_level_rewards))
        step[rows_at[has], last[has]] = 0
        base = grpo_advantages(outcome.cpu(), index, by_std, epsilon).to(token_level_rewards.device).unsqueeze(1)
        advantages = (base + step if mode == "additive" else base * (1 + step)) * mask
    return advantages, advantages

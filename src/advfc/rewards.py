"""The two players' rewards (METHOD.md, "Rewards"), as plain functions.

`FCReward` has the signature TRL's GRPOTrainer calls reward functions with; the GRPO dataset
carries each item as a JSON string column `example` (`json.dumps(Example.to_dict())`).
`query_reward` turns a rewrite's validity and the FC model's pass rate on it into r_Q.
"""

from __future__ import annotations

import json
from functools import lru_cache

from .checker import grade
from .data import Example
from .validity import INVALID, UNPARSEABLE, VALID


def completion_text(completion) -> str:
    """TRL passes plain-text completions as strings, conversational ones as a list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, list) and completion:
        return completion_text(completion[-1])
    return ""


def _example_from_json(text: str) -> Example:
    return Example.from_dict(json.loads(text))


class FCReward:
    """r_F: 1 when BFCL judges the call correct, else `w_partial` x partial credit; on irrelevance
    items 1 only for a clean abstention (a malformed call attempt earns 0, though BFCL passes it).

    `w_partial` is read on every call, so the curriculum can anneal it between steps. Parsed
    examples are cached by their JSON string: GRPO scores each prompt's k completions together.
    """

    def __init__(self, w_partial: float = 0.5, cache_size: int = 65536):
        self.__name__ = "fc_reward"
        self.w_partial = w_partial
        self._parse = lru_cache(maxsize=cache_size)(_example_from_json)

    def __call__(self, prompts, completions, example, **kwargs) -> list[float]:
        return [self.score(completion_text(c), self.example(e)) for c, e in zip(completions, example, strict=True)]

    def example(self, value) -> Example:
        if isinstance(value, Example):
            return value
        return self._parse(value) if isinstance(value, str) else Example.from_dict(value)

    def score(self, raw: str, example: Example) -> float:
        g = grade(raw, example)
        return 1.0 if g.strict else self.w_partial * g.partial


def query_reward(
    status: str,
    p_hat: float | None = None,
    *,
    mode: str = "zero_sum",
    target_failure: float = 0.3,
    max_sim: float = 0.0,
    lambda_div: float = 0.2,
) -> float:
    """r_Q for one rewrite. Invalid rewrites get a fixed floor (-1 unparseable, -0.5 rule-breaking)
    below any valid one; a valid rewrite earns the FC model's failure rate 1 - p_hat (`zero_sum`),
    or a peak at the curriculum's target failure rate d (`frontier`), minus the diversity penalty
    `lambda_div * max_sim` against the other rewrites of its group."""
    if status == UNPARSEABLE:
        return -1.0
    if status == INVALID:
        return -0.5
    if status != VALID:
        raise ValueError(f"unknown validity status {status!r}; expected {VALID}, {INVALID} or {UNPARSEABLE}")
    if p_hat is None or not 0.0 <= p_hat <= 1.0:
        raise ValueError(f"a valid rewrite needs p_hat in [0, 1], got {p_hat!r}")
    failure = 1.0 - p_hat
    if mode == "zero_sum":
        reward = failure
    elif mode == "frontier":
        d = target_failure
        if not 0.0 < d < 1.0:
            raise ValueError(f"target_failure must be in (0, 1), got {d!r}")
        reward = 1.0 - abs(failure - d) / max(d, 1.0 - d)
    else:
        raise ValueError(f"unknown reward mode {mode!r}; expected zero_sum or frontier")
    return reward - lambda_div * max_sim

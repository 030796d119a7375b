"""The curriculum: which seeds and which tactics each round attacks with (METHOD.md, "Curriculum").

Two axes, both logged every round and saved in the checkpoint:
- seed difficulty: seeds are bucketed by the current FC model's pass rate on the clean query;
  low levels draw mostly easy seeds, higher levels mostly hard ones;
- tactic strength: level 1..3; a level unlocks when the attack success rate at the current level
  passes a threshold, or after a fixed number of rounds at it.
The target failure rate of the frontier reward follows the level. The FC partial-credit weight
follows the round instead, so that every arm of an experiment (the baselines never advance a
level) trains F under the same reward schedule.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, replace

from .query import MAX_LEVEL, Tactic, tactics_up_to

BUCKETS = ("easy", "medium", "hard")
# Share of each difficulty bucket in a round's seeds, per tactic level.
BUCKET_WEIGHTS = {1: (0.6, 0.3, 0.1), 2: (0.3, 0.4, 0.3), 3: (0.15, 0.35, 0.5)}
TARGET_FAILURE = {1: 0.3, 2: 0.5, 3: 0.7}
# Partial credit falls linearly from the full weight in round 1 to this share of it in the last.
PARTIAL_FLOOR = 0.3


@dataclass(frozen=True)
class CurriculumState:
    level: int = 1
    rounds_at_level: int = 0
    pass_rates: dict[str, float] = field(default_factory=dict)
    history: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CurriculumState":
        return cls(
            level=d["level"],
            rounds_at_level=d["rounds_at_level"],
            pass_rates=dict(d["pass_rates"]),
            history=tuple(d["history"]),
        )


def bucket(pass_rate: float) -> str:
    return "easy" if pass_rate >= 2 / 3 else "hard" if pass_rate < 1 / 3 else "medium"


def target_failure(level: int) -> float:
    return TARGET_FAILURE[level]


def partial_weight(round_index: int, rounds: int, base: float) -> float:
    """FC partial credit shrinks over the run: late rounds pay mostly for exact calls."""
    progress = (round_index - 1) / (rounds - 1) if rounds > 1 else 0.0
    return base * (1 - (1 - PARTIAL_FLOOR) * min(max(progress, 0.0), 1.0))


def select_seeds(pass_rates: dict[str, float], n: int, level: int, rng: random.Random) -> list[str]:
    """Draw n seed ids without replacement, bucket shares set by the level. A bucket that runs
    short is filled from the rest (easiest first at level 1, hardest first above), so the round
    gets n seeds whenever the pool has them."""
    by_bucket = {b: sorted(i for i, p in pass_rates.items() if bucket(p) == b) for b in BUCKETS}
    for ids in by_bucket.values():
        rng.shuffle(ids)
    wanted = [round(n * w) for w in BUCKET_WEIGHTS[level]]
    wanted[0] += n - sum(wanted)
    chosen: list[str] = []
    for b, k in zip(BUCKETS, wanted):
        chosen += by_bucket[b][:k]
        del by_bucket[b][:k]
    leftovers = [i for b in (BUCKETS if level == 1 else BUCKETS[::-1]) for i in by_bucket[b]]
    chosen += leftovers[: n - len(chosen)]
    return chosen


def choose_tactics(level: int, n: int, rng: random.Random) -> list[Tactic]:
    """Half of the draws use the newest level's tactics, the rest any unlocked one."""
    unlocked = tactics_up_to(level)
    newest = [t for t in unlocked if t.level == level]
    return [rng.choice(newest if i % 2 == 0 else unlocked) for i in range(n)]


def advance(
    state: CurriculumState,
    attack_success: float,
    *,
    threshold: float = 0.5,
    max_rounds_per_level: int = 2,
    pass_rates: dict[str, float] | None = None,
    round_index: int = 0,
) -> CurriculumState:
    """End-of-round update: record the round, fold in fresh pass rates, maybe unlock a level."""
    rounds = state.rounds_at_level + 1
    unlock = state.level < MAX_LEVEL and (attack_success >= threshold or rounds >= max_rounds_per_level)
    record = {
        "round": round_index,
        "level": state.level,
        "attack_success": attack_success,
        "unlocked": unlock,
    }
    return replace(
        state,
        level=state.level + 1 if unlock else state.level,
        rounds_at_level=0 if unlock else rounds,
        pass_rates={**state.pass_rates, **(pass_rates or {})},
        history=state.history + (record,),
    )

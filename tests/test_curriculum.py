import random

import pytest

from advfc.curriculum import CurriculumState, advance, bucket, choose_tactics, partial_weight, select_seeds, target_failure


def test_buckets():
    assert [bucket(p) for p in (1.0, 0.75, 0.5, 0.25, 0.0)] == ["easy", "easy", "medium", "hard", "hard"]


def test_early_levels_draw_easy_seeds_late_levels_hard_ones():
    rates = {f"e{i}": 1.0 for i in range(20)} | {f"m{i}": 0.5 for i in range(20)} | {f"h{i}": 0.0 for i in range(20)}
    easy_share = []
    for level in (1, 2, 3):
        chosen = select_seeds(rates, 10, level, random.Random(0))
        assert len(chosen) == len(set(chosen)) == 10
        easy_share.append(sum(i.startswith("e") for i in chosen))
    assert easy_share[0] > easy_share[1] > easy_share[2]


def test_short_buckets_are_filled_from_the_rest():
    rates = {"h1": 0.0, "h2": 0.0, "h3": 0.0}
    assert sorted(select_seeds(rates, 3, 1, random.Random(0))) == ["h1", "h2", "h3"]
    assert len(select_seeds(rates, 10, 3, random.Random(0))) == 3


def test_tactics_favour_the_newest_level():
    drawn = choose_tactics(2, 10, random.Random(0))
    assert all(t.level <= 2 for t in drawn) and sum(t.level == 2 for t in drawn) >= 5


def test_level_unlocks_on_success_or_after_max_rounds():
    s = CurriculumState()
    s = advance(s, 0.1, threshold=0.5, max_rounds_per_level=3, round_index=1)
    assert (s.level, s.rounds_at_level) == (1, 1)
    s = advance(s, 0.6, threshold=0.5, max_rounds_per_level=3, round_index=2)
    assert (s.level, s.rounds_at_level) == (2, 0)
    s = advance(advance(s, 0.0, max_rounds_per_level=2), 0.0, max_rounds_per_level=2)
    assert s.level == 3
    s = advance(s, 1.0)
    assert s.level == 3 and len(s.history) == 5 and s.history[1]["unlocked"]


def test_state_round_trips_and_schedules_follow_level():
    s = advance(CurriculumState(pass_rates={"a": 0.5}), 0.7, pass_rates={"b": 1.0})
    assert CurriculumState.from_dict(s.to_dict()) == s and s.pass_rates == {"a": 0.5, "b": 1.0}
    assert [target_failure(level) for level in (1, 2, 3)] == [0.3, 0.5, 0.7]
    assert partial_weight(1, 3, 0.5) == 0.5 and partial_weight(3, 3, 0.5) == pytest.approx(0.15)
    assert partial_weight(1, 3, 0.5) > partial_weight(2, 3, 0.5) > partial_weight(3, 3, 0.5) > 0
    assert partial_weight(1, 1, 0.5) == 0.5  # a one-round run keeps the full weight

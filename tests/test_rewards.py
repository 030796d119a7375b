"""r_F as TRL calls it, and r_Q as a pure function of validity, p-hat and similarity."""

import json

import pytest

from advfc.checker import grade
from advfc.data import load_bfcl_ids
from advfc.rewards import FCReward, completion_text, query_reward

SIMPLE, IRRELEVANCE = load_bfcl_ids(["simple_python_0", "irrelevance_0"])
RIGHT = "[calculate_triangle_area(base=10, height=5)]"
NEAR = "[calculate_triangle_area(base=10, height=6)]"


def column(example, n):
    return [json.dumps(example.to_dict())] * n


def test_fc_reward_with_trl_signature():
    reward = FCReward()
    assert reward.__name__ == "fc_reward"
    completions = [RIGHT, NEAR, "no idea", [{"role": "assistant", "content": RIGHT}]]
    scores = reward(prompts=["p"] * 4, completions=completions, example=column(SIMPLE, 4), trainer_state=None)
    near = grade(NEAR, SIMPLE).partial
    assert scores == [1.0, 0.5 * near, 0.0, 1.0]
    assert 0.0 < near < 1.0


def test_w_partial_can_be_annealed_between_steps():
    reward = FCReward(w_partial=0.5)
    before = reward([""], [NEAR], example=column(SIMPLE, 1))[0]
    reward.w_partial = 0.1
    after = reward([""], [NEAR], example=column(SIMPLE, 1))[0]
    assert after == pytest.approx(before / 5)
    reward.w_partial = 0.0
    assert reward([""], [NEAR, RIGHT], example=column(SIMPLE, 2)) == [0.0, 1.0]


def test_irrelevance_pays_only_a_clean_abstention():
    malformed = "```python\ncalculate_triangle_area(base=10, height=5)\n```"
    call = "[determine_body_mass_index(weight=70, height=1.8)]"
    g = grade(malformed, IRRELEVANCE)
    assert g.verdict.valid and not g.strict  # BFCL passes it; advfc does not reward it
    outputs = ["I can't do that.", "[]", call, malformed]
    scores = FCReward(w_partial=1.0)([""] * 4, outputs, example=column(IRRELEVANCE, 4))
    assert scores == [1.0, 1.0, 0.0, 0.0]


def test_examples_are_parsed_once_per_string():
    reward = FCReward()
    reward([""] * 8, [RIGHT] * 8, example=column(SIMPLE, 8))
    info = reward._parse.cache_info()
    assert (info.misses, info.hits) == (1, 7)
    assert reward([""], [RIGHT], example=[SIMPLE.to_dict()]) == [1.0]
    assert reward([""], [RIGHT], example=[SIMPLE]) == [1.0]


def test_completion_shapes():
    assert completion_text("x") == "x"
    assert completion_text([{"role": "assistant", "content": "y"}]) == "y"
    assert completion_text([{"role": "assistant", "content": None}]) == ""
    assert completion_text([]) == ""


def test_columns_must_line_up():
    with pytest.raises(ValueError):
        FCReward()([""] * 2, [RIGHT, RIGHT], example=column(SIMPLE, 1))


# ----------------------------------------------------------------------------- r_Q


def test_query_reward_invalid_floors():
    assert query_reward("unparseable") == -1.0
    assert query_reward("invalid", None, max_sim=1.0) == -0.5


@pytest.mark.parametrize("p_hat, expected", [(0.0, 1.0), (0.25, 0.75), (1.0, 0.0)])
def test_query_reward_zero_sum(p_hat, expected):
    assert query_reward("valid", p_hat) == pytest.approx(expected)


def test_query_reward_frontier_peaks_at_the_target_failure_rate():
    d = 0.3
    at_target = query_reward("valid", 1 - d, mode="frontier", target_failure=d)
    assert at_target == pytest.approx(1.0)
    assert query_reward("valid", 0.0, mode="frontier", target_failure=d) == pytest.approx(1 - 0.7 / 0.7)
    assert query_reward("valid", 1.0, mode="frontier", target_failure=d) == pytest.approx(1 - 0.3 / 0.7)
    assert query_reward("valid", 0.5, mode="frontier", target_failure=0.5) == pytest.approx(1.0)
    assert query_reward("valid", 0.0, mode="frontier", target_failure=0.5) == pytest.approx(0.0)


def test_query_reward_diversity_penalty_keeps_valid_above_invalid():
    assert query_reward("valid", 0.5, max_sim=0.5, lambda_div=0.2) == pytest.approx(0.4)
    worst_valid = query_reward("valid", 1.0, max_sim=1.0)
    assert worst_valid == pytest.approx(-0.2) and worst_valid > query_reward("invalid") > query_reward("unparseable")


@pytest.mark.parametrize(
    "args, kwargs",
    [(("valid", None), {}), (("valid", 1.5), {}), (("valid", 0.5), {"mode": "other"}), (("maybe", 0.5), {}),
     (("valid", 0.5), {"mode": "frontier", "target_failure": 1.0})],
)
def test_query_reward_rejects_bad_arguments(args, kwargs):
    with pytest.raises(ValueError):
        query_reward(*args, **kwargs)

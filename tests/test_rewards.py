"""r_F as TRL calls it, and r_Q as a pure function of validity, p-hat and similarity."""

import json

import pytest

from advfc.checker import check, decode
from advfc.data import Example, load_bfcl_ids
from advfc.rewards import (
    FCReward,
    QueryPhaseReward,
    QueryRewardSettings,
    completion_text,
    flat_group_share,
    grade,
    is_call_attempt,
    partial_credit,
    pass_rates,
    query_reward,
    score_rewrites,
)
from advfc.validity import Judge
from scripted import ScriptedGenerator

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
    assert g.verdict.correct and not g.strict  # BFCL passes it; advfc does not reward it
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


def example(category, tools, answers) -> Example:
    return Example("x", category, tools, [{"role": "user", "content": "q"}], answers)


def tool(name, props, required=()):
    return {"name": name, "parameters": {"type": "dict", "properties": props, "required": list(required)}}


# ----------------------------------------------------------------------------- partial credit and strict grading


def test_partial_credit_ranks_near_misses():
    right = "[calculate_triangle_area(base=10, height=5)]"
    assert grade(right, SIMPLE).partial == 1.0
    one_wrong = grade("[calculate_triangle_area(base=10, height=6)]", SIMPLE).partial
    missing = grade("[calculate_triangle_area(base=10)]", SIMPLE).partial
    no_args = grade("[calculate_triangle_area()]", SIMPLE).partial
    wrong_name = grade("[triangle_area(base=10, height=5)]", SIMPLE).partial
    doubled = grade(right[:-1] + ", " + right[1:], SIMPLE).partial
    assert 1.0 > one_wrong > missing > no_args > wrong_name == 0.0
    assert 0.0 < doubled < 1.0
    assert grade("not a call", SIMPLE).partial == 0.0


def test_partial_credit_stays_below_one():
    f = tool("f", {"a": {"type": "integer"}}, ["a"])
    ex = example("parallel", [f], [{"f": {"a": [1, 2]}}, {"f": {"a": [1]}}])
    assert not check("[f(a=1), f(a=2)]", ex).correct
    assert 0.0 < partial_credit(decode("[f(a=1), f(a=2)]"), ex) < 1.0


def test_partial_credit_pairs_parallel_calls_best_first():
    f = tool("f", {"a": {"type": "integer"}, "b": {"type": "integer"}}, ["a"])
    ex = example("parallel", [f], [{"f": {"a": [1], "b": [0, ""]}}, {"f": {"a": [2], "b": [0, ""]}}])
    assert grade("[f(a=2), f(a=1)]", ex).strict
    one_right = grade("[f(a=2), f(a=3)]", ex).partial
    assert one_right == pytest.approx((1 + (1 + 1 + 0) / 3) / 2)
    assert grade("[f(a=2)]", ex).partial == pytest.approx(0.5)
    assert grade("[f(a=2), f(a=1), f(a=1)]", ex).partial == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "raw, bfcl, strict",
    [
        ("I cannot help with that.", True, True),
        ("[]", True, True),
        ("", True, True),
        ("No tool computes a triangle's area (the function list has none).", True, True),
        ("The calculate_triangle_area tool does not apply here.", True, True),
        ("[calculate_triangle_area(base=10, height=5)]", False, False),
        ("calculate_triangle_area(base=10, height=5", True, False),
        ("```python\ncalculate_triangle_area(base=10, height=5)\n```", True, False),
        ("I will call calculate_triangle_area(base=10).", True, False),
        ("[get_weather(city='Paris'", True, False),
        ('{"name": "calculate_triangle_area", "arguments": {"base": 10}}', True, False),
        ('[{"name": "other", "arguments": {}}]', True, False),
        ("<tool_call>anything</tool_call>", True, False),
    ],
)
def test_strict_abstention_differs_from_bfcl_on_malformed_calls(raw, bfcl, strict):
    ex = example("irrelevance", SIMPLE.tools, [])
    g = grade(raw, ex)
    assert (g.verdict.correct, g.strict) == (bfcl, strict)
    assert g.partial == float(strict)


def test_call_attempt_needs_call_syntax_or_a_tool_name():
    assert not is_call_attempt("Sorry (really) - no.", SIMPLE)
    assert not is_call_attempt('The "calculate_triangle_area" tool needs sides I do not have (a = ?).', SIMPLE)
    assert is_call_attempt('{"tool": "calculate_triangle_area"}', SIMPLE)
    assert is_call_attempt("calculate_triangle_area (", SIMPLE)
    assert not is_call_attempt(None, SIMPLE)


def test_relevance_items_get_no_partial_credit():
    relevance = example("live_relevance", SIMPLE.tools, [])
    assert grade("[calculate_triangle_area(base=1)]", relevance).strict
    assert grade("calculate_triangle_area(base=1", relevance).partial == 0.0


# ----------------------------------------------------------------------------- r_Q from rewrites


def triangle():
    (ex,) = load_bfcl_ids(["simple_python_0"])
    return ex


GOOD = "I have a triangle with base 10 and a height of 5. What is its area?"
GOOD2 = "Area please: the triangle's height is 5 while its base is 10 units long."
RIGHT = "[calculate_triangle_area(base=10, height=5)]"


def test_rewards_follow_validity_and_fc_success():
    ex = triangle()
    settings = QueryRewardSettings(k=3, lambda_div=0.0)
    fooled = ScriptedGenerator("I cannot help with that.")
    results = score_rewrites([ex] * 3, ["", "calculate_triangle_area(base=10, height=5)", GOOD], ["a", "b", "c"], fooled, settings)
    assert [r.validity.status for r in results] == ["unparseable", "invalid", "valid"]
    assert [r.reward for r in results] == [-1.0, -0.5, 1.0]
    assert results[2].p_hat == 0.0 and len(results[2].grades) == 3
    conversations, params = fooled.asked[0]
    assert len(conversations) == 1 and conversations[0][-1]["content"] == GOOD and params.n == 3
    solid = score_rewrites([ex], [GOOD], ["a"], ScriptedGenerator(RIGHT), settings)
    assert solid[0].p_hat == 1.0 and solid[0].reward == 0.0


def test_diversity_penalty_only_within_a_group():
    ex = triangle()
    settings = QueryRewardSettings(k=1, lambda_div=0.5)
    fc = ScriptedGenerator(lambda c: RIGHT if c[-1]["content"] == GOOD2 else "no")
    same_group = score_rewrites([ex] * 3, [GOOD, GOOD, GOOD2], ["g", "g", "g"], fc, settings)
    assert [r.reward for r in same_group[:2]] == [0.5, 0.5]
    apart = score_rewrites([ex] * 4, [GOOD, GOOD2, GOOD, GOOD2], ["g", "g", "h", "h"], fc, settings)
    assert apart[0].reward == apart[2].reward and 0.5 < apart[0].reward < 1.0


def test_frontier_reward_peaks_at_the_target():
    ex = triangle()
    hit = score_rewrites([ex], [GOOD], ["g"], ScriptedGenerator("no"), QueryRewardSettings(k=1, reward_mode="frontier", target_failure=1.0 - 1e-9))
    miss = score_rewrites([ex], [GOOD], ["g"], ScriptedGenerator("no"), QueryRewardSettings(k=1, reward_mode="frontier", target_failure=0.3))
    assert hit[0].reward > 0.99 and miss[0].reward == 0.0


def test_judge_can_veto_a_rule_valid_rewrite():
    ex = triangle()
    results = score_rewrites([ex], [GOOD], ["g"], ScriptedGenerator("no"), QueryRewardSettings(k=1), judge=Judge(ScriptedGenerator("No, it asks for more.")))
    assert results[0].validity.status == "invalid" and results[0].validity.reasons == ("judge: not the same call",)
    results = score_rewrites([ex], [GOOD], ["g"], ScriptedGenerator("no"), QueryRewardSettings(k=1), judge=Judge(ScriptedGenerator("Yes.")))
    assert results[0].validity.valid


def test_pass_rates_on_clean_queries():
    ex = triangle()
    assert pass_rates([ex], ScriptedGenerator(RIGHT), QueryRewardSettings(k=2), rng_seed=0) == {ex.id: 1.0}
    assert pass_rates([ex], ScriptedGenerator("hmm"), QueryRewardSettings(k=2), rng_seed=0) == {ex.id: 0.0}


def test_p_hat_uses_the_strict_verdict_on_irrelevance_seeds():
    """A malformed call on an irrelevance seed passes BFCL but fails r_F, so it is a failure in p-hat."""
    malformed = "```python\ndetermine_body_mass_index(weight=70, height=1.8)\n```"
    assert check(malformed, IRRELEVANCE).correct
    rewrite = "Find the area of a triangle whose base is 10 meters and whose height is 5 meters, please."
    (score,) = score_rewrites([IRRELEVANCE], [rewrite], ["g"], ScriptedGenerator(malformed), QueryRewardSettings(k=2))
    assert score.validity.valid, score.validity.reasons
    assert score.p_hat == 0.0 and score.reward == 1.0
    assert pass_rates([IRRELEVANCE], ScriptedGenerator(malformed), QueryRewardSettings(k=2), rng_seed=0) == {IRRELEVANCE.id: 0.0}
    assert FCReward()([""], [malformed], example=column(IRRELEVANCE, 1)) == [0.0]


def test_no_diversity_penalty_in_a_group_whose_task_rewards_are_equal():
    ex = triangle()
    settings = QueryRewardSettings(k=1, lambda_div=0.5)
    flat = score_rewrites([ex] * 2, [GOOD, GOOD2], ["g", "g"], ScriptedGenerator("no"), settings)
    assert [r.task_reward for r in flat] == [1.0, 1.0] and [r.reward for r in flat] == [1.0, 1.0]
    assert flat[0].max_sim > 0
    invalid = score_rewrites([ex] * 2, ["calculate_triangle_area(base=10)"] * 2, ["g", "g"], ScriptedGenerator("no"), settings)
    assert [r.reward for r in invalid] == [-0.5, -0.5]
    answers = iter([RIGHT, "no"])
    mixed = score_rewrites([ex] * 2, [GOOD, GOOD2], ["g", "g"], ScriptedGenerator(lambda c: next(answers)), settings)
    assert [r.task_reward for r in mixed] == [0.0, 1.0]
    assert all(r.reward == pytest.approx(r.task_reward - 0.5 * r.max_sim) for r in mixed)


def test_flat_group_share_counts_groups_not_rows():
    assert flat_group_share([1.0, 1.0, 0.0, 0.5], ["a", "a", "b", "b"]) == 0.5
    assert flat_group_share([0.0, 0.0, 0.0], ["a", "b", "b"]) == 1.0
    assert flat_group_share([], []) is None
    reward = FCReward()
    reward([""] * 4, [RIGHT, RIGHT, RIGHT, "no"], example=column(SIMPLE, 2) + column(IRRELEVANCE, 2))
    assert reward.summary() == {"f_flat_group_share": 0.5}


def test_query_phase_reward_reads_truncation_from_completion_ids():
    ex = triangle()
    reward = QueryPhaseReward(ScriptedGenerator("no"), QueryRewardSettings(k=1, lambda_div=0.0), 0, max_new_tokens=4,
                              eos_token_ids={2})
    logged = {}
    scores = reward(prompts=["p"] * 3, completions=[GOOD] * 3, example=column(ex, 3), group=["a", "b", "c"],
                    completion_ids=[[5, 6, 7, 8], [5, 6, 7, 2], [5, 6]], log_metric=logged.__setitem__)
    assert scores == [-0.5, 1.0, 1.0]
    assert reward.results[0].validity.reasons == ("truncated",)
    assert logged["truncation_rate"] == pytest.approx(1 / 3) and logged["validity_rate"] == pytest.approx(2 / 3)
    summary = reward.summary()
    assert summary["q_truncation_rate"] == pytest.approx(1 / 3) and summary["q_validity_rate"] == pytest.approx(2 / 3)
    assert summary["q_flat_group_share"] == 1.0  # each group holds one rewrite


def test_query_phase_reward_applies_the_judge():
    ex = triangle()
    reward = QueryPhaseReward(ScriptedGenerator("no"), QueryRewardSettings(k=1), 0, max_new_tokens=64,
                              judge=Judge(ScriptedGenerator("No.")))
    assert reward(prompts=["p"], completions=[GOOD], example=column(ex, 1), group=["a"]) == [-0.5]
    assert reward.results[0].validity.reasons == ("judge: not the same call",)

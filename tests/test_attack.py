"""r_Q from rewrites: parsing, validity, k FC samples judged by the checker, diversity within groups."""

from advfc.attack import AttackSettings, Judge, pass_rates, score_rewrites
from advfc.data import load_bfcl_ids
from advfc.generation import Completion


class ScriptedFC:
    """A generator that answers every conversation with the same text (records what it was asked)."""

    def __init__(self, text):
        self.text = text
        self.asked = []

    def generate(self, conversations, params):
        self.asked.append((conversations, params))
        return [[Completion(self.text, 10, 5, "stop")] * params.n for _ in conversations]

    def describe(self):
        return {"backend": "scripted"}


def triangle():
    (ex,) = load_bfcl_ids(["simple_python_0"])
    return ex


GOOD = "I have a triangle with base 10 and a height of 5. What is its area?"
GOOD2 = "Area please: the triangle's height is 5 while its base is 10 units long."
RIGHT = "[calculate_triangle_area(base=10, height=5)]"


def test_rewards_follow_validity_and_fc_success():
    ex = triangle()
    settings = AttackSettings(k=3, lambda_div=0.0)
    fooled = ScriptedFC("I cannot help with that.")
    results = score_rewrites([ex] * 3, ["", "calculate_triangle_area(base=10, height=5)", GOOD], ["a", "b", "c"], fooled, settings)
    assert [r.validity.status for r in results] == ["unparseable", "invalid", "valid"]
    assert [r.reward for r in results] == [-1.0, -0.5, 1.0]
    assert results[2].p_hat == 0.0 and len(results[2].verdicts) == 3
    conversations, params = fooled.asked[0]
    assert len(conversations) == 1 and conversations[0][-1]["content"] == GOOD and params.n == 3
    solid = score_rewrites([ex], [GOOD], ["a"], ScriptedFC(RIGHT), settings)
    assert solid[0].p_hat == 1.0 and solid[0].reward == 0.0


def test_diversity_penalty_only_within_a_group():
    ex = triangle()
    settings = AttackSettings(k=1, lambda_div=0.5)
    same_group = score_rewrites([ex] * 2, [GOOD, GOOD], ["g", "g"], ScriptedFC("no"), settings)
    apart = score_rewrites([ex] * 2, [GOOD, GOOD], ["g", "h"], ScriptedFC("no"), settings)
    assert [r.reward for r in same_group] == [0.5, 0.5] and [r.reward for r in apart] == [1.0, 1.0]
    mixed = score_rewrites([ex] * 2, [GOOD, GOOD2], ["g", "g"], ScriptedFC("no"), settings)
    assert 0.5 < mixed[0].reward < 1.0


def test_frontier_reward_peaks_at_the_target():
    ex = triangle()
    hit = score_rewrites([ex], [GOOD], ["g"], ScriptedFC("no"), AttackSettings(k=1, reward_mode="frontier", target_failure=1.0 - 1e-9))
    miss = score_rewrites([ex], [GOOD], ["g"], ScriptedFC("no"), AttackSettings(k=1, reward_mode="frontier", target_failure=0.3))
    assert hit[0].reward > 0.99 and miss[0].reward == 0.0


def test_judge_can_veto_a_rule_valid_rewrite():
    ex = triangle()
    results = score_rewrites([ex], [GOOD], ["g"], ScriptedFC("no"), AttackSettings(k=1), judge=Judge(ScriptedFC("No, it asks for more.")))
    assert results[0].validity.status == "invalid" and results[0].validity.reasons == ("judge: not the same call",)
    results = score_rewrites([ex], [GOOD], ["g"], ScriptedFC("no"), AttackSettings(k=1), judge=Judge(ScriptedFC("Yes.")))
    assert results[0].validity.valid


def test_pass_rates_on_clean_queries():
    ex = triangle()
    assert pass_rates([ex], ScriptedFC(RIGHT), AttackSettings(k=2), seed=0) == {ex.id: 1.0}
    assert pass_rates([ex], ScriptedFC("hmm"), AttackSettings(k=2), seed=0) == {ex.id: 0.0}


def test_attack_command_writes_every_rewrite_and_resumes(cli, tmp_path):
    out = tmp_path / "attack.jsonl"
    args = ["attack", "--query-model", "tiny", "--fc-model", "tiny", "--categories", "simple_python", "--per-seed", "2",
            "--k", "1", "--fc-max-new-tokens", "8", "--q-max-new-tokens", "8", "--out", out]
    code, stdout, err = cli(*args, "--limit", "1")
    assert code == 0, err
    first = out.read_text().splitlines()
    assert len(first) == 2 and '"validity_rate"' in stdout
    with out.open("a") as f:
        f.write('{"id": "torn')
    code, _, err = cli(*args, "--limit", "2")
    assert code == 0, err
    rows = out.read_text().splitlines()
    assert rows[:2] == first and len(rows) == 4

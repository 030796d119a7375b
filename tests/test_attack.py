"""`advfc attack` and the harvest rows: every rewrite, valid or not, with its verdicts and reasons."""

from advfc.attack import attack_seeds
from advfc.data import load_bfcl_ids
from advfc.generation import SamplingParams
from advfc.rewards import QueryRewardSettings
from scripted import ScriptedGenerator

RIGHT = "[calculate_triangle_area(base=10, height=5)]"
GOOD = "I have a triangle with base 10 and a height of 5. What is its area?"


def test_harvest_rows_record_truncation_and_strict_verdicts():
    (ex,) = load_bfcl_ids(["simple_python_0"])
    rows = attack_seeds([ex], ScriptedGenerator(GOOD, finish_reason="length"), ScriptedGenerator(RIGHT),
                        QueryRewardSettings(k=2), per_seed=2, level=1, round_index=3,
                        q_params=SamplingParams(max_new_tokens=8, temperature=1.0))
    assert [r["id"] for r in rows] == [f"r3-{ex.id}-0", f"r3-{ex.id}-1"]
    assert all(r["status"] == "invalid" and r["reasons"] == ["truncated"] and r["finish_reason"] == "length" for r in rows)
    rows = attack_seeds([ex], ScriptedGenerator(GOOD), ScriptedGenerator(RIGHT), QueryRewardSettings(k=2), per_seed=1,
                        level=1, round_index=1, q_params=SamplingParams(max_new_tokens=8, temperature=1.0))
    assert rows[0]["status"] == "valid" and rows[0]["verdicts"] == [True, True] and rows[0]["p_hat"] == 1.0
    assert rows[0]["fc_answers"] == [RIGHT, RIGHT]


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

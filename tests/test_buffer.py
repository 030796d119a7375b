import json

from advfc.buffer import AdversarialBuffer, round_summary, whole_seeds
from advfc.data import load_bfcl_ids


def row(seed, i, status="valid", p_hat=0.5, clean=1.0, round_=1):
    (ex,) = load_bfcl_ids([seed])
    return {"id": f"r{round_}-{seed}-{i}", "round": round_, "seed_id": seed, "tactic": "paraphrase", "level": 1,
            "query": f"q{i} base 10 height 5",
            "status": status, "reasons": [] if status == "valid" else ["drops value 10 (x)"], "p_hat": p_hat,
            "p_hat_clean": clean, "error_types": ["value_error:others"], "seed": ex.to_record()}


def test_torn_last_line_and_offsets(tmp_path):
    buf = AdversarialBuffer(tmp_path / "buffer.jsonl")
    buf.append([row("simple_python_0", 0), row("simple_python_0", 1)])
    with buf.path.open("a") as f:
        f.write('{"id": "torn')
    assert buf.repair() == 2 and len(buf) == 2
    buf.append([row("simple_python_1", 0)])
    assert buf.repair(keep=2) == 2 and [r["id"] for r in buf.rows()] == ["r1-simple_python_0-0", "r1-simple_python_0-1"]


def test_whole_seeds_drops_a_half_written_seed():
    rows = [row("simple_python_0", 0), row("simple_python_0", 1), row("simple_python_1", 0)]
    assert whole_seeds(rows, 2) == 2 and whole_seeds(rows[:1], 2) == 0 and whole_seeds([], 2) == 0


def test_examples_replace_the_query_and_keep_the_gold(tmp_path):
    buf = AdversarialBuffer(tmp_path / "b.jsonl")
    buf.append([row("simple_python_0", 0), row("simple_python_0", 1, status="invalid")])
    ((r, ex),) = buf.examples()
    assert ex.query == "q0 base 10 height 5" and ex.id == r["id"] and ex.answers == load_bfcl_ids(["simple_python_0"])[0].answers
    assert buf.seeds_done(1) == {"simple_python_0"} and buf.seeds_done(2) == set()


def test_round_summary():
    a, b, c = "simple_python_0", "simple_python_1", "simple_python_2"
    rows = [row(a, 0, p_hat=0.0), row(a, 1, p_hat=1.0), row(b, 0, status="invalid", clean=0.0), row(c, 0, p_hat=0.0, clean=0.0)]
    s = round_summary(rows)
    assert s["validity_rate"] == 0.75 and s["attack_success"] == 0.5 and abs(s["attack_success_all"] - 2 / 3) < 1e-9
    assert s["fc_accuracy_adversarial"] == 1 / 3 and s["rejections"] == {"drops value": 1}
    assert s["truncation_rate"] == 0.0
    assert json.dumps(s)


def test_attack_success_is_measured_at_the_curriculum_level():
    """Level-1 tactics still drawn at level 2 must not unlock level 3 by themselves."""
    a = "simple_python_0"
    rows = [{**row(a, 0, p_hat=0.0), "level": 1, "curriculum_level": 2},
            {**row(a, 1, p_hat=1.0), "level": 2, "curriculum_level": 2},
            {**row(a, 2, status="invalid"), "reasons": ["truncated"], "level": 2, "curriculum_level": 2}]
    s = round_summary(rows)
    assert s["attack_success"] == 0.5 and s["attack_success_at_level"] == 0.0
    assert s["truncation_rate"] == 1 / 3

"""`advfc attack` and the harvest rows: every rewrite, valid or not, with its verdicts and reasons."""

import json

from test_server import server  # noqa: F401  (the `advfc serve` fixture)

from advfc.attack import attack_seeds, breaks, export_broken
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


class ClearOnly(ScriptedGenerator):
    """A target that answers the seed's own query correctly and fails every rewrite of it."""

    def __init__(self, example, right):
        super().__init__(lambda c: right if c[-1]["content"] == example.query else "I am not sure.")


def test_the_rewrites_that_broke_the_target_are_a_bfcl_set_and_a_dataset(cli, tmp_path):
    from datasets import load_dataset

    (ex,) = load_bfcl_ids(["simple_python_0"])
    settings = QueryRewardSettings(k=2)
    rows = attack_seeds([ex], ScriptedGenerator(GOOD), ClearOnly(ex, RIGHT), settings, per_seed=2, level=1, round_index=0,
                        q_params=SamplingParams(max_new_tokens=8, temperature=1.0), clean_rates={ex.id: 1.0})
    assert all(breaks(r) for r in rows)
    assert export_broken(rows + [{**rows[0], "id": "kept", "p_hat": 1.0}], tmp_path) == 2
    questions = [json.loads(line) for line in (tmp_path / "questions.jsonl").read_text().splitlines()]
    assert [q["id"] for q in questions] == [r["id"] for r in rows] and questions[0]["question"][0][-1]["content"] == GOOD
    code, out, err = cli("eval", "--model", "tiny", "--questions", tmp_path / "questions.jsonl", "--answers",
                         tmp_path / "answers.jsonl", "--out", tmp_path / "eval", "--max-new-tokens", "6", "--no-progress")
    assert code == 0, err
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert scores["categories"]["simple_python"]["total"] == 2 and scores["run"]["questions"]["sha256"]
    data = load_dataset("json", data_files=str(tmp_path / "adversarial.jsonl"), split="train")
    assert data.num_rows == 2 and data[0]["query"] == GOOD and json.loads(data[0]["answers"]) == ex.answers


def attack_args(attacker, target, out, *more):
    return ["attack", "--attacker", attacker, "--target", target, "--categories", "simple_python,irrelevance",
            "--limit", "1", "--per-seed", "2", "--k", "1", "--fc-max-new-tokens", "24", "--q-max-new-tokens", "24",
            "--no-progress", "--out", out, *more]


def test_a_trained_query_model_red_teams_the_embedded_model_and_resumes(cli, tmp_path, smoke):
    out = tmp_path / "attack"
    code, stdout, err = cli(*attack_args(smoke, "embedded", out))
    assert code == 0, err
    rows = [json.loads(line) for line in (out / "rewrites.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["seed_id"] for r in rows} == {"simple_python_0", "irrelevance_0"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["queries"] == 4 and summary["attacker"] == str(smoke) and "rewrites broke it" in stdout
    html = (out / "report.html").read_text()
    assert "advfc attack on embedded" in html and "Overview" in html
    for name in ("questions.jsonl", "answers.jsonl", "adversarial.jsonl", "report.md"):
        assert (out / name).exists(), name
    with (out / "rewrites.jsonl").open("a") as f:
        f.write('{"id": "torn')
    code, _, err = cli(*attack_args(smoke, "embedded", out))  # nothing left to do: the torn line goes, no row is added
    assert code == 0, err
    assert len((out / "rewrites.jsonl").read_text().splitlines()) == 4
    code, _, err = cli(*attack_args(smoke, "tiny", out))
    assert code == 2 and "holds an attack with other settings (target)" in err


def test_an_endpoint_is_red_teamed_like_a_local_model(cli, tmp_path, server):
    code, _, err = cli(*attack_args("tiny", f"{server}::tiny", tmp_path / "attack"))
    assert code == 0, err
    assert len((tmp_path / "attack" / "rewrites.jsonl").read_text().splitlines()) == 4


def attack_folder(tmp_path, rows, *, ids="eval", finished=True):
    """An `advfc attack` folder as the command leaves it, holding `rows`."""
    folder = tmp_path / "attack"
    folder.mkdir(parents=True)
    (folder / "attack.json").write_text(json.dumps({"attacker": "runs/q", "target": "embedded", "ids": ids}))
    (folder / "rewrites.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if finished:
        (folder / "summary.json").write_text("{}")
    return folder


def test_an_attack_on_held_out_seeds_freezes_into_one_guard_passed_rewrite_per_seed(cli, tmp_path):
    simple, irrelevant = load_bfcl_ids(["simple_python_0", "irrelevance_0"])
    rows = attack_seeds([simple, irrelevant], ScriptedGenerator(GOOD), ScriptedGenerator(RIGHT), QueryRewardSettings(k=1),
                        per_seed=3, level=1, round_index=0, q_params=SamplingParams(max_new_tokens=8, temperature=1.0))
    # sample 0 of the simple seed failed the guard, 1 and 2 passed; no rewrite of the irrelevance seed passed
    rows[0] = {**rows[0], "status": "invalid", "query": "What is the area?"}
    rows[2] = {**rows[2], "query": GOOD + " Thanks."}
    for r in rows[3:]:
        r["status"] = "invalid"
    folder = attack_folder(tmp_path, rows[::-1])  # file order does not decide which rewrite is kept
    out = tmp_path / "set"
    code, stdout, err = cli("data", "rewrites", folder, "--out", out)
    assert code == 0, err
    assert "wrote 1 items" in stdout
    (question,) = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert question["id"] == "simple_python_0#rewrite" and question["source_id"] == "simple_python_0"
    assert question["question"][0][-1]["content"] == rows[1]["query"] == GOOD and question["function"] == simple.tools
    assert question["tactic"] == rows[1]["tactic"]
    (answer,) = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert answer == {"id": "simple_python_0#rewrite", "ground_truth": simple.answers}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["by_category"] == {"irrelevance": {"seeds": 1, "rewrites": 3, "passed": 0, "items": 0},
                                       "simple_python": {"seeds": 1, "rewrites": 3, "passed": 2, "items": 1}}
    assert manifest["attacker"] == {"model": "runs/q", "adapter_sha256": None} and manifest["attack"]["ids"] == "eval"
    assert manifest["files"]["questions.jsonl"]["bytes"] == (out / "questions.jsonl").stat().st_size
    code, _, err = cli("data", "rewrites", folder, "--out", out)  # its own folder is rewritten, byte for byte the same
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_a_rewrite_set_is_refused_for_train_seeds_an_unfinished_attack_or_a_foreign_folder(cli, tmp_path):
    from advfc.split import load_split

    (simple,) = load_bfcl_ids(["simple_python_0"])
    rows = attack_seeds([simple], ScriptedGenerator(GOOD), ScriptedGenerator(RIGHT), QueryRewardSettings(k=1), per_seed=1,
                        level=1, round_index=0, q_params=SamplingParams(max_new_tokens=8, temperature=1.0))
    cases = [
        (attack_folder(tmp_path / "train", rows, ids="train"), "attacked ids=train; a robustness set rewrites held-out seeds only"),
        (attack_folder(tmp_path / "open", rows, finished=False), "holds an unfinished attack (no summary.json)"),
        (attack_folder(tmp_path / "leak", [{**rows[0], "seed_id": load_split().train["live_simple"][0]}]),
         "rewrites 1 seeds outside the held-out split"),
    ]
    for folder, message in cases:
        code, _, err = cli("data", "rewrites", folder, "--out", tmp_path / "set")
        assert code == 2 and message in err, err
    assert not (tmp_path / "set").exists()
    foreign = tmp_path / "tools"
    foreign.mkdir()
    (foreign / "manifest.json").write_text('{"set": "tool-list perturbations of held-out BFCL items"}')
    code, _, err = cli("data", "rewrites", attack_folder(tmp_path / "ok", rows), "--out", foreign)
    assert code == 2 and "refusing to replace it" in err
    assert sorted(p.name for p in foreign.iterdir()) == ["manifest.json"]

"""`advfc eval`: BFCL-shaped outputs, summaries, resume, refusals."""

import json

import pytest

from advfc.data import load_bfcl
from advfc.evaluation import EvalConfig, evaluate, result_path, select_examples, summarise
from advfc.generation import Completion
from advfc.io import read_jsonl
from advfc.report import table

TINY = ["--model", "tiny", "--max-new-tokens", "6", "--no-progress"]


def test_eval_end_to_end_on_the_tiny_model(cli, tmp_path):
    code, out, err = cli("eval", *TINY, "--categories", "simple_python", "--limit", "4", "--out", tmp_path)
    assert code == 0, err
    results = read_jsonl(tmp_path / "result" / "BFCL_v4_simple_python_result.json")
    assert [r["id"] for r in results] == [f"simple_python_{i}" for i in range(4)]
    assert set(results[0]) == {"id", "result", "input_token_count", "output_token_count", "latency"}
    verdicts = read_jsonl(tmp_path / "score" / "BFCL_v4_simple_python_score.jsonl")
    assert [v["id"] for v in verdicts] == [r["id"] for r in results] and not any(v["valid"] for v in verdicts)
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["categories"]["simple_python"] == {
        "total": 4, "correct": 0, "accuracy": 0.0, "parseable_calls": 0.0, "error_types": scores["error_types"]
    }
    run = scores["run"]
    assert run["model"] == "tiny" and run["backend"] == "hf" and len(run["fingerprint"]) == 16
    assert run["decoding"] == {"max_new_tokens": 6, "temperature": 0.0, "top_p": 1.0, "seed": 0}
    assert run["prompt_format"].startswith("ret_fmt=python") and run["categories"] == {"simple_python": 4}
    assert "| simple_python | 4 | 0 | 0.00% | 0.00% |" in out
    assert (tmp_path / "summary.md").read_text() in out


def test_resume_skips_finished_items_and_repairs_a_torn_line(cli, tmp_path):
    args = ("eval", *TINY, "--categories", "simple_python", "--limit", "4", "--out", tmp_path)
    assert cli(*args)[0] == 0
    path = result_path(tmp_path, "simple_python")
    kept = read_jsonl(path)[:2]
    kept[0]["result"] = "[calculate_triangle_area(base=10, height=5)]"  # marks an item as already done
    path.write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"id": "simple_python_2", "res')
    code, out, err = cli(*args)
    assert code == 0, err
    results = read_jsonl(path)
    assert [r["id"] for r in results] == [f"simple_python_{i}" for i in range(4)]
    assert results[0]["result"] == kept[0]["result"]
    assert "| simple_python | 4 | 1 | 25.00% |" in out


def test_a_results_folder_of_other_settings_is_refused_and_kept(cli, tmp_path):
    assert cli("eval", *TINY, "--categories", "simple_python", "--limit", "2", "--out", tmp_path)[0] == 0
    before = result_path(tmp_path, "simple_python").read_text()
    code, _, err = cli("eval", *TINY, "--categories", "simple_python", "--limit", "2", "--out", tmp_path,
                       "--temperature", "0.7")
    assert code == 2 and "different model or settings" in " ".join(err.split()) and "decoding" in err
    assert result_path(tmp_path, "simple_python").read_text() == before


def test_a_folder_records_the_dtype_auto_resolved_to_and_refuses_another(cli, tmp_path):
    """`auto` may resolve differently on another machine (bf16 where the CPU has fast bf16): the
    folder keeps the dtype its answers came from, so a resume cannot mix two."""
    args = ("eval", *TINY, "--categories", "simple_python", "--limit", "2", "--out", tmp_path)
    assert cli(*args)[0] == 0
    assert json.loads((tmp_path / "run.json").read_text())["dtype"] == "float32"
    code, _, err = cli(*args, "--dtype", "bfloat16")
    assert code == 2 and "'float32' there, 'bfloat16' now" in " ".join(err.split())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--categories", "simple_pyhton"], "unknown BFCL category"),
        (["--model", "/nonexistent/model"], "does not exist"),
        (["--backend", "vllm", "--model", "tiny"], "vllm"),
        (["--limit", "0"], "limit"),
    ],
)
def test_bad_input_exits_2(cli, tmp_path, args, message):
    base = {"--model": "tiny", "--categories": "simple_python", "--out": str(tmp_path)}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    code, _, err = cli("eval", *[x for kv in base.items() for x in kv])
    assert code == 2 and message in " ".join(err.split())


def test_default_selection_never_includes_training_ids():
    from advfc.split import load_split

    split = load_split()
    selected = select_examples(EvalConfig(categories=["live_simple", "simple_python"]))
    assert {e.id for e in selected["live_simple"]} == set(split.eval["live_simple"])
    assert not {e.id for e in selected["live_simple"]} & set(split.train["live_simple"])
    assert len(selected["simple_python"]) == 400
    everything = select_examples(EvalConfig(categories=["live_simple"], ids="all", limit=1000))
    assert len(everything["live_simple"]) == len(load_bfcl("live_simple"))


class Scripted:
    """An in-memory generator (as the game loop passes one): answers with the gold call."""

    def __init__(self, examples):
        from advfc.prompts import gold_call_text

        self.answers = {e.query: gold_call_text(e) for e in examples}
        self.calls = 0

    def generate(self, conversations, params):
        self.calls += 1
        return [[Completion(self.answers.get(c[-1]["content"], "I cannot help."), 10, 5, "stop")] for c in conversations]

    def describe(self):
        return {"backend": "scripted", "model": "gold", "fingerprint": "0"}


def test_evaluate_with_an_in_memory_generator(tmp_path):
    categories = ["simple_python", "multiple", "irrelevance"]
    config = EvalConfig(model="gold", categories=categories, limit=3, out=tmp_path, progress=False)
    generator = Scripted([e for c in categories for e in load_bfcl(c)[:3]])
    scores = evaluate(config, generator=generator)
    assert {c: s["accuracy"] for c, s in scores["categories"].items()} == dict.fromkeys(categories, 1.0)
    assert scores["summary"]["irrelevance"] == 1.0 and scores["summary"]["non_live_ast"] is None
    # Gold answers are calls; the scripted refusal on irrelevance items is not.
    assert {c: s["parseable_calls"] for c, s in scores["categories"].items()} == {
        "simple_python": 1.0, "multiple": 1.0, "irrelevance": 0.0}
    assert "| simple_python | 3 | 3 | 100.00% | 100.00% |" in (tmp_path / "summary.md").read_text()
    assert "| parseable calls, AST categories | 100.0 |" in table({"gold": scores})
    calls = generator.calls
    evaluate(config, generator=generator)
    assert generator.calls == calls  # everything was done: nothing is generated again


def test_summary_columns_follow_bfcl():
    def rows(correct, total):
        return [{"id": str(i), "valid": i < correct, "error_type": None if i < correct else "e"} for i in range(total)]

    verdicts = {
        "simple_python": rows(4, 4), "multiple": rows(0, 2), "parallel": rows(1, 2), "parallel_multiple": rows(1, 4),
        "live_simple": rows(1, 1), "live_multiple": rows(0, 9), "live_parallel": rows(0, 0),
        "live_parallel_multiple": rows(0, 0), "irrelevance": rows(1, 2), "live_irrelevance": rows(0, 2),
    }
    s = summarise(verdicts)
    assert s["summary"]["non_live_ast"] == pytest.approx((1 + 0 + 0.5 + 0.25) / 4)  # unweighted
    assert s["summary"]["live_ast"] == pytest.approx(1 / 10)  # weighted by count
    assert s["summary"]["irrelevance_overall"] == pytest.approx(0.25)
    assert s["summary"]["live_relevance"] is None
    assert s["error_types"] == {"e": 1 * 2 + 1 + 3 + 9 + 1 + 2}
    assert summarise({"simple_python": rows(1, 1)})["summary"]["non_live_ast"] is None


@pytest.mark.slow
def test_eval_on_the_embedded_model(cli, tmp_path):
    code, out, err = cli("eval", "--model", "embedded", "--categories", "simple_python", "--limit", "8",
                         "--out", tmp_path, "--no-progress")
    assert code == 0, err
    assert len(read_jsonl(result_path(tmp_path, "simple_python"))) == 8
    assert "| simple_python | 8 |" in out

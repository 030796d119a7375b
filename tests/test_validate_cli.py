"""`advfc validate`: any rewrites file checked against the guard, in input order, with a summary."""

import json

from test_score_cli import write_lines as write

from advfc.data import load_bfcl_ids

GOOD = "I've got a triangle, 5 units tall with a 10-unit base. How much area does it cover?"
SWAPPED = "What is the area of a triangle with a base of 5 and a height of 10?"


def test_validate_writes_verdicts_in_input_order_and_a_summary(cli, tmp_path):
    rewrites = write(tmp_path / "rw.jsonl", [
        {"seed_id": "simple_python_0", "rewrite": SWAPPED},
        {"seed_id": "simple_python_0", "rewrite": GOOD},
        {"seed_id": "simple_python_0", "rewrite": GOOD, "finish_reason": "length"},
        {"seed_id": "irrelevance_0", "rewrite": None},
    ])
    out = tmp_path / "v.jsonl"
    code, stdout, err = cli("validate", rewrites, "--out", out)
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["seed_id"], r["rewrite"], r["valid"]) for r in rows] == [
        ("simple_python_0", SWAPPED, False), ("simple_python_0", GOOD, True), ("simple_python_0", GOOD, False),
        ("irrelevance_0", None, False)]
    assert rows[2]["reasons"] == ["truncated"] and rows[0]["reasons"][0].startswith("moves value 10")
    summary = json.loads((tmp_path / "v.summary.json").read_text())
    assert summary["rows"] == 4 and summary["valid"] == 1 and summary["validity_rate"] == 0.25
    assert summary["rejections"]["moves value"] == {"rows": 1, "rate": 0.25}
    assert summary["rejections"]["truncated"] == {"rows": 1, "rate": 0.25} and summary["unparseable"] == 1
    assert "1/4 valid" in stdout


def test_validate_measures_the_guard_on_labelled_rows(cli, tmp_path):
    rewrites = write(tmp_path / "rw.jsonl", [
        {"seed_id": "simple_python_0", "rewrite": SWAPPED, "label": "invalid", "class": "swapped_values"},
        {"seed_id": "simple_python_0", "rewrite": GOOD, "label": "valid", "class": "paraphrase"},
        {"seed_id": "simple_python_0", "rewrite": GOOD + " What about its perimeter?", "label": "invalid", "class": "extra_request"},
    ])
    code, _, err = cli("validate", rewrites, "--out", tmp_path / "v.jsonl")
    assert code == 0, err
    labelled = json.loads((tmp_path / "v.summary.json").read_text())["labelled"]
    assert labelled["false_reject"] == {"rows": 1, "errors": 0, "rate": 0.0}
    assert labelled["false_accept"] == {"rows": 2, "errors": 1, "rate": 0.5}
    assert labelled["per_class"]["extra_request"]["errors"] == 1 and labelled["per_class"]["swapped_values"]["errors"] == 0


def test_validate_takes_seeds_from_a_data_file(cli, tmp_path):
    (ex,) = load_bfcl_ids(["simple_python_0"])
    data = write(tmp_path / "seeds.jsonl", [{**ex.to_record(), "id": "my-seed-1"}])
    rewrites = write(tmp_path / "rw.jsonl", [{"seed_id": "my-seed-1", "rewrite": GOOD}])
    code, _, err = cli("validate", rewrites, "--out", tmp_path / "v.jsonl", "--data", data)
    assert code == 0, err
    assert json.loads((tmp_path / "v.jsonl").read_text())["valid"] is True


def test_validate_bad_input_is_one_line_naming_file_and_line(cli, tmp_path):
    cases = [
        (['{"seed_id": "simple_python_0", "rewrite": "x"}', "not json"], ":2:"),
        (['{"seed_id": "simple_python_0", "rewrite": "x"}', '{"seed_id": 3, "rewrite": "x"}'], ':2: "seed_id" must be'),
        (['{"seed_id": "simple_python_0"}'], ':1: "rewrite" must be'),
        (['{"seed_id": "simple_python_0", "rewrite": "x", "finish_reason": "eos"}'], ':1: "finish_reason"'),
        (['{"seed_id": "simple_python_0", "rewrite": "x"}', '{"seed_id": "simple_python_9999", "rewrite": "x"}',
          '{"seed_id": "nope", "rewrite": "x"}'], ":2: unknown seed_id 'simple_python_9999' and 1 more"),
        ([], "no rewrites"),
    ]
    for lines, expected in cases:
        rewrites = write(tmp_path / "rw.jsonl", lines)
        code, _, err = cli("validate", rewrites, "--out", tmp_path / "v.jsonl")
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, (lines, err)
        assert not (tmp_path / "v.jsonl").exists()


def test_validate_never_overwrites_what_it_did_not_write(cli, tmp_path):
    rewrites = write(tmp_path / "rw.jsonl", [{"seed_id": "simple_python_0", "rewrite": GOOD}])
    before = rewrites.read_bytes()
    code, _, err = cli("validate", rewrites, "--out", rewrites)
    assert code == 2 and "is also an input" in err and rewrites.read_bytes() == before
    out = tmp_path / "v.jsonl"
    out.write_text("keep me\n")
    code, _, err = cli("validate", rewrites, "--out", out)
    assert code == 2 and "exists and is not a verdicts file of `advfc validate`" in err and out.read_text() == "keep me\n"
    out.unlink()
    (tmp_path / "v.summary.json").write_text('{"mine": 1}')
    code, _, err = cli("validate", rewrites, "--out", out)
    assert code == 2 and "v.summary.json" in err and not out.exists()
    (tmp_path / "v.summary.json").unlink()
    assert cli("validate", rewrites, "--out", out)[0] == 0
    code, _, err = cli("validate", rewrites, "--out", out)  # its own output is replaced
    assert code == 0 and json.loads(out.read_text())["valid"] is True

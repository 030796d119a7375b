"""`advfc score`: BFCL result lines in, verdicts out; bad input names its file and line."""

import json

import pytest

from advfc.io import read_jsonl

RIGHT = "[calculate_triangle_area(base=10, height=5)]"


def squeeze(text: str) -> str:
    """Rich wraps long error lines; compare without whitespace."""
    return "".join(text.split())


def write_lines(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_scores_a_results_file(cli, tmp_path):
    results = write_lines(tmp_path / "r.jsonl", [
        {"id": "simple_python_0", "result": RIGHT},
        {"id": "simple_python_1", "result": "I cannot answer that."},
        {"id": "simple_python_2", "result": "[wrong_name(a=1)]"},
        "",
        {"id": "simple_python_3", "result": "```\n" + RIGHT + "\n```"},
    ])
    code, out, err = cli("score", "--category", "simple_python", "--results", results, "--out", tmp_path / "v.jsonl")
    assert code == 0, err
    assert read_jsonl(tmp_path / "v.jsonl") == [
        {"id": "simple_python_0", "valid": True, "error_type": None},
        {"id": "simple_python_1", "valid": False, "error_type": "ast_decoder:decoder_failed"},
        {"id": "simple_python_2", "valid": False, "error_type": "simple_function_checker:wrong_func_name"},
        {"id": "simple_python_3", "valid": False, "error_type": "simple_function_checker:wrong_func_name"},
    ]
    assert "accuracy 0.2500 (1/4)" in out
    assert "2  simple_function_checker:wrong_func_name" in out


def test_irrelevance_results(cli, tmp_path):
    results = write_lines(tmp_path / "r.jsonl", [
        {"id": "irrelevance_0", "result": "No function fits."},
        {"id": "irrelevance_1", "result": "[determine_body_mass_index(weight=70, height=1.8)]"},
    ])
    code, out, _ = cli("score", "--category", "irrelevance", "--results", results, "--out", tmp_path / "v.jsonl")
    assert code == 0
    assert [v["error_type"] for v in read_jsonl(tmp_path / "v.jsonl")] == [None, "irrelevance_error:decoder_success"]


@pytest.mark.parametrize(
    "lines, category, message",
    [
        ([{"id": "simple_python_0", "result": RIGHT}, "{not json"], "simple_python", "r.jsonl:2: invalid JSON"),
        ([{"id": "multiple_0", "result": RIGHT}], "simple_python", "r.jsonl:1: id 'multiple_0' is not in BFCL category"),
        (["", {"id": "simple_python_0"}], "simple_python", 'r.jsonl:2: missing "result" for id simple_python_0'),
        ([{"id": "simple_python_0", "result": ""}] * 2, "simple_python", "r.jsonl:2: duplicate id simple_python_0"),
        ([["simple_python_0", RIGHT]], "simple_python", 'r.jsonl:1: expected an object with "id" and "result"'),
        ([{"id": 0, "result": RIGHT}], "simple_python", "r.jsonl:1: id 0 is not in BFCL category simple_python"),
        ([], "simple_python", "r.jsonl: no results"),
        ([{"id": "simple_python_0", "result": RIGHT}], "simple", "unknown BFCL category 'simple'"),
    ],
)
def test_bad_input_exits_2_naming_file_and_line(cli, tmp_path, lines, category, message):
    results = write_lines(tmp_path / "r.jsonl", lines)
    code, _, err = cli("score", "--category", category, "--results", results, "--out", tmp_path / "v.jsonl")
    assert code == 2
    assert squeeze(message) in squeeze(err)
    assert not (tmp_path / "v.jsonl").exists()


def test_missing_results_file(cli, tmp_path):
    results, out = tmp_path / "nope.jsonl", tmp_path / "v.jsonl"
    code, _, err = cli("score", "--category", "simple_python", "--results", results, "--out", out)
    assert code == 2 and squeeze("nope.jsonl: file not found") in squeeze(err)

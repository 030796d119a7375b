import json

import pytest

from advfc.data import (
    CATEGORIES,
    Example,
    category_of_id,
    load_bfcl,
    load_bfcl_ids,
    load_examples_jsonl,
    parse_categories,
)
from advfc.errors import InputError

EXPECTED_SIZES = {
    "simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "irrelevance": 240,
    "live_simple": 258, "live_multiple": 1053, "live_parallel": 16, "live_parallel_multiple": 24,
    "live_irrelevance": 884, "live_relevance": 16,
}


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_loads_with_answers(category):
    examples = load_bfcl(category)
    assert len(examples) == EXPECTED_SIZES[category]
    assert all(ex.category == category and ex.query for ex in examples)
    if "irrelevance" in category or category == "live_relevance":
        assert all(ex.answers == [] for ex in examples)
    else:
        assert all(ex.answers for ex in examples)
        tool_names = [{t["name"] for t in ex.tools} for ex in examples]
        assert all(next(iter(a)) in names for ex, names in zip(examples, tool_names) for a in ex.answers)


def test_ids_keep_order_and_category():
    ids = ["live_simple_3-2-1", "simple_python_7", "multiple_0"]
    assert [ex.id for ex in load_bfcl_ids(ids)] == ids
    assert category_of_id("live_parallel_multiple_2-1-0") == "live_parallel_multiple"


def test_example_round_trips_through_flat_record():
    ex = load_bfcl("live_multiple")[0]
    rec = ex.to_record()
    assert isinstance(rec["tools"], str) and rec["query"] == ex.query
    assert Example.from_dict(json.loads(json.dumps(rec))) == ex
    assert Example.from_dict(ex.to_dict()) == ex


def test_with_query_replaces_only_last_user_message():
    ex = load_bfcl("simple_python")[0]
    new = ex.with_query("something else", id="x")
    assert new.query == "something else" and new.id == "x" and ex.query != new.query


def test_category_shorthands_and_unknown_category():
    assert parse_categories("non_live") == ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"]
    assert parse_categories("simple_python, live_simple,simple_python") == ["simple_python", "live_simple"]
    with pytest.raises(InputError, match="unknown BFCL category 'simple_java'"):
        parse_categories("simple_java")


def _bfcl_dir(tmp_path, questions: list[str], answers: list[str] | None, category="simple_python"):
    (tmp_path / "possible_answer").mkdir()
    (tmp_path / f"BFCL_v4_{category}.json").write_text("\n".join(questions) + "\n")
    if answers is not None:
        (tmp_path / "possible_answer" / f"BFCL_v4_{category}.json").write_text("\n".join(answers) + "\n")
    return tmp_path


FN = {"name": "f", "description": "", "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}
Q = json.dumps({"id": "simple_python_0", "question": [[{"role": "user", "content": "hi"}]], "function": [FN]})
A = json.dumps({"id": "simple_python_0", "ground_truth": [{"f": {"a": [1]}}]})


def test_malformed_json_names_file_and_line(tmp_path):
    d = _bfcl_dir(tmp_path, [Q, '{"id": "simple_python_1", "question": [[{'], [A])
    with pytest.raises(InputError) as e:
        load_bfcl("simple_python", d)
    assert "BFCL_v4_simple_python.json:2: invalid JSON" in str(e.value)


def test_missing_function_names_line(tmp_path):
    bad = json.dumps({"id": "simple_python_0", "question": [[{"role": "user", "content": "hi"}]]})
    with pytest.raises(InputError, match=r"BFCL_v4_simple_python.json:1: missing 'function'"):
        load_bfcl("simple_python", _bfcl_dir(tmp_path, [bad], [A]))


def test_answer_naming_unknown_tool_names_id(tmp_path):
    bad = json.dumps({"id": "simple_python_0", "ground_truth": [{"g": {"a": [1]}}]})
    with pytest.raises(InputError, match=r"\(id simple_python_0\): ground truth names unknown function 'g'"):
        load_bfcl("simple_python", _bfcl_dir(tmp_path, [Q], [bad]))


def test_own_jsonl_format_errors_name_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps(load_bfcl("simple_python")[0].to_record()) + "\n" + json.dumps({"id": "y"}) + "\n")
    with pytest.raises(InputError, match=r"x.jsonl:2: not an advfc example \(missing 'tools'\)"):
        load_examples_jsonl(p)

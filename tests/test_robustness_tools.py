"""The frozen tool-list robustness set (data/robustness/tools/): what every twin keeps, and that
the committed files are exactly what `advfc data robustness` writes now."""

import copy
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from advfc.data import is_irrelevance, load_bfcl_files, load_bfcl_ids
from advfc.robustness import _GRAMMAR, DISTRACTORS, MANIFEST, TOOL_FAMILIES, _same_name, reword, reword_tool, write_tools_set
from advfc.split import load_split

SET = Path(__file__).resolve().parents[1] / "data" / "robustness" / "tools"
FILES = ("questions.jsonl", "answers.jsonl")


@pytest.fixture(scope="module")
def committed():
    manifest = json.loads((SET / MANIFEST).read_text())
    rows = [json.loads(line) for line in (SET / "questions.jsonl").read_text().splitlines()]
    twins = {e.id: e for e in load_bfcl_files(SET / "questions.jsonl", SET / "answers.jsonl")}
    sources = {e.id: e for e in load_bfcl_ids(dict.fromkeys(r["source_id"] for r in rows))}
    return manifest, rows, twins, sources


def _without_descriptions(spec):
    """The function doc with every description removed: what rewording may not change."""
    if isinstance(spec, dict):
        return {k: (v if k in ("enum", "default") else _without_descriptions(v)) for k, v in spec.items() if k != "description"}
    if isinstance(spec, list):
        return [_without_descriptions(v) for v in spec]
    return spec


def test_the_committed_files_are_what_the_command_writes_now(tmp_path, committed):
    manifest = committed[0]
    regenerated = write_tools_set(tmp_path / "tools", manifest["per_category"])
    for name in FILES:
        assert (tmp_path / "tools" / name).read_bytes() == (SET / name).read_bytes(), f"{name} drifted; rerun the command"
        assert hashlib.sha256((SET / name).read_bytes()).hexdigest() == manifest["files"][name]["sha256"]
    assert {**regenerated, "command": None} == {**manifest, "command": None}
    assert manifest["command"] == f"advfc data robustness --out data/robustness/tools --per-category {manifest['per_category']}"
    assert sum(f["bytes"] for f in manifest["files"].values()) < 1 << 20


def test_every_twin_is_of_a_held_out_item_and_keeps_its_gold(committed):
    manifest, rows, twins, sources = committed
    split = load_split()
    held, train = set(split.eval_ids()), set(split.train_ids())
    assert len(rows) == manifest["items"] == len(twins)
    for row in rows:
        twin, source = twins[row["id"]], sources[row["source_id"]]
        assert row["id"] == f"{source.id}#{row['family']}" and row["family"] in TOOL_FAMILIES
        assert source.id in held and source.id not in train and row["source_category"] == source.category
        assert twin.answers == source.answers and twin.messages == source.messages
        assert is_irrelevance(twin.category) == is_irrelevance(source.category)
        by_name = {t["name"]: t for t in twin.tools}
        assert len(by_name) == len(twin.tools)
        for tool in source.tools:
            if row["family"] == "tools-reword":
                assert _without_descriptions(by_name[tool["name"]]) == _without_descriptions(tool)
            else:
                assert by_name[tool["name"]] == tool
        if row["family"] == "tools-reword":
            assert [t["name"] for t in twin.tools] == [t["name"] for t in source.tools] and twin.tools != source.tools
        if row["family"] == "tools-distract":
            kept = [t["name"] for t in twin.tools if t["name"] in {s["name"] for s in source.tools}]
            assert kept == [t["name"] for t in source.tools]
        if row["family"] == "tools-shuffle" and len(source.tools) > 1:
            assert sorted(by_name) == sorted(t["name"] for t in source.tools) and twin.tools != source.tools
        elif row["family"] == "tools-shuffle":  # one tool: shuffled in among the distractors
            assert len(twin.tools) == 1 + DISTRACTORS
        # The simple checker scores against tools[0]; an item that gains tools is scored as "multiple".
        assert twin.category == ({"simple_python": "multiple", "live_simple": "live_multiple"}.get(source.category, source.category)
                                 if len(twin.tools) > len(source.tools) else source.category)


def test_distractors_never_collide_and_leave_irrelevance_unanswerable(committed):
    _, rows, twins, sources = committed
    added_to_irrelevance = 0
    for row in rows:
        twin, source = twins[row["id"]], sources[row["source_id"]]
        own = [t["name"] for t in source.tools] + [n for a in source.answers for n in a]
        added = [t for t in twin.tools if t["name"] not in {s["name"] for s in source.tools}]
        assert all(not _same_name(t["name"], n) for t in added for n in own)
        if is_irrelevance(source.category) and added:
            added_to_irrelevance += 1
            query = " ".join(m["content"] for m in source.messages if m["role"] == "user").lower()
            asked = {w for w in re.findall(r"[a-z]+", query) if len(w) >= 3 and w not in _GRAMMAR}
            for tool in added:
                words = set(re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", json.dumps(tool)).lower()))
                assert not asked & words, (row["id"], tool["name"], asked & words)
    assert added_to_irrelevance >= 20


def test_rewording_touches_descriptions_only():
    tool = {
        "name": "calculate_area",
        "description": "Calculate the area of a shape. Default is 'square', e.g. a 'List' of sides.",
        "parameters": {"type": "dict", "required": ["shape", "mode"], "properties": {
            "shape": {"type": "string", "enum": ["square", "circle"], "description": "The shape, in the format of 'name'."},
            "mode": {"type": "string", "default": "list", "description": "List the specified sides."},
            "sides": {"type": "array", "items": {"type": "float", "description": "The length of a side."},
                      "description": "The specific lengths."},
        }},
    }
    before = copy.deepcopy(tool)
    new = reword_tool(tool)
    assert tool == before and _without_descriptions(new) == _without_descriptions(tool)
    assert new["description"] == "Compute the area of a shape. Defaults to 'square', for example a 'List' of sides."
    props = new["parameters"]["properties"]
    assert props["shape"]["description"] == "Shape, formatted as 'name'."
    assert props["mode"]["description"] == "List the given sides."  # "list" is the parameter's default: kept
    assert props["sides"]["items"]["description"] == "Length of a side."
    assert props["sides"]["description"] == "Particular lengths."
    assert reword("Book title of the novel.", set(), parameter=True) == "Book title of the novel."  # a noun, not a verb


def test_the_twins_are_deterministic(committed):
    _, rows, _, sources = committed
    from advfc.robustness import DistractorPool, tool_twin

    pool = DistractorPool(list(sources.values()))
    for row in rows[::25]:
        first = tool_twin(sources[row["source_id"]], row["family"], pool)
        again = tool_twin(sources[row["source_id"]], row["family"], DistractorPool(list(sources.values())))
        assert first == again


def test_bad_arguments_are_one_line_and_exit_2(cli, tmp_path):
    code, _, err = cli("data", "robustness", "--out", tmp_path / "x", "--per-category", "0")
    assert code == 2 and "--per-category must be at least 1" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "file").write_text("mine")
    code, _, err = cli("data", "robustness", "--out", tmp_path / "file")
    assert code == 2 and "refusing to replace it" in err and (tmp_path / "file").read_text() == "mine"
    # Another kind of set (the rewrite set beside it) is never replaced by this one.
    rewrites = tmp_path / "rewrites"
    shutil.copytree(SET.parent / "rewrites", rewrites)
    before = {p.name: p.read_bytes() for p in rewrites.iterdir()}
    code, _, err = cli("data", "robustness", "--out", rewrites, "--per-category", "1")
    assert code == 2 and "refusing to replace it" in err and {p.name: p.read_bytes() for p in rewrites.iterdir()} == before


def test_advfc_eval_scores_a_model_on_the_set(cli, tmp_path):
    code, _, err = cli("eval", "--model", "tiny", "--questions", SET / "questions.jsonl", "--answers", SET / "answers.jsonl",
                       "--limit", "1", "--out", tmp_path / "eval", "--max-new-tokens", "6", "--no-progress")
    assert code == 0, err
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert {"multiple", "irrelevance", "live_irrelevance"} <= set(scores["categories"])
    assert all(c["total"] == 1 for c in scores["categories"].values())

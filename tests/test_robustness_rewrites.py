"""The frozen rewrite robustness set (data/robustness/rewrites/): rewrites of held-out items by a
separate run's query model. Each item must still be its source item (tools and gold call
untouched), come from the held-out side of the split, and pass the guard it was frozen with."""

import json
from pathlib import Path

from advfc.data import load_bfcl_ids
from advfc.io import file_digest
from advfc.split import load_split
from advfc.validity import ValidityRules, guard

SET = Path(__file__).parent.parent / "data" / "robustness" / "rewrites"


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (SET / name).read_text().splitlines()]


def test_the_files_are_the_ones_the_manifest_describes():
    manifest = json.loads((SET / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert file_digest(SET / name) == digest, name
    questions = load("questions.jsonl")
    assert len(questions) == manifest["items"] == sum(c["items"] for c in manifest["by_category"].values())
    assert manifest["attack"]["ids"] == "eval"
    # written by a run of its own: never forked from an experiment's warm start
    assert manifest["attacker"]["run"]["init_from"] is None and manifest["attacker"]["adapter_sha256"]


def test_every_item_is_its_held_out_source_with_a_guard_passed_rewrite():
    manifest = json.loads((SET / "manifest.json").read_text())
    questions, answers = load("questions.jsonl"), load("answers.jsonl")
    assert [q["id"] for q in questions] == [a["id"] for a in answers] == [f"{q['source_id']}#rewrite" for q in questions]
    assert len({q["source_id"] for q in questions}) == len(questions)  # one rewrite per source item
    held = {i for ids in load_split().eval.values() for i in ids}
    assert {q["source_id"] for q in questions} <= held
    sources = {e.id: e for e in load_bfcl_ids([q["source_id"] for q in questions])}
    rewrites = []
    for q, a in zip(questions, answers):
        source = sources[q["source_id"]]
        assert q["category"] == q["source_category"] == source.category
        assert q["function"] == source.tools and a["ground_truth"] == source.answers
        messages = q["question"][0]
        assert messages[:-1] == source.messages[:-1] and messages[-1]["content"] != source.query
        rewrites.append(messages[-1]["content"])
    attack = manifest["attack"]
    rules = ValidityRules(max_similarity=attack["max_similarity"], max_length_ratio=attack["max_length_ratio"])
    verdicts = guard(rewrites, [sources[q["source_id"]] for q in questions], rules=rules)
    # The guard of the freeze passed them all; rules added since may refuse only what the review
    # (review.jsonl) already read as invalid, never a rewrite read as asking for the same call.
    readings = {r["id"]: r["label"] for r in load("review.jsonl")}
    refused = {q["id"]: v.reasons for q, v in zip(questions, verdicts) if not v.valid}
    assert refused == {"irrelevance_11#rewrite": ("states no request",)}  # 'Chebysheva 30'
    assert all(readings[i] == "invalid" for i in refused)


def test_every_item_has_one_reading_and_the_readme_counts_them():
    review = load("review.jsonl")
    assert [r["id"] for r in review] == [q["id"] for q in load("questions.jsonl")]
    assert {r["label"] for r in review} <= {"valid", "invalid"} and all(r["why"] for r in review)
    same = sum(r["label"] == "valid" for r in review)
    assert f"{same} of the {len(review)}" in (SET / "README.md").read_text()

"""advfc's checker against the official bfcl-eval pipeline, case for case.

The golden files hold raw outputs judged by the official package (scripts/make_golden.py, run by
`make golden`); this test needs only the committed files and the bundled BFCL data. They contain
none of the deliberate deviations listed in docs/scoring.md, so every verdict must match.
"""

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from advfc.checker import check
from advfc.data import CATEGORIES, Example, load_bfcl

GOLDEN = Path(__file__).parent / "golden"
MANIFEST = json.loads((GOLDEN / "checker_manifest.json").read_text())


def read_golden(name: str) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress((GOLDEN / f"{name}.jsonl.gz").read_bytes()).splitlines()]


def assert_same_verdicts(cases: list[dict], example_of) -> None:
    diffs = []
    for case in cases:
        example = example_of(case)
        verdict = check(case["raw"], example)
        if (verdict.correct, verdict.error_type) != (case["valid"], case["error_type"]):
            diffs.append((example.id, case, verdict))
    if diffs:
        pairs = Counter((c["error_type"] or "valid", v.error_type or "valid") for _, c, v in diffs)
        lines = [f"{len(diffs)}/{len(cases)} verdicts differ (bfcl -> advfc): {dict(pairs.most_common())}"]
        lines += [
            f"  {i} raw={c['raw'][:160]!r}: bfcl {c['error_type'] or 'valid'}, "
            f"advfc {v.error_type or 'valid'} ({v.error[:120]})"
            for i, c, v in diffs[:15]
        ]
        pytest.fail("\n".join(lines))


def test_manifest_covers_every_category():
    assert MANIFEST["oracle"] == "bfcl-eval==2026.3.23"
    assert list(MANIFEST["categories"]) == list(CATEGORIES)


@pytest.mark.parametrize("category", CATEGORIES)
def test_same_verdict_as_bfcl(category):
    examples = {e.id: e for e in load_bfcl(category)}
    cases = read_golden(category)
    assert len(cases) == MANIFEST["categories"][category]["cases"]
    assert {c["id"] for c in cases} == set(examples), "golden ids differ from the bundled BFCL data"
    assert_same_verdicts(cases, lambda case: examples[case["id"]])


def test_synthetic_items_same_verdict_as_bfcl():
    """Quirks the BFCL items never reach (odd schemas, variables, crashes) and advfc's own categories."""
    cases = read_golden("synthetic")
    assert len(cases) == MANIFEST["synthetic"]["cases"]
    assert_same_verdicts(cases, lambda case: Example.from_dict(case["example"]))

"""The guard on the hand-labelled rewrites of tests/data (see its README): the false-accept and
false-reject rates may not rise above the figures in docs/benchmarks.md, and every failure class
the rules claim to catch stays caught. `benchmarks/validity_guard.py` prints the same numbers."""

from pathlib import Path

import pytest

from advfc.validity import read_rewrites, resolve_seeds, validate_rewrites

DATA = Path(__file__).parent / "data"
# Failure classes no rule can see (docs/method.md, "Blind spots"): measured, not asserted to zero.
BLIND_SPOTS = {"extra_request", "boolean_flip", "swapped_values"}
CEILINGS = {  # (false accepts, false rejects) reached with the rules alone
    "guard_labelled.jsonl": (0.05, 0.02),
    "guard_heldout.jsonl": (0.09, 0.02),
    "guard_blind.jsonl": (0.09, 0.03),
    "guard_test.jsonl": (0.16, 0.09),  # never tuned against: the honest estimate
}


def measure(name: str) -> dict:
    path = DATA / name
    rows = read_rewrites(path)
    _, summary = validate_rewrites(rows, resolve_seeds(rows, path))
    return summary["labelled"]


@pytest.mark.parametrize("name", sorted(CEILINGS))
def test_error_rates_stay_under_the_reached_figures(name):
    labelled = measure(name)
    false_accept, false_reject = CEILINGS[name]
    assert labelled["false_accept"]["rate"] <= false_accept, labelled["false_accept"]
    assert labelled["false_reject"]["rate"] <= false_reject, labelled["false_reject"]


def test_every_class_the_rules_claim_stays_caught():
    """On the development set, every invalid class but the documented blind spots is fully caught."""
    per_class = measure("guard_labelled.jsonl")["per_class"]
    leaks = {k: c for k, c in per_class.items() if c["label"] == "invalid" and c["errors"] and k not in BLIND_SPOTS}
    assert not leaks


def test_the_labelled_set_is_what_its_readme_says():
    rows = read_rewrites(DATA / "guard_labelled.jsonl")
    assert len(rows) >= 150 and {r.label for r in rows} == {"valid", "invalid"}
    seeds = resolve_seeds(rows, DATA / "guard_labelled.jsonl")
    assert {"live_irrelevance", "irrelevance", "simple_python", "parallel", "live_multiple"} <= {s.category for s in seeds.values()}

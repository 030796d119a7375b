"""The adversarial buffer: every generated query, valid or not, appended once and never rewritten.

One JSON line per query with its round, seed, tactic, level, validity, p-hat and the FC model's
error types. A seed's queries are appended in one fsync'd write, so after a kill the buffer holds
whole seeds; resuming trims it to the checkpoint's offset or skips seeds already written.
Every row is checked when the buffer is read, and before it is trimmed: a file that is not a
buffer is an InputError and is left as it was.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .data import Example, example_from_record
from .errors import InputError
from .io import append_jsonl, iter_jsonl, repair_jsonl
from .validity import TRUNCATED, reason_class


class AdversarialBuffer:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        for lineno, row in iter_jsonl(self.path):
            problem = row_problem(row)
            if problem:
                raise InputError(f"not a buffer row: {problem}", path=self.path, where=lineno)
            rows.append(row)
        return rows

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as f:
            return sum(1 for line in f if line.strip())

    def append(self, rows: list[dict]) -> int:
        return append_jsonl(self.path, rows)

    def repair(self, keep: int | None = None) -> int:
        """Drop a torn last line, and with `keep` everything after that many rows."""
        return repair_jsonl(self.path, keep, check=row_problem)

    def seeds_done(self, round_index: int) -> set[str]:
        return {r["seed_id"] for r in self.rows() if r["round"] == round_index}

    def examples(self, *, rounds: set[int] | None = None, valid_only: bool = True) -> list[tuple[dict, Example]]:
        """(row, the seed with its query replaced) for the rows F trains on."""
        out = []
        for row in self.rows():
            if valid_only and row["status"] != "valid":
                continue
            if rounds is not None and row["round"] not in rounds:
                continue
            seed = Example.from_dict(row["seed"])
            out.append((row, seed.with_query(row["query"], id=row["id"])))
        return out


# A buffer row's fields that other code reads, and the types they must have.
_ROW_TYPES = {
    "id": str, "round": int, "seed_id": str, "tactic": str, "level": int, "status": str,
    "query": (str, type(None)), "reasons": list, "p_hat": (int, float, type(None)),
    "p_hat_clean": (int, float, type(None)), "error_types": list, "seed": dict,
}


def row_problem(row) -> str | None:
    """What makes `row` not a buffer row, or None."""
    if not isinstance(row, dict):
        return "expected a JSON object"
    for key, kind in _ROW_TYPES.items():
        if key not in row:
            return f"missing {key!r}"
        if not isinstance(row[key], kind) or isinstance(row[key], bool):
            return f"{key!r} has the wrong type ({type(row[key]).__name__})"
    if not all(isinstance(r, str) for r in row["reasons"]):
        return "'reasons' must be a list of strings"
    try:
        example_from_record(row["seed"])
    except InputError as e:
        return f"'seed': {e.message}"
    return None


def whole_seeds(rows: list[dict], per_seed: int) -> int:
    """How many leading rows form whole seeds (a seed's rows are written together, in a row), so
    a kill in the middle of a write never leaves a seed half harvested."""
    counts: Counter = Counter()
    kept = 0
    for i, row in enumerate(rows, 1):
        counts[row["seed_id"]] += 1
        if counts[row["seed_id"]] == per_seed:
            kept = i
    return kept


def round_summary(rows: list[dict]) -> dict:
    """Per-round harvest numbers: validity, F accuracy on clean vs adversarial, attack success."""
    if not rows:
        return {"queries": 0}
    valid = [r for r in rows if r["status"] == "valid"]
    solved = [r for r in valid if r["p_hat_clean"] is not None and r["p_hat_clean"] >= 0.5]
    # The curriculum advances on attacks made with the current level's tactics only.
    at_level = [r for r in solved if r.get("level") == r.get("curriculum_level")]
    reasons = Counter(c for r in rows for c in dict.fromkeys(reason_class(reason) for reason in r["reasons"]))  # rows per reason
    errors = Counter(e for r in valid for e in r["error_types"] if e)
    seeds = {r["seed_id"]: r["p_hat_clean"] for r in rows}
    return {
        "queries": len(rows),
        "validity_rate": len(valid) / len(rows),
        "fc_accuracy_clean": sum(seeds.values()) / len(seeds),
        "fc_accuracy_adversarial": sum(r["p_hat"] for r in valid) / len(valid) if valid else None,
        "truncation_rate": sum(TRUNCATED in r["reasons"] for r in rows) / len(rows),
        "attack_success": sum(1 - r["p_hat"] for r in solved) / len(solved) if solved else 0.0,
        "attack_success_at_level": sum(1 - r["p_hat"] for r in at_level) / len(at_level) if at_level else 0.0,
        "attack_success_all": sum(1 - r["p_hat"] for r in valid) / len(valid) if valid else 0.0,
        "rejections": dict(reasons.most_common()),
        "error_types": dict(errors.most_common()),
    }

"""The adversarial buffer: every generated query, valid or not, appended once and never rewritten.

One JSON line per query with its round, seed, tactic, level, validity, p-hat and the FC model's
error types. A seed's queries are appended in one fsync'd write, so after a kill the buffer holds
whole seeds; resuming trims it to the checkpoint's offset or skips seeds already written.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .data import Example
from .io import append_jsonl, read_jsonl, repair_jsonl


class AdversarialBuffer:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def rows(self) -> list[dict]:
        return read_jsonl(self.path) if self.path.exists() else []

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as f:
            return sum(1 for line in f if line.strip())

    def append(self, rows: list[dict]) -> int:
        return append_jsonl(self.path, rows)

    def repair(self, keep: int | None = None) -> int:
        """Drop a torn last line, and with `keep` everything after that many rows."""
        return repair_jsonl(self.path, keep)

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
    solved = [r for r in valid if r["p_hat_clean"] >= 0.5]
    reasons = Counter(reason.split(" (")[0] for r in rows for reason in r["reasons"])
    errors = Counter(e for r in valid for e in r["error_types"] if e)
    seeds = {r["seed_id"]: r["p_hat_clean"] for r in rows}
    return {
        "queries": len(rows),
        "validity_rate": len(valid) / len(rows),
        "fc_accuracy_clean": sum(seeds.values()) / len(seeds),
        "fc_accuracy_adversarial": sum(r["p_hat"] for r in valid) / len(valid) if valid else None,
        "attack_success": sum(1 - r["p_hat"] for r in solved) / len(solved) if solved else 0.0,
        "attack_success_all": sum(1 - r["p_hat"] for r in valid) / len(valid) if valid else 0.0,
        "rejections": dict(reasons.most_common()),
        "error_types": dict(errors.most_common()),
    }

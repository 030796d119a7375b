"""Score BFCL result files (`{"id", "result"}` lines, as BFCL's generator writes them) with advfc's
checker: BFCL's verdicts without installing or running the official evaluator."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from .checker import check
from .data import check_category, load_bfcl
from .errors import InputError


def score_results(category: str, records: Iterable[tuple[int, dict]], *, path: str | Path | None = None) -> list[dict]:
    """`{"id", "valid", "error_type"}` per result, in input order. `records` yields (line, record)
    as `iter_jsonl` does, so every bad record is an InputError naming its file and line."""
    examples = {e.id: e for e in load_bfcl(check_category(category))}
    first_line: dict[str, int] = {}
    verdicts = []
    for line, rec in records:
        if not isinstance(rec, dict) or "id" not in rec:
            raise InputError('expected an object with "id" and "result"', path=path, where=line)
        rid = rec["id"]
        if not isinstance(rid, str) or rid not in examples:
            raise InputError(f"id {rid!r} is not in BFCL category {category}", path=path, where=line)
        if "result" not in rec:
            raise InputError(f'missing "result" for id {rid}', path=path, where=line)
        if rid in first_line:
            raise InputError(f"duplicate id {rid} (first on line {first_line[rid]})", path=path, where=line)
        first_line[rid] = line
        verdict = check(rec["result"], examples[rid])
        verdicts.append({"id": rid, "valid": verdict.correct, "error_type": verdict.error_type})
    if not verdicts:
        raise InputError("no results", path=path)
    return verdicts


def error_histogram(verdicts: list[dict]) -> Counter:
    return Counter(v["error_type"] for v in verdicts if not v["valid"])

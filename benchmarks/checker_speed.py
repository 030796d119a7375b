"""advfc's BFCL scorer against the official pipeline: cases per second on the golden cases, and
import time in fresh interpreters. Run with the oracle interpreter (`make bench-checker`), which has
bfcl-eval installed; advfc is imported from src/. Without bfcl-eval only advfc is measured.

    .oracle-venv/bin/python benchmarks/checker_speed.py
"""

from __future__ import annotations

import argparse
import gzip
import os
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from advfc.checker import check  # noqa: E402
from advfc.data import CATEGORIES, load_bfcl  # noqa: E402

IMPORTS = {
    "advfc": "import advfc.checker",
    "official": "import bfcl_eval.eval_checker.ast_eval.ast_checker, bfcl_eval.model_handler.utils",
}


def import_seconds(statement: str, repeat: int) -> float:
    """Best of `repeat` fresh interpreters: time to run the import statement (startup excluded)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return min(
        float(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout)
        for _ in range(repeat)
    )


def load_cases(categories) -> list[tuple[str, str, str]]:
    cases = []
    for category in categories:
        data = gzip.decompress((ROOT / "tests" / "golden" / f"{category}.jsonl.gz").read_bytes())
        cases += [(category, r["id"], r["raw"]) for r in map(json.loads, data.splitlines())]
    return cases


def advfc_scorer(cases):
    examples = {e.id: e for c in dict.fromkeys(c for c, _, _ in cases) for e in load_bfcl(c)}
    return lambda case: check(case[2], examples[case[1]])


def official_scorer(cases):
    """decode + format check + ast_checker (or the relevance rule): eval_runner's per-entry code."""
    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker.eval_runner import _evaluate_single_ast_entry, _evaluate_single_relevance_entry
    from bfcl_eval.model_handler.utils import default_decode_ast_prompting
    from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry

    class Handler:
        def decode_ast(self, result, language=ReturnFormat.PYTHON, has_tool_call_tag=False):
            return default_decode_ast_prompting(result, language, has_tool_call_tag)

    handler, model = Handler(), "Qwen_Qwen3-0.6B"
    entries, truth = {}, {}
    for category in dict.fromkeys(c for c, _, _ in cases):
        prompts = load_dataset_entry(category, include_prereq=False, include_language_specific_hint=False)
        entries.update({e["id"]: e for e in prompts})
        if "relevance" not in category:
            truth.update({e["id"]: e["ground_truth"] for e in load_ground_truth_entry(category)})

    def score(case):
        category, i, raw = case
        try:
            if "relevance" in category:
                return _evaluate_single_relevance_entry(handler, i, raw, entries[i], model, category)
            return _evaluate_single_ast_entry(
                handler, i, raw, truth[i], entries[i], model, category,
                language=Language.PYTHON, return_format=ReturnFormat.PYTHON,
            )
        except Exception:
            return None  # the official run would abort here; advfc returns checker_error

    return score


def timed(scorers: list, cases, chunk: int = 2000) -> list[float]:
    """Seconds per scorer, alternating scorers chunk by chunk so load from other jobs hits both alike."""
    totals = [0.0] * len(scorers)
    for start in range(0, len(cases), chunk):
        part = cases[start : start + chunk]
        for k, score in enumerate(scorers):
            t = time.perf_counter()
            for case in part:
                score(case)
            totals[k] += time.perf_counter() - t
    return totals


def official_available() -> bool:
    try:
        import bfcl_eval.eval_checker.eval_runner  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--categories", default=",".join(CATEGORIES))
    ap.add_argument("--import-repeat", type=int, default=5)
    args = ap.parse_args()
    cases = load_cases(args.categories.split(","))
    official = official_available()
    print(f"python {platform.python_version()}, {len(cases)} golden cases, official package: {official}")
    scorers = {"advfc": advfc_scorer, **({"official": official_scorer} if official else {})}
    seconds = timed([make(cases) for make in scorers.values()], cases)
    rows = [(name, t, import_seconds(IMPORTS[name], args.import_repeat)) for name, t in zip(scorers, seconds)]
    print(f"{'scorer':<10}{'cases/s':>12}{'us/case':>10}{'import s':>10}")
    for name, t, imp in rows:
        print(f"{name:<10}{len(cases) / t:>12,.0f}{1e6 * t / len(cases):>10.1f}{imp:>10.3f}")
    if official:
        (_, ours, our_import), (_, theirs, their_import) = rows
        print(f"advfc / official: {theirs / ours:.2f}x the throughput, import {their_import / our_import:.0f}x faster")


if __name__ == "__main__":
    main()

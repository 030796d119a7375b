"""The guard on hand-labelled rewrites: false-accept and false-reject rates, overall and per class
(each class is one failure mode or one legal spelling; see tests/data/README.md).

    .venv/bin/python benchmarks/validity_guard.py [--labels tests/data/guard_labelled.jsonl] [--judge-model M]
    .venv/bin/python benchmarks/validity_guard.py --show CLASS   # the rows of one class and the guard's reasons

Rules alone by default; `--judge-model` adds the reference-model judge (a folder, hub id or
endpoint; Qwen3-style models are asked with thinking off). Also prints the rules' throughput.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from advfc.validity import (  # noqa: E402
    ValidityRules,
    build_judge,
    check_rewrite,
    read_rewrites,
    resolve_seeds,
    validate_rewrites,
)

LABELS = ROOT / "tests" / "data" / "guard_labelled.jsonl"


def pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--judge-model", default=None)
    ap.add_argument("--show", default=None, help="Print the rows of this class with the guard's reasons.")
    args = ap.parse_args()

    rows = read_rewrites(args.labels)
    seeds = resolve_seeds(rows, args.labels)
    judge = build_judge(args.judge_model) if args.judge_model else None
    t = time.perf_counter()
    results, summary = validate_rewrites(rows, seeds, ValidityRules(), judge)
    seconds = time.perf_counter() - t
    labelled = summary["labelled"]

    print(f"guard on {args.labels.relative_to(ROOT) if args.labels.is_relative_to(ROOT) else args.labels}: "
          f"{len(rows)} labelled rewrites, {len({r.seed_id for r in rows})} seeds, "
          f"{len({seeds[r.seed_id].category for r in rows})} categories; judge: {args.judge_model or 'off'}")
    print(f"{'class':<24} {'label':<8} {'rows':>5} {'wrong':>6} {'rate':>7}")
    for kind, c in sorted(labelled["per_class"].items(), key=lambda kv: (kv[1]["label"], kv[0])):
        what = "accepted" if c["label"] == "invalid" else "rejected"
        print(f"{kind:<24} {c['label']:<8} {c['rows']:>5} {c['errors']:>6} {pct(c['rate'])}  ({what})")
    fa, fr = labelled["false_accept"], labelled["false_reject"]
    print(f"false accepts: {pct(fa['rate'])} ({fa['errors']}/{fa['rows']} invalid rewrites passed)")
    print(f"false rejects: {pct(fr['rate'])} ({fr['errors']}/{fr['rows']} valid rewrites refused)")
    if judge is None:
        t = time.perf_counter()
        repeats = 5
        for _ in range(repeats):
            for r in rows:
                check_rewrite(r.rewrite, seeds[r.seed_id], truncated=r.truncated)
        rules_seconds = (time.perf_counter() - t) / repeats
        print(f"rules: {len(rows) / rules_seconds:,.0f} rewrites/s on {platform.processor() or platform.machine()} "
              f"(one process; whole validate pass {seconds:.2f} s)")
    if args.show:
        for r, out in zip(rows, results):
            if r.kind == args.show:
                print(f"\n[{r.label} -> {'valid' if out['valid'] else 'invalid'}] {r.seed_id}: {r.rewrite}")
                for reason in out["reasons"]:
                    print(f"    - {reason}")


if __name__ == "__main__":
    main()

"""Tables and plots from run folders: a run's before/after table (`report.md`, printed at the end
of `advfc train`) and `advfc report RUN ...` comparing runs, e.g. advfc against its baselines."""

from __future__ import annotations

import json
from pathlib import Path

from .data import AST_LIVE, AST_NON_LIVE, LIVE, NON_LIVE
from .errors import InputError
from .io import atomic_write_text, read_jsonl

SUMMARY_ROWS = ("non_live_ast", "live_ast", "irrelevance", "live_irrelevance")
AST = AST_NON_LIVE + AST_LIVE


def eval_stages(run_dir: Path) -> dict[str, dict]:
    """Evaluated stages of a run in order: base, warm_start, round_1, round_2, ..."""
    found = {}
    for path in (run_dir / "eval").glob("*/scores.json"):
        scores = json.loads(path.read_text())
        robust = path.parent / "robustness" / "robustness.json"
        if robust.exists():
            scores["robustness"] = json.loads(robust.read_text())
        found[path.parent.name] = scores

    def order(name: str):
        return (0, 0) if name == "base" else (1, 0) if name == "warm_start" else (2, int(name.split("_")[-1]))

    return {k: found[k] for k in sorted(found, key=order)}


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def table(columns: dict[str, dict]) -> str:
    """Markdown: one column per evaluated stage/run, accuracy (%) per category and summary."""
    categories = [c for c in NON_LIVE + LIVE if any(c in s.get("categories", {}) for s in columns.values())]
    lines = ["| accuracy (%) | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for c in categories:
        cells = [_pct(s.get("categories", {}).get(c, {}).get("accuracy")) for s in columns.values()]
        n = next((s["categories"][c]["total"] for s in columns.values() if c in s.get("categories", {})), 0)
        lines.append(f"| {c} (n={n}) | " + " | ".join(cells) + " |")
    parseable = []
    for s in columns.values():
        ast = [v["parseable_calls"] for c, v in s.get("categories", {}).items() if c in AST and "parseable_calls" in v]
        parseable.append(sum(ast) / len(ast) if ast else None)
    if any(p is not None for p in parseable):
        lines.append("| parseable calls, AST categories | " + " | ".join(_pct(p) for p in parseable) + " |")
    for key in SUMMARY_ROWS:
        cells = [_pct(s.get("summary", {}).get(key)) for s in columns.values()]
        if any(cell != "–" for cell in cells):
            lines.append(f"| **{key}** | " + " | ".join(cells) + " |")
    if any("robustness" in s for s in columns.values()):
        for key in ("clean", "perturbed"):
            cells = [_pct(s.get("robustness", {}).get(key)) for s in columns.values()]
            lines.append(f"| robustness set, {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def round_table(metrics: list[dict]) -> str:
    keys = [
        ("level", "level"), ("harvest/validity_rate", "validity"), ("harvest/fc_accuracy_clean", "F clean"),
        ("harvest/fc_accuracy_adversarial", "F adversarial"), ("harvest/attack_success", "attack success"),
        ("q_reward_mean", "Q reward"), ("f_reward_mean", "F reward"),
    ]
    lines = ["| round | " + " | ".join(k[1] for k in keys) + " |", "|---:|" + "---:|" * len(keys)]
    for m in metrics:
        cells = []
        for key, _ in keys:
            v = m.get(key)
            cells.append(str(v) if key == "level" else (_pct(v) if key.startswith("harvest") else ("–" if v is None else f"{v:.3f}")))
        lines.append(f"| {m['round']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_rounds(metrics: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [m["round"] for m in metrics]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in (("harvest/fc_accuracy_clean", "F on clean"), ("harvest/fc_accuracy_adversarial", "F on adversarial"),
                       ("harvest/validity_rate", "validity rate"), ("harvest/attack_success", "attack success")):
        ys = [m.get(key) for m in metrics]
        if any(y is not None for y in ys):
            ax.plot(rounds, [float("nan") if y is None else y for y in ys], marker="o", label=label)
    ax.set_xlabel("round")
    ax.set_ylim(0, 1)
    ax.set_xticks(rounds)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def write_run_report(run_dir: Path) -> str:
    stages = eval_stages(run_dir)
    metrics = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    parts = [f"# advfc run `{run_dir}`", "", "## Held-out BFCL accuracy by stage", "", table(stages)]
    if metrics:
        parts += ["## Rounds", "", round_table(metrics), "![rounds](rounds.png)", ""]
        plot_rounds(metrics, run_dir / "rounds.png")
    text = "\n".join(parts)
    atomic_write_text(run_dir / "report.md", text)
    return text


def compare_runs(run_dirs: list[Path]) -> str:
    """The last evaluated stage of each run side by side (e.g. advfc vs B1/B2/B3)."""
    columns = {}
    for run_dir in run_dirs:
        stages = eval_stages(run_dir)
        if not stages:
            raise InputError("no evaluation results in this run folder", path=run_dir)
        last = list(stages)[-1]
        columns[f"{run_dir.name} ({last})"] = stages[last]
    return table(columns)

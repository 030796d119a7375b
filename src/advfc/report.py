"""Tables and plots from run folders: a run's before/after table (`report.md`, printed at the end
of `advfc train`) and `advfc report RUN ...` comparing runs, e.g. advfc against its baselines.

Only run folders are read (or written: `report.md`, `rounds.png`), and every file read is checked
for the fields the tables use, so a damaged `scores.json` is an InputError naming it."""

from __future__ import annotations

import io
import re
from pathlib import Path

from .data import AST_LIVE, AST_NON_LIVE, LIVE, NON_LIVE
from .errors import InputError
from .io import atomic_write_bytes, atomic_write_text, iter_jsonl, read_json
from .runlog import check_run_dir

SUMMARY_ROWS = ("non_live_ast", "live_ast", "irrelevance", "live_irrelevance")
AST = AST_NON_LIVE + AST_LIVE


STAGE = re.compile(r"^(base|warm_start|round_(\d{1,9}))$")
ROUND_KEYS = (
    ("level", "level"), ("harvest/validity_rate", "validity"), ("harvest/fc_accuracy_clean", "F clean"),
    ("harvest/fc_accuracy_adversarial", "F adversarial"), ("harvest/attack_success", "attack success"),
    ("q_reward_mean", "Q reward"), ("f_reward_mean", "F reward"),
)


def eval_stages(run_dir: Path) -> dict[str, dict]:
    """Evaluated stages of a run in order: base, warm_start, round_1, round_2, ..."""
    found = {}
    for path in (run_dir / "eval").glob("*/scores.json"):
        if not STAGE.match(path.parent.name):
            raise InputError("not an evaluation stage of a run (expected base, warm_start or round_N)", path=path.parent)
        scores = _checked(read_json(path), _scores_problem, path)
        robust = path.parent / "robustness" / "robustness.json"
        if robust.exists():
            scores["robustness"] = _checked(read_json(robust), lambda r: _numbers_problem(r, ("clean", "perturbed")), robust)
        found[path.parent.name] = scores

    def order(name: str):
        m = STAGE.match(name)
        return (0, 0) if name == "base" else (1, 0) if name == "warm_start" else (2, int(m.group(2)))

    return {k: found[k] for k in sorted(found, key=order)}


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for lineno, row in iter_jsonl(path):
        problem = "expected a JSON object" if not isinstance(row, dict) else (
            "'round' must be an integer" if type(row.get("round")) is not int else _numbers_problem(row, [k for k, _ in ROUND_KEYS])
        )
        if problem:
            raise InputError(f"not a metrics row: {problem}", path=path, where=lineno)
        rows.append(row)
    return rows


def _checked(value, problem, path: Path):
    message = problem(value) if isinstance(value, dict) else "expected a JSON object"
    if message:
        raise InputError(message, path=path)
    return value


def _numbers_problem(d: dict, keys) -> str | None:
    for key in keys:
        v = d.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            return f"{key!r} must be a number, got {type(v).__name__}"
    return None


def _scores_problem(scores: dict) -> str | None:
    categories, summary = scores.get("categories", {}), scores.get("summary", {})
    if not isinstance(categories, dict) or not isinstance(summary, dict):
        return "'categories' and 'summary' must be objects"
    for name, c in categories.items():
        if not isinstance(c, dict) or type(c.get("total")) is not int:
            return f"categories.{name} needs an integer 'total'"
        problem = _numbers_problem(c, ("accuracy", "parseable_calls"))
        if problem:
            return f"categories.{name}: {problem}"
    return _numbers_problem(summary, SUMMARY_ROWS)


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
    lines = ["| round | " + " | ".join(k[1] for k in ROUND_KEYS) + " |", "|---:|" + "---:|" * len(ROUND_KEYS)]
    for m in metrics:
        cells = []
        for key, _ in ROUND_KEYS:
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
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, png.getvalue())


def write_run_report(run_dir: Path) -> str:
    check_run_dir(run_dir)
    stages = eval_stages(run_dir)
    metrics = read_metrics(run_dir)
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
        stages = eval_stages(check_run_dir(run_dir))
        if not stages:
            raise InputError("no evaluation results in this run folder", path=run_dir)
        last = list(stages)[-1]
        columns[f"{run_dir.name} ({last})"] = stages[last]
    return table(columns)

"""The weakness report of a run folder (`report.md` + a self-contained `report.html` with its
plots, written at the end of `advfc train` and by `advfc report RUN`), and `advfc report RUN ...`
comparing runs, e.g. advfc against its baselines.

Only run folders are read (or written: `report.*`, `rounds.png`, `report_*.png`), and every file
read is checked for the fields the report uses, so a damaged `scores.json` is an InputError naming
it. A report is a list of `Section`s rendered twice: Markdown and HTML."""

from __future__ import annotations

import base64
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from .buffer import AdversarialBuffer
from .data import AST_LIVE, AST_NON_LIVE, BFCL_VERSION_PREFIX, LIVE, NON_LIVE, Example, is_irrelevance, is_relevance
from .errors import InputError
from .evaluation import result_path
from .io import atomic_write_bytes, atomic_write_text, iter_jsonl, read_json
from .prompts import gold_call_text
from .rewards import looks_like_call
from .runlog import check_run_dir
from .validity import reason_class

SUMMARY_ROWS = ("non_live_ast", "live_ast", "irrelevance", "live_irrelevance")
AST = AST_NON_LIVE + AST_LIVE


STAGE = re.compile(r"^(base|warm_start|round_(\d{1,9}))$")
ROUND_KEYS = (
    ("level", "level"), ("harvest/validity_rate", "validity"), ("harvest/truncation_rate", "truncated"),
    ("harvest/fc_accuracy_clean", "F clean"), ("harvest/fc_accuracy_adversarial", "F adversarial"),
    ("harvest/attack_success", "attack success"), ("harvest/attack_success_at_level", "at level"),
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


# ----------------------------------------------------------------------------- a report as data


@dataclass
class Section:
    """One part of a report, rendered both as Markdown and as HTML: a paragraph, a table, a figure."""

    title: str
    text: str = ""
    header: list[str] | None = None
    rows: list[list[str]] = field(default_factory=list)
    figure: str | None = None  # a PNG's file name in the report's folder


def render_markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}", ""]
    for s in sections:
        parts += [f"## {s.title}", ""]
        if s.text:
            parts += [s.text, ""]
        if s.header:
            parts.append(_md_table(s.header, s.rows))
        if s.figure:
            parts += [f"![{s.title}]({s.figure})", ""]
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["---:" if all(_numeric(r[i]) for r in rows) else "---" for i in range(1, len(header))]
    lines = ["| " + " | ".join(map(_md_cell, header)) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _numeric(cell: str) -> bool:
    return bool(re.fullmatch(r"[-–+]?[\d.,]*%?|–", str(cell).strip()))


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.3em .6em;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;white-space:nowrap}td{max-width:420px;overflow-wrap:anywhere}
img{max-width:100%;border:1px solid #eee}p{line-height:1.45}code{background:#f4f4f4;padding:0 .2em}"""


def _html_cell(text) -> str:
    """Escaped, with the Markdown bold of summary rows (`**x**`) as <b>."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escape(str(text)))


def render_html(title: str, sections: list[Section], images: dict[str, bytes]) -> str:
    """One self-contained page: styles inline, every figure embedded as a data URI."""
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{escape(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{escape(title)}</h1>"]
    for s in sections:
        parts.append(f"<h2>{escape(s.title)}</h2>")
        if s.text:
            parts.append(f"<p>{escape(s.text)}</p>")
        if s.header:
            parts.append("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in s.header) + "</tr>")
            for r in s.rows:
                cells = "".join(f'<td class="num">{escape(str(c))}</td>' if i and _numeric(c) else f"<td>{_html_cell(c)}</td>"
                                for i, c in enumerate(r))
                parts.append(f"<tr>{cells}</tr>")
            parts.append("</table>")
        if s.figure and s.figure in images:
            data = base64.b64encode(images[s.figure]).decode()
            parts.append(f'<img alt="{escape(s.title)}" src="data:image/png;base64,{data}">')
    parts.append("</body></html>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- held-out accuracy


def accuracy_rows(columns: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """One column per evaluated stage/run, accuracy (%) per category, parseable calls, summaries."""
    categories = [c for c in NON_LIVE + LIVE if any(c in s.get("categories", {}) for s in columns.values())]
    rows = []
    for c in categories:
        cells = [_pct(s.get("categories", {}).get(c, {}).get("accuracy")) for s in columns.values()]
        n = next((s["categories"][c]["total"] for s in columns.values() if c in s.get("categories", {})), 0)
        rows.append([f"{c} (n={n})", *cells])
    parseable = []
    for s in columns.values():
        ast = [v["parseable_calls"] for c, v in s.get("categories", {}).items() if c in AST and "parseable_calls" in v]
        parseable.append(sum(ast) / len(ast) if ast else None)
    if any(p is not None for p in parseable):
        rows.append(["parseable calls, AST categories", *map(_pct, parseable)])
    for key in SUMMARY_ROWS:
        cells = [_pct(s.get("summary", {}).get(key)) for s in columns.values()]
        if any(cell != "–" for cell in cells):
            rows.append([f"**{key}**", *cells])
    if any("robustness" in s for s in columns.values()):
        for key in ("clean", "perturbed"):
            rows.append([f"robustness set, {key}", *(_pct(s.get("robustness", {}).get(key)) for s in columns.values())])
    return ["accuracy (%)", *columns], rows


def table(columns: dict[str, dict]) -> str:
    """Markdown: one column per evaluated stage/run, accuracy (%) per category and summary."""
    return _md_table(*accuracy_rows(columns))


def round_rows(metrics: list[dict]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for m in metrics:
        cells = []
        for key, _ in ROUND_KEYS:
            v = m.get(key)
            cells.append(str(v) if key == "level" else (_pct(v) if key.startswith("harvest") else ("–" if v is None else f"{v:.3f}")))
        rows.append([str(m["round"]), *cells])
    return ["round", *(label for _, label in ROUND_KEYS)], rows


def round_table(metrics: list[dict]) -> str:
    return _md_table(*round_rows(metrics))


# ----------------------------------------------------------------------------- what broke F, and what the guard refused

# BFCL error types grouped the way a reader asks about them.
ERROR_CLASSES = ("wrong function", "missing/extra parameter", "wrong value", "wrong type", "wrong count",
                 "format/decoding", "false call on irrelevance", "false abstention", "other")


def error_class(error_type: str | None, category: str, raw: str | None) -> str | None:
    """The taxonomy class of one failed BFCL verdict (None for a correct one)."""
    if error_type is None:
        return None
    if is_irrelevance(category) or error_type.startswith("irrelevance_error"):
        return "false call on irrelevance"
    if is_relevance(category) or error_type.startswith("relevance_error"):
        return "false abstention"
    if error_type.startswith("ast_decoder"):
        return "format/decoding" if looks_like_call(raw) else "false abstention"
    for needle, name in (("wrong_func_name", "wrong function"), ("wrong_count", "wrong count"),
                         ("missing_required", "missing/extra parameter"), ("unexpected_param", "missing/extra parameter"),
                         ("missing_optional", "missing/extra parameter"), ("type_error", "wrong type"),
                         ("value_error", "wrong value"), ("cannot_find_match", "wrong value")):
        if needle in error_type:
            return name
    return "other"


def stage_errors(stage_dir: Path) -> Counter:
    """Error classes of one evaluated stage, from its BFCL score and result files."""
    counts: Counter = Counter()
    for score in sorted((stage_dir / "score").glob("*_score.jsonl")):
        category = score.name.removeprefix(f"{BFCL_VERSION_PREFIX}_").removesuffix("_score.jsonl")
        results = result_path(stage_dir, category)
        raws = {}
        if results.exists():
            for _, r in iter_jsonl(results):
                if isinstance(r, dict) and isinstance(r.get("id"), str):
                    raws[r["id"]] = r.get("result") if isinstance(r.get("result"), str) else None
        for lineno, v in iter_jsonl(score):
            if not isinstance(v, dict) or not isinstance(v.get("valid"), bool):
                raise InputError("not a verdict row (expected 'valid': true/false)", path=score, where=lineno)
            if not v["valid"]:
                counts[error_class(v.get("error_type") or "other", category, raws.get(v.get("id")))] += 1
    return counts


def tactic_rows(rows: list[dict]) -> list[tuple[str, int, float]]:
    """(tactic, valid rewrites of seeds F solved clean, mean failure rate), most damaging first."""
    by_tactic: dict[str, list[float]] = {}
    for r in rows:
        if r["status"] == "valid" and r["p_hat"] is not None and (r["p_hat_clean"] or 0) >= 0.5:
            by_tactic.setdefault(r["tactic"], []).append(1 - r["p_hat"])
    stats = [(t, len(v), sum(v) / len(v)) for t, v in by_tactic.items()]
    return sorted(stats, key=lambda s: (-s[2], -s[1], s[0]))


def _seed(row: dict) -> Example:
    return Example.from_dict(row["seed"])


def broken_examples(rows: list[dict], tactics: list[str], per_tactic: int = 2) -> list[list[str]]:
    """Side by side, for the most damaging tactics: the original, the rewrite, F's wrong answer, the gold call."""
    out = []
    for tactic in tactics:
        broke = {(r["seed_id"], r["query"]): r for r in rows if r["tactic"] == tactic and r["status"] == "valid"
                 and r["p_hat"] is not None and r["p_hat"] < 1 and (r["p_hat_clean"] or 0) >= 0.5}
        picked = list(broke.values())[:per_tactic]
        for r in picked:
            answers = r.get("fc_answers") or []
            wrong = next((a for a, ok in zip(answers, r["verdicts"]) if not ok), "(not recorded)")
            seed = _seed(r)
            out.append([tactic, seed.query[:300], (r["query"] or "")[:300], wrong[:300], gold_call_text(seed)[:300]])
    return out


def rejection_rows(rows: list[dict], per_reason: int = 2) -> tuple[list[list[str]], list[list[str]]]:
    """How many rewrites each reason refused (a rewrite may have several), and examples of each."""
    refused = [r for r in rows if r["status"] != "valid"]
    counts = Counter(c for r in refused for c in dict.fromkeys(reason_class(x) for x in r["reasons"]))
    table_rows = [[reason, str(n), f"{100 * n / len(rows):.1f}%"] for reason, n in counts.most_common()]
    examples, shown_ids = [], set()
    for reason, _ in counts.most_common():
        matching = [r for r in refused if any(reason_class(x) == reason for x in r["reasons"])]
        # Rewrites not shown under an earlier reason first: each example should teach something.
        unique = list({(r["seed_id"], r["query"], r.get("raw")): r for r in matching}.values())
        for r in sorted(unique, key=lambda r: r["id"] in shown_ids)[:per_reason]:
            shown_ids.add(r["id"])
            shown = r["query"] if r["query"] is not None else (r.get("raw") or "")
            detail = next(x for x in r["reasons"] if reason_class(x) == reason)
            examples.append([reason, _seed(r).query[:300], shown[:300], detail[:200]])
    return table_rows, examples


# ----------------------------------------------------------------------------- figures


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig, plt) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def accuracy_figure(stages: dict[str, dict]) -> bytes:
    plt = _figure()
    names = list(stages)
    categories = [c for c in NON_LIVE + LIVE if any(c in s.get("categories", {}) for s in stages.values())]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for c in categories:
        ys = [s.get("categories", {}).get(c, {}).get("accuracy") for s in stages.values()]
        ax.plot(names, [float("nan") if y is None else 100 * y for y in ys], marker="o", label=c)
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=7, ncol=2)
    return _png(fig, plt)


def rounds_figure(metrics: list[dict]) -> bytes:
    plt = _figure()
    rounds = [m["round"] for m in metrics]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for key, label in (("harvest/attack_success", "attack success"), ("harvest/validity_rate", "validity rate"),
                       ("harvest/truncation_rate", "truncation rate"), ("harvest/fc_accuracy_clean", "F on clean"),
                       ("harvest/fc_accuracy_adversarial", "F on adversarial")):
        ys = [m.get(key) for m in metrics]
        if any(y is not None for y in ys):
            ax.plot(rounds, [float("nan") if y is None else y for y in ys], marker="o", label=label)
    ax.set_xlabel("round")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xticks(rounds)
    level = ax.twinx()
    level.plot(rounds, [m.get("level") for m in metrics], color="grey", linestyle="--", marker="s", label="curriculum level")
    level.set_ylim(0.5, 3.5)
    level.set_yticks([1, 2, 3])
    level.set_ylabel("level")
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = level.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, fontsize=7, loc="upper left")
    return _png(fig, plt)


def errors_figure(before: tuple[str, Counter], after: tuple[str, Counter]) -> bytes:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ys = range(len(ERROR_CLASSES))
    for offset, (name, counts) in ((-0.2, before), (0.2, after)):
        ax.barh([y + offset for y in ys], [counts.get(c, 0) for c in ERROR_CLASSES], height=0.4, label=name)
    ax.set_yticks(list(ys))
    ax.set_yticklabels(ERROR_CLASSES, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("held-out items failed")
    ax.legend(fontsize=8)
    return _png(fig, plt)


def tactics_figure(stats: list[tuple[str, int, float]]) -> bytes:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.35 * max(len(stats), 1)))
    ax.barh([f"{t} (n={n})" for t, n, _ in stats], [100 * s for _, _, s in stats], color="#c0504d")
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("F's failure rate on valid rewrites of seeds it solves (%)")
    return _png(fig, plt)


# ----------------------------------------------------------------------------- the reports


def weakness_sections(rows: list[dict], images: dict[str, bytes]) -> list[Section]:
    """What breaks the model (tactics, with examples) and what the guard refused (with examples)."""
    sections = []
    stats = tactic_rows(rows)
    if stats:
        images["report_tactics.png"] = tactics_figure(stats)
        sections.append(Section(
            "Tactics that break the model most",
            "Mean failure rate 1 − p̂ of F on valid rewrites of seeds it answers correctly on the clean query.",
            ["tactic", "rewrites", "F fails (%)"], [[t, str(n), _pct(s)] for t, n, s in stats], "report_tactics.png"))
        examples = broken_examples(rows, [t for t, _, _ in stats[:4]])
        if examples:
            sections.append(Section("Examples: what broke it", "", ["tactic", "original query", "adversarial query",
                                                                    "F's wrong answer", "gold call"], examples))
    counts, examples = rejection_rows(rows)
    if counts:
        sections.append(Section(
            "Rewrites the guard rejected",
            f"{sum(r['status'] != 'valid' for r in rows)} of {len(rows)} rewrites were refused; a rewrite may "
            "break several rules. Judge the guard by its examples.",
            ["reason", "rewrites", "share of all"], counts))
        sections.append(Section("Examples of rejected rewrites", "", ["reason", "original query", "rewrite", "why"], examples))
    return sections


def write_report(folder: Path, title: str, sections: list[Section], images: dict[str, bytes]) -> str:
    """`report.md` (figures beside it) and a self-contained `report.html`, written atomically."""
    for name, data in images.items():
        atomic_write_bytes(folder / name, data)
    text = render_markdown(title, sections)
    atomic_write_text(folder / "report.md", text)
    atomic_write_text(folder / "report.html", render_html(title, sections, images))
    return text


def write_run_report(run_dir: Path) -> str:
    """A run's report: held-out accuracy by stage, rounds, error taxonomy before vs after, the
    tactics that broke F with examples, and the rewrites the guard refused with examples. Only
    a run folder is read, and only `report.*`, `rounds.png` and `report_*.png` are written."""
    check_run_dir(run_dir)
    stages = eval_stages(run_dir)
    metrics = read_metrics(run_dir)
    images: dict[str, bytes] = {}
    sections = [Section("Held-out BFCL accuracy by stage", "", *accuracy_rows(stages))] if stages else []
    if len(stages) > 1:
        images["report_accuracy.png"] = accuracy_figure(stages)
        sections[0].figure = "report_accuracy.png"
    if metrics:
        images["rounds.png"] = rounds_figure(metrics)
        sections.append(Section("Rounds", "Attack success, validity and truncation rate of each round's harvest, "
                                "and the curriculum level.", *round_rows(metrics), figure="rounds.png"))
    named = [n for n in ("warm_start", "base") if n in stages]
    if stages:
        first, last = (named[0] if named else next(iter(stages))), list(stages)[-1]
        before, after = stage_errors(run_dir / "eval" / first), stage_errors(run_dir / "eval" / last)
        images["report_errors.png"] = errors_figure((first, before), (last, after))
        sections.append(Section(f"Error taxonomy: {first} vs {last}", "Failed held-out items by kind (from BFCL's error types).",
                                ["error", first, last], [[c, str(before.get(c, 0)), str(after.get(c, 0))] for c in ERROR_CLASSES],
                                "report_errors.png"))
    buffer = run_dir / "buffer.jsonl"
    if buffer.exists():
        sections += weakness_sections(AdversarialBuffer(buffer).rows(), images)
    return write_report(run_dir, f"advfc run {run_dir}", sections, images)


def write_attack_report(out: Path, summary: dict, rows: list[dict]) -> str:
    """The weakness report of `advfc attack`: how often the target broke, on what kinds of error,
    under which tactics (with examples), and what the guard refused."""
    images: dict[str, bytes] = {}
    failed: Counter = Counter()
    for r in rows:
        if r["status"] == "valid":
            category = r["seed"]["category"]
            for ok, error, raw in zip(r["verdicts"], r["error_types"], r.get("fc_answers") or [None] * len(r["verdicts"])):
                if not ok:
                    failed[error_class(error or "other", category, raw)] += 1
    overview = [["target", str(summary["target"])], ["attacker", str(summary["attacker"])],
                ["seeds", str(summary["seeds"])], ["rewrites", str(summary["queries"])],
                ["valid rewrites (%)", _pct(summary.get("validity_rate"))],
                ["target on the clean queries (%)", _pct(summary.get("fc_accuracy_clean"))],
                ["target on the valid rewrites (%)", _pct(summary.get("fc_accuracy_adversarial"))],
                ["attack success (%)", _pct(summary.get("attack_success"))],
                ["rewrites that broke it (questions.jsonl)", str(summary["broke"])]]
    sections = [Section("Overview", "The adversarial set that broke the target is in questions.jsonl / answers.jsonl "
                        "(BFCL format: `advfc eval --questions questions.jsonl --answers answers.jsonl`) and adversarial.jsonl "
                        "(rows `datasets` loads).", ["", "value"], overview)]
    if failed:
        images["report_errors.png"] = errors_figure(("clean", Counter()), ("adversarial", failed))
        sections.append(Section("The target's errors on valid rewrites", "Failed samples by kind (from BFCL's error types).",
                                ["error", "samples"], [[c, str(failed.get(c, 0))] for c in ERROR_CLASSES], "report_errors.png"))
    sections += weakness_sections(rows, images)
    return write_report(out, f"advfc attack on {summary['target']}", sections, images)


def _difference(d: dict | None) -> str:
    if not d:
        return "–"
    verdict = "within noise" if d["within_noise"] else ("better" if d["diff"] > 0 else "worse")
    return (f"{100 * d['diff']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] {verdict} "
            f"(McNemar p={d['p_mcnemar']:.2g})")


def _seeds(row: dict) -> str:
    seeds = [s for s in row["seeds"] if s is not None]
    return ", ".join(map(str, seeds)) if seeds else "– (greedy, seed-free)"


def experiment_figure(arms: list[dict]) -> bytes:
    """Per arm, averaged over its seeds: F's reward, the harvest's validity and attack success by round."""
    plt = _figure()
    keys = (("f_reward_mean", "F reward"), ("harvest/validity_rate", "validity"), ("harvest/attack_success", "attack success"))
    fig, axes = plt.subplots(1, len(keys), figsize=(10, 3.2))
    for ax, (key, label) in zip(axes, keys):
        for row in arms:
            by_round: dict[int, list[float]] = {}
            for curve in row["rounds"].values():
                for r in curve:
                    if isinstance(r.get(key), (int, float)):
                        by_round.setdefault(r["round"], []).append(r[key])
            if by_round:
                xs = sorted(by_round)
                ax.plot(xs, [sum(by_round[x]) / len(by_round[x]) for x in xs], marker="o", label=row["arm"])
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("round")
    axes[0].legend(fontsize=7)
    return _png(fig, plt)


def experiment_sections(results: dict, images: dict[str, bytes]) -> list[Section]:
    arms = results["arms"]
    categories = [c for c in NON_LIVE + LIVE if any(c in r["categories"] for r in arms)]
    header = ["arm", "as", "seeds", "accuracy", "parseable", *categories, "vs B2 (grpo_clean)", "vs B3 (grpo_random_aug)"]
    rows = [[r["arm"], r["label"], _seeds(r),
             _pct(r["accuracy"]) + (f" ({', '.join(_pct(a) for a in r['accuracy_by_seed'])})" if len(r["accuracy_by_seed"]) > 1 else ""),
             _pct(r["parseable_calls"]), *[_pct(r["categories"].get(c)) for c in categories],
             _difference(r["vs"].get("grpo_clean")), _difference(r["vs"].get("grpo_random_aug"))] for r in arms]
    sections = [Section(
        "Held-out BFCL accuracy by arm",
        "Accuracy (%) on the frozen held-out sample, the mean over seeds (each seed in brackets); parseable = answers "
        "that decode to a call (on irrelevance items: a call was made). Differences are percentage points, the same "
        "items and seeds paired, with a 95 % paired-bootstrap interval; *within noise* where the interval covers 0.",
        header, rows)]
    sets = sorted({name for r in arms for name in r["robustness"]})
    for name in sets:
        kinds = sorted({k for r in arms for k in r["robustness"].get(name, {}).get("by_kind", {})})
        sections.append(Section(
            f"Robustness set: {name}", "Accuracy (%) on a frozen set no arm's query model wrote; call and irrelevance items apart.",
            ["arm", "all", *kinds, "vs B2", "vs B3"],
            [[r["arm"], _pct(e["accuracy"]), *[_pct(e["by_kind"].get(k)) for k in kinds],
              _difference(e.get("vs_grpo_clean")), _difference(e.get("vs_grpo_random_aug"))]
             for r in arms if (e := r["robustness"].get(name))]))
    if any(curve for r in arms for curve in r["rounds"].values()):
        images["experiment_rounds.png"] = experiment_figure(arms)
        sections.append(Section("Training curves", "Per arm, the mean over its seeds.", figure="experiment_rounds.png"))
    sections.append(Section("Provenance", "", ["arm", "commits"], [[r["arm"], ", ".join(r["commits"])] for r in arms]))
    return sections


def write_experiment_report(folder: Path, results: dict) -> str:
    images: dict[str, bytes] = {}
    return write_report(folder, f"advfc experiment {folder}", experiment_sections(results, images), images)


def write_folder_report(folder: Path) -> str:
    """`advfc report FOLDER`: a run folder's report, an attack folder's, or an experiment's (from
    its results.json); nothing else is written to."""
    if (folder / "experiment.yaml").is_file() and (folder / "results.json").is_file():
        results = read_json(folder / "results.json")
        if not isinstance(results, dict) or not isinstance(results.get("arms"), list):
            raise InputError("not the results of `advfc experiment` (expected a list of arms)", path=folder / "results.json")
        return write_experiment_report(folder, results)
    if (folder / "attack.json").is_file() and (folder / "summary.json").is_file():
        summary = read_json(folder / "summary.json")
        needed = ("target", "attacker", "seeds", "queries", "broke")
        if not isinstance(summary, dict) or any(k not in summary for k in needed):
            raise InputError(f"not an attack summary (expected {', '.join(needed)})", path=folder / "summary.json")
        rows = AdversarialBuffer(folder / "rewrites.jsonl").rows()
        return write_attack_report(folder, summary, rows)
    return write_run_report(folder)


def final_tables(run_dir: Path) -> str:
    """What `advfc train` prints at the end: held-out accuracy by stage and the rounds."""
    parts = ["held-out BFCL accuracy by stage", table(eval_stages(run_dir))]
    metrics = read_metrics(run_dir)
    if metrics:
        parts += ["rounds", round_table(metrics)]
    return "\n".join(parts)


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

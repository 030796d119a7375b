"""The `advfc` command line. Side effects live here: reading flags, printing, exit codes.

Any `InputError` becomes one line on stderr and exit code 2; any other exception one line naming
a log file that holds its traceback, and exit code 1. Every output path is checked before a
command does any work (`io.check_output`).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .config import config_command
from .errors import InputError
from .attack import AttackConfig, write_rewrite_set
from .experiment import ExperimentConfig
from .split import SplitConfig
from .train_config import TrainConfig

app = typer.Typer(
    help="advfc: harden small function-calling models with an adversarial query model, scored by BFCL rules.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="BFCL data, the train/held-out split, and exports.", no_args_is_help=True)
model_app = typer.Typer(help="Models: materialise the embedded default.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(model_app, name="model")
console = Console()


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")):
    if version:
        console.print(f"advfc {__version__}")
        raise typer.Exit()


# ----------------------------------------------------------------------------- data


@data_app.command("list")
def data_list():
    """Categories, their sizes, and how the default split divides them."""
    from statistics import mean

    from .data import CATEGORIES, load_bfcl
    from .split import load_split

    split = load_split()
    table = Table(title="BFCL single-turn categories (bfcl-eval data)")
    table.add_column("category", no_wrap=True)
    for col in ("entries", "train", "held-out", "tools/item", "query chars", "system msg"):
        table.add_column(col, justify="right")
    totals = [0, 0, 0]
    for cat in CATEGORIES:
        examples = load_bfcl(cat)
        n_train, n_eval = len(split.train.get(cat, [])), len(split.eval.get(cat, []))
        totals = [totals[0] + len(examples), totals[1] + n_train, totals[2] + n_eval]
        table.add_row(
            cat,
            str(len(examples)),
            str(n_train),
            str(n_eval),
            f"{mean(len(e.tools) for e in examples):.1f}",
            f"{mean(len(e.query) for e in examples):.0f}",
            str(sum(1 for e in examples if e.messages[0].get("role") == "system")),
        )
    table.add_row("total", *map(str, totals), "", "", "", style="bold")
    console.print(table)


@data_app.command("show")
def data_show(
    example_id: str = typer.Argument(..., help="A BFCL id, e.g. simple_python_0."),
    prompt: bool = typer.Option(False, "--prompt", help="Also print the FC model's chat messages."),
):
    """One example as advfc sees it (and the FC prompt messages with --prompt)."""
    from .data import load_bfcl_ids
    from .prompts import fc_messages, gold_call_text

    (example,) = load_bfcl_ids([example_id])
    console.print_json(json.dumps(example.to_dict()))
    console.print("gold call: " + gold_call_text(example), markup=False, highlight=False, soft_wrap=True)
    if prompt:
        for m in fc_messages(example):
            console.rule(m["role"])
            console.print(m["content"], markup=False, highlight=False)


@config_command(data_app, "split", SplitConfig, help="Build the train/held-out split file (deterministic).")
def data_split(config: SplitConfig):
    from .split import build_split, save_split

    split = build_split(config.seed, config.holdout_fraction)
    save_split(split, config.out)
    console.print(
        f"wrote {config.out}: {len(split.train_ids())} train ids, {len(split.eval_ids())} held-out ids "
        f"(seed {config.seed}, live holdout {config.holdout_fraction:.0%} of groups)"
    )


@data_app.command("export")
def data_export(
    out: Path = typer.Option(..., "--out", help="A .jsonl file, or a folder for --format hf."),
    categories: str = typer.Option("live", "--categories", help="Comma-separated categories (or all/live/non_live)."),
    side: str = typer.Option("train", "--side", help="train, eval or all (by the default split)."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl (load_dataset('json', ...)) or hf (save_to_disk)."),
    run: Optional[Path] = typer.Option(None, "--run", help="Export this training run's adversarial buffer instead."),
    valid_only: bool = typer.Option(False, "--valid-only", help="With --run: only queries that passed validity."),
):
    """Export examples, or a run's adversarial queries, as rows `datasets` can load (tools and
    answers as JSON strings)."""
    from .exports import export_examples, export_run

    n = export_run(run, out, fmt, valid_only=valid_only) if run else export_examples(categories, side, out, fmt)
    console.print(f"wrote {n} rows to {out}")


@data_app.command("robustness")
def data_robustness(
    out: Path = typer.Option(Path("data/robustness/tools"), "--out", help="Folder for questions.jsonl, answers.jsonl, manifest.json."),
    per_category: int = typer.Option(10, "--per-category", help="Held-out items per category and family."),
):
    """Write the frozen tool-list robustness set (distractors, shuffled order, reworded descriptions)."""
    from .robustness import write_tools_set

    manifest = write_tools_set(out, per_category)
    console.print(f"wrote {manifest['items']} items to {out} (BFCL format; scores with advfc eval --questions --answers)")


@data_app.command("rewrites")
def data_rewrites(
    attack: Path = typer.Argument(..., help="A finished `advfc attack --ids eval` folder."),
    out: Path = typer.Option(Path("data/robustness/rewrites"), "--out", help="Folder for questions.jsonl, answers.jsonl, manifest.json."),
):
    """Freeze an attack on held-out seeds into a robustness set: each seed's first rewrite that passed the guard."""
    manifest = write_rewrite_set(attack, out)
    console.print(f"wrote {manifest['items']} items to {out} (BFCL format; scores with advfc eval --questions --answers)")


# ----------------------------------------------------------------------------- models


@model_app.command("prepare")
def model_prepare(
    force: bool = typer.Option(False, "--force", help="Rebuild even if the cache exists."),
    tiny: bool = typer.Option(False, "--tiny", help="Also build the tiny random-weight test model."),
):
    """Materialise the embedded SmolLM2-135M-Instruct as a trainable HF model in the cache."""
    from .models import prepare_embedded, prepare_tiny

    path = prepare_embedded(force=force)
    console.print(f"embedded model: {path}")
    if tiny:
        console.print(f"tiny model: {prepare_tiny(force=force)}")


# ----------------------------------------------------------------------------- evaluation and serving

from .evaluation import EvalConfig  # noqa: E402
from .server import ServeConfig  # noqa: E402


@config_command(app, "eval", EvalConfig, help="Evaluate a model on BFCL categories in prompt mode (resumable).")
def eval_command(config: EvalConfig):
    from .evaluation import RUN_FILE, evaluate, render_summary
    from .io import check_output, is_folder_of

    check_output(config.out_dir(), what="an advfc results folder", ours=lambda p: is_folder_of(p, (RUN_FILE,)))
    scores = evaluate(config)
    console.print(render_summary(scores), markup=False, highlight=False, soft_wrap=True)


@config_command(app, "serve", ServeConfig, help="Serve a model over an OpenAI-compatible chat API.")
def serve_command(config: ServeConfig):
    from .server import serve

    serve(config, announce=lambda line: print(line, flush=True))


# ----------------------------------------------------------------------------- scoring

# A BFCL result line: a model's answer is a few KB; a longer line is refused before it is decoded.
MAX_RESULT_LINE = 256 << 10


@app.command("score")
def score(
    category: str = typer.Option(..., "--category", help="The BFCL category the results belong to."),
    results: Path = typer.Option(..., "--results", help='BFCL result lines {"id", "result"} (JSONL).'),
    out: Path = typer.Option(..., "--out", help='Where to write {"id", "valid", "error_type"} per line.'),
):
    """Score BFCL results with advfc's checker (BFCL's verdicts; model output is never executed)."""
    from .io import check_output, is_jsonl_of, iter_jsonl, write_jsonl
    from .scoring import error_histogram, score_results

    check_output(out, what="a verdicts file", inputs=[results], ours=lambda p: is_jsonl_of(p, ("id", "valid", "error_type")))
    verdicts = score_results(category, iter_jsonl(results, max_line=MAX_RESULT_LINE), path=results)
    write_jsonl(out, verdicts)
    correct = sum(v["valid"] for v in verdicts)
    console.print(f"{category}: accuracy {correct / len(verdicts):.4f} ({correct}/{len(verdicts)}), verdicts in {out}")
    for error_type, n in error_histogram(verdicts).most_common():
        console.print(f"  {n:>6}  {error_type}", highlight=False)


@app.command("validate")
def validate(
    rewrites: Path = typer.Argument(..., help='Rewrites, one {"seed_id", "rewrite"} per line (optional "finish_reason", "label", "class").'),
    out: Path = typer.Option(..., "--out", help='Where to write {"seed_id", "rewrite", "valid", "reasons"} per line.'),
    data: Optional[Path] = typer.Option(None, "--data", help="Seeds that are not BFCL ids: advfc example rows (advfc data export)."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Also ask this reference model (folder, hub id or endpoint)."),
    max_similarity: float = typer.Option(0.9, "--max-similarity", help="Reject rewrites at least this similar to the original."),
    max_length_ratio: float = typer.Option(3.0, "--max-length-ratio", help="Longest rewrite relative to the original."),
):
    """Check any set of rewrites against the guard: per row valid or not with its reasons, in input
    order, plus a summary (OUT.summary.json) of the validity rate and the rejections per reason, and
    with hand labels in the rows, the guard's false-accept and false-reject rates per class."""
    from .io import atomic_write_json, check_output, is_jsonl_of, write_jsonl
    from .validity import ValidityRules, build_judge, is_validate_summary, read_rewrites, resolve_seeds, validate_rewrites

    inputs = [rewrites, *([data] if data else [])]
    check_output(out, what="a verdicts file of `advfc validate`", inputs=inputs,
                 ours=lambda p: is_jsonl_of(p, ("seed_id", "rewrite", "valid", "reasons")))
    summary_path = check_output(out.with_name(out.stem + ".summary.json"), what="a summary of `advfc validate`",
                                inputs=inputs, ours=is_validate_summary)
    rows = read_rewrites(rewrites)
    seeds = resolve_seeds(rows, rewrites, data)
    judge = build_judge(judge_model) if judge_model else None
    results, summary = validate_rewrites(rows, seeds, ValidityRules(max_similarity, max_length_ratio), judge)
    write_jsonl(out, results)
    atomic_write_json(summary_path, summary)
    console.print(f"{summary['valid']}/{summary['rows']} valid ({summary['validity_rate']:.1%}); verdicts in {out}, "
                  f"summary in {summary_path}", markup=False, highlight=False, soft_wrap=True)
    table = Table("rejected by", "rows", "rate")
    for reason, tally in summary["rejections"].items():
        table.add_row(reason, str(tally["rows"]), f"{tally['rate']:.1%}")
    if summary["rejections"]:
        console.print(table)
    if "labelled" in summary:
        fa, fr = summary["labelled"]["false_accept"], summary["labelled"]["false_reject"]
        console.print(f"against the labels: false accepts {fa['errors']}/{fa['rows']}, false rejects {fr['errors']}/{fr['rows']}")


# ----------------------------------------------------------------------------- training


@config_command(app, "train", TrainConfig, help="Run the adversarial game (warm start, then rounds of Q-phase, harvest, F-phase, eval).")
def train(config: TrainConfig):
    from .distributed import finish, is_main
    from .game import run_training
    from .report import final_tables
    from .runlog import quiet_libraries

    quiet_libraries(config.verbose)
    summary = run_training(config)
    finish()
    if not is_main():
        return  # one process of several under `accelerate launch`: the main one reports
    run_dir = Path(summary["run_dir"])
    console.print(final_tables(run_dir), markup=False, highlight=False, soft_wrap=True)
    console.print(f"run folder: {run_dir} ({summary['rounds']} rounds, {summary['buffer_rows']} adversarial queries)")
    console.print(f"report: {run_dir / 'report.html'} (and report.md)", markup=False, highlight=False)


@config_command(app, "experiment", ExperimentConfig,
                help="The controlled experiment: B0, B1, then B2, B3, advfc and ablations forked from one warm start per "
                     "seed, scored on one frozen held-out sample with paired intervals. Rerun to continue.")
def experiment_command(config: ExperimentConfig):
    from .distributed import finish
    from .experiment import run_experiment
    from .runlog import quiet_libraries

    quiet_libraries(config.verbose)
    results = run_experiment(config)
    finish()
    if results is None:
        return  # one process of several under `accelerate launch`: the main one reports
    report = config.output_dir / "report.md"
    console.print(report.read_text(encoding="utf-8"), markup=False, highlight=False, soft_wrap=True)
    console.print(f"{results['summaries']} arm summaries in {config.output_dir / 'summaries'}; report: {report} "
                  "(and report.html)", markup=False, highlight=False, soft_wrap=True)


@config_command(app, "attack", AttackConfig,
                help="Red-team any FC model (folder, adapter, hub id or endpoint) with a trained query model; writes the "
                     "adversarial set that broke it (BFCL format) and its weakness report.")
def attack_command(config: AttackConfig):
    from .attack import run_attack
    from .runlog import quiet_libraries

    quiet_libraries(verbose=False)
    s = run_attack(config)
    console.print(
        f"{s['queries']} rewrites of {s['seeds']} seeds, {100 * s['validity_rate']:.1f}% valid; target {100 * s['fc_accuracy_clean']:.1f}% "
        f"on the clean queries, attack success {100 * s['attack_success']:.1f}%; {s['broke']} rewrites broke it",
        markup=False, highlight=False, soft_wrap=True)
    console.print(f"adversarial set: {config.out / 'questions.jsonl'} + answers.jsonl; report: {config.out / 'report.html'}",
                  markup=False, highlight=False, soft_wrap=True)


@app.command("report")
def report(runs: list[Path] = typer.Argument(..., help="A run or attack folder (its weakness report), or several runs (side by side).")):
    """A folder's weakness report (report.md and a self-contained report.html beside it), or the
    final evaluation of several runs side by side."""
    from .report import compare_runs, write_folder_report

    if len(runs) == 1:
        write_folder_report(runs[0])
        console.print(f"report: {runs[0] / 'report.md'} and {runs[0] / 'report.html'}", markup=False, highlight=False)
    else:
        console.print(compare_runs(runs), markup=False, highlight=False, soft_wrap=True)


# ----------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; the console script exits with it)."""
    from typer._click.exceptions import ClickException

    try:
        rv = app(args=argv, standalone_mode=False)
    except InputError as e:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/bold red] {escape(str(e))}", highlight=False)
        return 2
    except ClickException as e:  # usage errors: unknown option, bad flag value
        e.show()
        return 2
    except (KeyboardInterrupt, typer.Abort):
        Console(stderr=True).print("interrupted; finished work is on disk and a run can be resumed")
        return 130
    except typer.Exit as e:
        return e.exit_code
    except Exception as e:  # the last resort: one line, the traceback in a log file
        summary = " ".join(f"{type(e).__name__}: {e}".split())[:400]
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/bold red] {escape(summary)} ({_save_traceback()})", highlight=False)
        return 1
    return rv if isinstance(rv, int) else 0


def _save_traceback() -> str:
    """Write the current exception's traceback to a new log file; say where (or why not)."""
    from .models import cache_dir

    path = cache_dir() / "logs" / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:
            f.write(f"advfc {__version__}: {' '.join(sys.argv)}\n{traceback.format_exc()}")
    except OSError as e:
        return f"the traceback could not be saved: {e.strerror or e}"
    return f"traceback in {path}"


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()

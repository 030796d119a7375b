"""The `advfc` command line. Side effects live here: reading flags, printing, exit codes.

Any `InputError` becomes one line on stderr and exit code 2; nothing else is caught.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .config import config_command
from .errors import InputError
from .split import SplitConfig

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
):
    """Export examples as rows `datasets` can load (tools and answers as JSON strings)."""
    from .exports import export_examples

    n = export_examples(categories, side, out, fmt)
    console.print(f"wrote {n} rows to {out}")


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


# ----------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; the console script exits with it)."""
    import click

    try:
        rv = app(args=argv, standalone_mode=False)
    except InputError as e:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {e}", highlight=False)
        return 2
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        Console(stderr=True).print("interrupted; finished work is on disk and a run can be resumed")
        return 130
    except click.exceptions.Exit as e:
        return e.exit_code
    return rv if isinstance(rv, int) else 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()

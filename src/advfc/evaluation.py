"""`advfc eval`: BFCL prompt-mode evaluation that writes what BFCL writes and can resume.

A results folder holds `result/BFCL_v4_<cat>_result.json` (BFCL's JSON-lines shape, readable by
`advfc score`), `score/BFCL_v4_<cat>_score.jsonl` (one verdict per item), `scores.json` (accuracies,
BFCL's summary columns, error types and everything needed to reproduce the run) and `summary.md`.
Results are appended per chunk, so a killed run loses at most one chunk; rerunning the same command
skips finished items. `evaluate` is a plain function: the game loop passes its in-memory generator.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from .config import BaseConfig, Categories, answers_need_questions
from .data import (
    AST_LIVE, AST_NON_LIVE, BFCL_PIN, BFCL_VERSION_PREFIX, LIVE, NON_LIVE, Example, load_bfcl, load_bfcl_files,
)
from .errors import InputError
from .generation import BACKENDS, ENV_NAME_PATTERN, Generator, SamplingParams, build_generator
from .io import append_jsonl, atomic_write_json, atomic_write_text, iter_jsonl, read_json, repair_jsonl, write_jsonl

RUN_FILE = "run.json"
# A results folder may only be resumed by a run that would produce the same completions.
RESUME_KEYS = ("model", "fingerprint", "backend", "adapter", "dtype", "prompt_format", "decoding", "questions")


class EvalConfig(BaseConfig):
    model: str = Field(
        "embedded",
        description="embedded, tiny, a model or PEFT adapter folder, a hub id, or http://host:port/v1::name.",
    )
    categories: Categories = Field(list(NON_LIVE), description="BFCL categories, or all / live / non_live.")
    ids: Literal["eval", "all"] = Field(
        "eval", description="eval: only held-out ids of the split (live categories are split); all: every id."
    )
    split: Path | None = Field(None, description="A split file from `advfc data split` (default: the packaged one).")
    questions: Path | None = Field(
        None, description="Evaluate this BFCL-format question file instead of the installed categories (e.g. from `advfc attack`).",
    )
    answers: Path | None = Field(None, description="With --questions: its BFCL-format possible-answer file.")
    limit: int | None = Field(None, ge=1, description="At most this many items per category (the first ones).")
    out: Path | None = Field(None, description="Results folder; rerunning resumes it. Default: runs/eval/<model>.")
    backend: Literal[BACKENDS] = Field(
        "auto", description="auto: openai for URLs, vllm on a GPU if installed, else hf."
    )
    batch_size: int = Field(8, ge=1, description="Rows per forward pass (hf); results are saved every 4 batches.")
    max_new_tokens: int = Field(128, ge=1, description="Generation budget per answer.")
    temperature: float = Field(0.0, ge=0, description="0 is greedy.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass (with temperature > 0).")
    seed: int = Field(0, description="Sampling seed.")
    device: str | None = Field(None, description="cpu or cuda (default: cuda when available).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Model dtype.")
    prefix_reuse: bool = Field(True, description="hf: compute a prompt prefix shared by a batch once.")
    concurrency: int = Field(8, ge=1, description="openai: requests in flight.")
    timeout: float = Field(120.0, gt=0, description="openai: seconds per request.")
    max_retries: int = Field(4, ge=0, description="openai: retries on 429/5xx/timeouts.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", pattern=ENV_NAME_PATTERN,
        description="openai: environment variable holding the endpoint's API key, sent only over https or to "
        "this machine ('' sends none).",
    )
    progress: bool = Field(True, description="Show a progress bar per category.")

    @model_validator(mode="after")
    def _answers_go_with_questions(self):
        answers_need_questions(self.questions, self.answers, ("--questions", "--answers"))
        return self

    def sampling(self) -> SamplingParams:
        return SamplingParams(self.max_new_tokens, self.temperature, self.top_p, 1, self.seed)

    def out_dir(self) -> Path:
        if self.out is not None:
            return self.out
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model.rstrip("/").split("://")[-1]).strip("_")
        return Path("runs") / "eval" / slug


def result_path(out: Path, category: str) -> Path:
    return out / "result" / f"{BFCL_VERSION_PREFIX}_{category}_result.json"


def score_path(out: Path, category: str) -> Path:
    return out / "score" / f"{BFCL_VERSION_PREFIX}_{category}_score.jsonl"


def select_examples(config: EvalConfig) -> dict[str, list[Example]]:
    """Per category, the items to evaluate: held-out ids only unless `ids=all` (never training ids
    by default), in split-file order, cut to `limit`; or every item of `questions`, by category."""
    from .split import load_split

    if config.questions is not None:
        selected: dict[str, list[Example]] = {}
        for e in load_bfcl_files(config.questions, config.answers):
            selected.setdefault(e.category, []).append(e)
        return {c: examples[: config.limit] for c, examples in selected.items()}
    split = load_split(config.split)
    selected = {}
    for category in config.categories:
        examples = load_bfcl(category)
        if config.ids == "eval":
            held = set(split.eval.get(category, []))
            examples = [e for e in examples if e.id in held]
        selected[category] = examples[: config.limit]
    return selected


def evaluate(config: EvalConfig, generator: Generator | None = None) -> dict:
    """Generate answers for every selected item not yet in `out`, score all of them, write the
    summaries and return the scores. `generator` overrides `config.model` (an in-memory model)."""
    out = config.out_dir()
    selected = select_examples(config)
    if generator is None:
        generator = build_generator(
            config.model,
            config.backend,
            batch_size=config.batch_size,
            device=config.device,
            dtype=config.dtype,
            prefix_reuse=config.prefix_reuse,
            concurrency=config.concurrency,
            timeout=config.timeout,
            max_retries=config.max_retries,
            api_key_env=config.api_key_env,
        )
    run = run_record(config, generator.describe())
    claim_folder(out, run)
    started = time.perf_counter()
    for category, examples in selected.items():
        generate_category(generator, config, out, category, examples)
    verdicts = {category: score_category(out, category, examples) for category, examples in selected.items()}
    scores = summarise(verdicts)
    scores["run"] = {
        **run,
        "out": str(out),
        "categories": {c: len(v) for c, v in verdicts.items()},
        "limit": config.limit,
        "seconds_this_run": round(time.perf_counter() - started, 1),
    }
    atomic_write_json(out / "scores.json", scores)
    atomic_write_text(out / "summary.md", render_summary(scores))
    return scores


def run_record(config: EvalConfig, info: dict) -> dict:
    import torch
    import transformers

    from . import __version__
    from .prompts import default_prompt_format
    from .split import load_split

    return {
        "model": info.get("model", config.model),
        "fingerprint": info.get("fingerprint"),
        "base_model": info.get("base_model"),
        "adapter": info.get("adapter"),
        "backend": info.get("backend"),
        "device": info.get("device"),
        "dtype": info.get("dtype", config.dtype),
        "prompt_format": default_prompt_format(),
        "decoding": {
            "max_new_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "seed": config.seed,
        },
        "ids": config.ids,
        "split": load_split(config.split).meta,
        # A results folder of one question file may not be resumed with another.
        "questions": None if config.questions is None else {
            "path": str(config.questions),
            "sha256": hashlib.sha256(Path(config.questions).read_bytes()).hexdigest(),
            "answers_sha256": None if config.answers is None else hashlib.sha256(Path(config.answers).read_bytes()).hexdigest(),
        },
        "advfc": __version__,
        "bfcl": BFCL_PIN,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def claim_folder(out: Path, run: dict) -> None:
    """Record the run in a new folder, or check that an existing one came from the same settings."""
    path = out / RUN_FILE
    if path.exists():
        previous = read_json(path)
        changed = [k for k in RESUME_KEYS if previous.get(k) != run.get(k)]
        if changed:
            detail = "; ".join(f"{k}: {previous.get(k)!r} there, {run.get(k)!r} now" for k in changed)
            raise InputError(
                f"holds results of a different model or settings ({detail}); use another --out or remove it",
                path=out,
            )
        return
    if any(out.glob("result/*_result.json")):
        raise InputError(f"has result files but no {RUN_FILE}; use another --out", path=out)
    atomic_write_json(path, run)


def generate_category(generator: Generator, config: EvalConfig, out: Path, category: str, examples: list[Example]):
    from tqdm.auto import tqdm

    from .prompts import fc_messages

    path = result_path(out, category)
    repair_jsonl(path)
    done = {r["id"] for _, r in iter_jsonl(path)} if path.exists() else set()
    todo = [e for e in examples if e.id not in done]
    chunk = 4 * config.batch_size
    params = config.sampling()
    with tqdm(total=len(examples), initial=len(examples) - len(todo), desc=category, unit="item",
              disable=not config.progress, dynamic_ncols=True) as bar:
        for i in range(0, len(todo), chunk):
            part = todo[i : i + chunk]
            start = time.perf_counter()
            completions = generator.generate([fc_messages(e) for e in part], params)
            latency = (time.perf_counter() - start) / len(part)
            append_jsonl(path, [
                {
                    "id": e.id,
                    "result": c[0].text,
                    "input_token_count": c[0].prompt_tokens,
                    "output_token_count": c[0].completion_tokens,
                    "latency": round(latency, 4),
                }
                for e, c in zip(part, completions)
            ])
            bar.update(len(part))


def score_category(out: Path, category: str, examples: list[Example]) -> list[dict]:
    """BFCL verdicts for the selected items, in selection order, written next to the results."""
    from .checker import check, is_empty_output

    results = {r["id"]: r["result"] for _, r in iter_jsonl(result_path(out, category))}
    verdicts = []
    for e in examples:
        v = check(results[e.id], e)
        called = v.decoded is not None and not is_empty_output(v.decoded)
        verdicts.append({"id": e.id, "valid": v.correct, "error_type": v.error_type, "error": v.error, "called": called})
    write_jsonl(score_path(out, category), verdicts)
    return verdicts


# ----------------------------------------------------------------------------- BFCL's summary columns


def summarise(verdicts: dict[str, list[dict]]) -> dict:
    """Accuracy per category and BFCL's summary columns (eval_runner_helper.generate_leaderboard_csv):
    non-live AST is the unweighted mean of its four categories, live AST the count-weighted mean of
    its four, overall irrelevance the unweighted mean of irrelevance and live_irrelevance. A summary
    is None (BFCL's N/A) when one of its categories was not evaluated."""
    from .scoring import error_histogram

    categories = {}
    errors: Counter = Counter()
    for category, rows in verdicts.items():
        correct = sum(r["valid"] for r in rows)
        category_errors = error_histogram(rows)
        errors.update(category_errors)
        categories[category] = {
            "total": len(rows),
            "correct": correct,
            "accuracy": correct / len(rows) if rows else 0.0,
            # Outputs that decode to at least one call (on irrelevance items: a call was made).
            "parseable_calls": sum(r.get("called", False) for r in rows) / len(rows) if rows else 0.0,
            "error_types": dict(category_errors.most_common()),
        }

    def unweighted(names):
        if not all(c in categories for c in names):
            return None
        return sum(categories[c]["accuracy"] for c in names) / len(names)

    def weighted(names):
        if not all(c in categories for c in names):
            return None
        total = sum(categories[c]["total"] for c in names)
        return sum(categories[c]["correct"] for c in names) / total if total else 0.0

    def single(name):
        return categories[name]["accuracy"] if name in categories else None

    summary = {
        "non_live_ast": unweighted(AST_NON_LIVE),
        "live_ast": weighted(AST_LIVE),
        "irrelevance": single("irrelevance"),
        "live_irrelevance": single("live_irrelevance"),
        "irrelevance_overall": unweighted(("irrelevance", "live_irrelevance")),
        "live_relevance": single("live_relevance"),
    }
    return {"categories": categories, "summary": summary, "error_types": dict(errors.most_common())}


SUMMARY_LABELS = {
    "non_live_ast": "Non-live AST (unweighted mean of simple_python, multiple, parallel, parallel_multiple)",
    "live_ast": "Live AST (weighted by count over live_simple, live_multiple, live_parallel, live_parallel_multiple)",
    "irrelevance": "Irrelevance (non-live)",
    "live_irrelevance": "Irrelevance (live)",
    "irrelevance_overall": "Irrelevance overall (unweighted mean of irrelevance, live_irrelevance)",
    "live_relevance": "Relevance (live)",
}


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def render_summary(scores: dict) -> str:
    run = scores.get("run", {})
    d = run.get("decoding", {})
    lines = [
        f"# BFCL evaluation: {run.get('model')}",
        "",
        "| category | items | correct | accuracy | outputs with a call |",
        "|---|---:|---:|---:|---:|",
    ]
    for category in sorted(scores["categories"], key=lambda c: (NON_LIVE + LIVE).index(c)):
        s = scores["categories"][category]
        lines.append(
            f"| {category} | {s['total']} | {s['correct']} | {_pct(s['accuracy'])} | {_pct(s.get('parseable_calls'))} |"
        )
    summaries = {k: v for k, v in scores["summary"].items() if v is not None}  # BFCL's N/A rows are left out
    if summaries:
        lines += ["", "| summary (BFCL columns) | accuracy |", "|---|---:|"]
        lines += [f"| {SUMMARY_LABELS[k]} | {_pct(v)} |" for k, v in summaries.items()]
    if scores["error_types"]:
        lines += ["", "| error type | items |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in scores["error_types"].items()]
    lines += [
        "",
        f"- model: `{run.get('model')}` (fingerprint `{run.get('fingerprint')}`, base `{run.get('base_model')}`, "
        f"adapter `{run.get('adapter')}`)",
        f"- backend: {run.get('backend')} ({run.get('device')}, {run.get('dtype')}); "
        f"torch {run.get('torch')}, transformers {run.get('transformers')}, advfc {run.get('advfc')}, "
        f"{run.get('bfcl')}",
        f"- decoding: max_new_tokens {d.get('max_new_tokens')}, temperature {d.get('temperature')}, "
        f"top_p {d.get('top_p')}, seed {d.get('seed')}",
        f"- prompt format: `{run.get('prompt_format')}`; ids: {run.get('ids')} "
        f"(split seed {run.get('split', {}).get('seed')})",
        f"- results: `{run.get('out')}`",
    ]
    return "\n".join(lines) + "\n"

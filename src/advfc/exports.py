"""Exports to formats `datasets` loads: JSONL (`load_dataset("json", data_files=...)`) or an Arrow
folder (`load_from_disk`). Written atomically; an existing `--out` is replaced only if it is an
earlier export, checked before anything is loaded."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from .data import Example, load_bfcl_ids, parse_categories
from .errors import InputError
from .io import check_output, fsync_dir, is_folder_of, is_jsonl_of, make_dirs, write_jsonl
from .split import load_split

SIDES = ("train", "eval", "all")
FORMATS = ("jsonl", "hf")
HF_MARKERS = ("dataset_info.json", "state.json")  # what `save_to_disk` writes


def check_out(out: str | Path, fmt: str, inputs: tuple = ()) -> Path:
    if fmt == "jsonl":
        return check_output(out, what="an advfc export (JSONL rows with id and tools)", inputs=inputs,
                            ours=lambda p: is_jsonl_of(p, ("id", "tools")))
    if fmt == "hf":
        return check_output(out, what="a `datasets` folder", inputs=inputs, ours=lambda p: is_folder_of(p, HF_MARKERS))
    raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_rows(rows: list[dict], out: Path, fmt: str) -> int:
    if fmt == "jsonl":
        write_jsonl(out, rows)
        return len(rows)
    from datasets import Dataset

    make_dirs(out.parent)
    tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}"
    tmp.mkdir()  # with the umask's mode, as any folder
    old = tmp.with_name(tmp.name + ".old")
    try:
        Dataset.from_list(rows).save_to_disk(str(tmp))
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        fsync_dir(out.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return len(rows)


def export_examples(categories: str, side: str, out: str | Path, fmt: str = "jsonl") -> int:
    out = check_out(out, fmt)
    if side not in SIDES:
        raise InputError(f"unknown side {side!r}; expected one of {', '.join(SIDES)}")
    split = load_split()
    ids = []
    for cat in parse_categories(categories):
        if side in ("train", "all"):
            ids += split.train.get(cat, [])
        if side in ("eval", "all"):
            ids += split.eval.get(cat, [])
    return write_rows([ex.to_record() for ex in load_bfcl_ids(ids)], out, fmt)


def write_bfcl_files(examples: list[Example], out: Path, extra: list[dict] | None = None) -> None:
    """`questions.jsonl` + `answers.jsonl` in BFCL's format: `advfc eval --questions --answers`
    (and BFCL itself) score any model on them. `extra[i]` adds fields to example i's question line
    (where it came from), after its category; BFCL and advfc read past them."""
    extra = extra or [{}] * len(examples)
    write_jsonl(out / "questions.jsonl", [
        {"id": e.id, "category": e.category, **more, "question": [e.messages], "function": e.tools}
        for e, more in zip(examples, extra, strict=True)
    ])
    write_jsonl(out / "answers.jsonl", [{"id": e.id, "ground_truth": e.answers} for e in examples])


BUFFER_COLUMNS = ("round", "seed_id", "tactic", "level", "status", "reasons", "p_hat", "p_hat_clean", "error_types", "original")


def export_run(run_dir: str | Path, out: str | Path, fmt: str = "jsonl", *, valid_only: bool = False) -> int:
    """A run's adversarial buffer as examples (the seed with its query rewritten) plus how each
    query was made and judged; unparseable rewrites keep an empty query."""
    path = Path(run_dir) / "buffer.jsonl"
    if not path.is_file():
        raise InputError("not a training run folder (no buffer.jsonl)", path=run_dir)
    out = check_out(out, fmt, inputs=(path,))
    from .buffer import AdversarialBuffer

    rows = []
    for row in AdversarialBuffer(path).rows():
        if valid_only and row["status"] != "valid":
            continue
        seed = Example.from_dict(row["seed"])
        record = seed.with_query(row["query"] or "", id=row["id"]).to_record()
        meta = {**row, "original": seed.query}
        rows.append({**record, **{k: meta[k] for k in BUFFER_COLUMNS}})
    return write_rows(rows, out, fmt)

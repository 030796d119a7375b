"""Exports to formats `datasets` loads: JSONL (`load_dataset("json", data_files=...)`) or an Arrow
folder (`load_from_disk`). Written atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .data import Example, load_bfcl_ids, parse_categories
from .errors import InputError
from .io import write_jsonl
from .split import load_split

SIDES = ("train", "eval", "all")
FORMATS = ("jsonl", "hf")


def write_rows(rows: list[dict], out: str | Path, fmt: str) -> int:
    out = Path(out)
    if fmt == "jsonl":
        write_jsonl(out, rows)
    elif fmt == "hf":
        from datasets import Dataset

        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
        try:
            Dataset.from_list(rows).save_to_disk(str(tmp))
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return len(rows)


def export_examples(categories: str, side: str, out: str | Path, fmt: str = "jsonl") -> int:
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


BUFFER_COLUMNS = ("round", "seed_id", "tactic", "level", "status", "reasons", "p_hat", "p_hat_clean", "error_types", "original")


def export_run(run_dir: str | Path, out: str | Path, fmt: str = "jsonl", *, valid_only: bool = False) -> int:
    """A run's adversarial buffer as examples (the seed with its query rewritten) plus how each
    query was made and judged; unparseable rewrites keep an empty query."""
    path = Path(run_dir) / "buffer.jsonl"
    if not path.exists():
        raise InputError("not a training run folder (no buffer.jsonl)", path=run_dir)
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

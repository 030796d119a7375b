"""The train / held-out split: live BFCL categories train, non-live ones (plus a held-out slice of
live) evaluate. Live entries that come from one user conversation share a group id
(`live_multiple_<n>-<group>-<k>`); whole groups go to one side so near-duplicates cannot leak."""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pydantic import Field

from .config import BaseConfig
from .data import BFCL_PIN, LIVE, NON_LIVE, load_bfcl
from .errors import InputError
from .io import atomic_write_json, check_output, read_json

DEFAULT_SPLIT = "resources/split.json"


class SplitConfig(BaseConfig):
    seed: int = Field(0, description="Seed of the group ordering.")
    holdout_fraction: float = Field(0.2, ge=0, lt=1, description="Share of live groups held out for evaluation.")
    out: Path = Field(
        Path("split.json"),
        description="Where to write the split file (use it with --split; the packaged split is src/advfc/" + DEFAULT_SPLIT + ").",
    )


@dataclass(frozen=True)
class Split:
    train: dict[str, list[str]]
    eval: dict[str, list[str]]
    meta: dict = field(default_factory=dict)

    def train_ids(self) -> list[str]:
        return [i for ids in self.train.values() for i in ids]

    def eval_ids(self) -> list[str]:
        return [i for ids in self.eval.values() for i in ids]

    def to_dict(self) -> dict:
        return {**self.meta, "train": self.train, "eval": self.eval}


def group_key(example_id: str) -> str:
    """`live_multiple_12-4-1` -> `live_multiple-4`; ids without a group are their own group."""
    m = re.match(r"^(.*)_\d+-(\d+)-\d+$", example_id)
    return f"{m.group(1)}-{m.group(2)}" if m else example_id


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def build_split(seed: int = 0, holdout_fraction: float = 0.2, data_dir: str | Path | None = None) -> Split:
    if not 0 <= holdout_fraction < 1:
        raise InputError(f"holdout fraction must be in [0, 1), got {holdout_fraction}")
    train: dict[str, list[str]] = {}
    held: dict[str, list[str]] = {cat: [ex.id for ex in load_bfcl(cat, data_dir)] for cat in NON_LIVE}
    for cat in LIVE:
        ids = [ex.id for ex in load_bfcl(cat, data_dir)]
        groups: dict[str, list[str]] = defaultdict(list)
        for i in ids:
            groups[group_key(i)].append(i)
        order = sorted(groups, key=lambda g: _rank(seed, g))
        n_out = math.ceil(holdout_fraction * len(order)) if len(order) > 1 else 0
        out_groups = set(order[:n_out])
        train[cat] = [i for i in ids if group_key(i) not in out_groups]
        held[cat] = [i for i in ids if group_key(i) in out_groups]
    meta = {"version": 1, "seed": seed, "holdout_fraction": holdout_fraction, "bfcl": BFCL_PIN}
    return Split(train=train, eval=held, meta=meta)


def save_split(split: Split, path: str | Path) -> None:
    check_output(path, what="a split file", ours=_is_split_file)
    atomic_write_json(path, split.to_dict())


def _is_split_file(path: Path) -> bool:
    try:
        load_split(path)
    except InputError:
        return False
    return True


def load_split(path: str | Path | None = None) -> Split:
    """The committed default split, or a split file the user made with `advfc data split`."""
    if path is None:
        d = read_json_resource(DEFAULT_SPLIT)
        source: str | Path = "advfc/" + DEFAULT_SPLIT
    else:
        d = read_json(path)
        source = path
    if not isinstance(d, dict) or not all(_is_ids_by_category(d.get(side)) for side in ("train", "eval")):
        raise InputError("a split file needs 'train' and 'eval' objects mapping category -> ids", path=source)
    meta = {k: v for k, v in d.items() if k not in ("train", "eval")}
    split = Split(train=d["train"], eval=d["eval"], meta=meta)
    overlap = set(split.train_ids()) & set(split.eval_ids())
    if overlap:
        raise InputError(f"train and eval share {len(overlap)} ids, e.g. {sorted(overlap)[0]}", path=source)
    return split


def _is_ids_by_category(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in value.values()
    )


def read_json_resource(name: str) -> dict:
    import json

    return json.loads(resources.files("advfc").joinpath(name).read_text(encoding="utf-8"))

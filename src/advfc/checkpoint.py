"""Checkpoints of a training run: both adapters, both optimiser states, the game state (round,
stage, curriculum, buffer offset) and every RNG state, swapped into place atomically.

The folder is written as `checkpoint.tmp`, then renamed over `checkpoint` (the previous one is
moved aside first and deleted last), so a kill at any moment leaves one complete checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np

NAME = "checkpoint"


def rng_state() -> dict:
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, players, state: dict) -> Path:
    import torch

    final = run_dir / NAME
    tmp, old = run_dir / f"{NAME}.tmp", run_dir / f"{NAME}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    players.save_adapters(tmp / "adapters")
    torch.save({"optimizers": players.optimizer_state(), "rng": rng_state()}, tmp / "trainer_state.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=2))
    _fsync_tree(tmp)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def locate(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (a kill between the two renames leaves it as `.old`)."""
    for name in (NAME, f"{NAME}.old"):
        path = run_dir / name
        if (path / "state.json").exists():
            return path
    return None


def load(path: Path) -> tuple[dict, dict]:
    import torch

    state = json.loads((path / "state.json").read_text())
    trainer = torch.load(path / "trainer_state.pt", weights_only=False)
    return state, trainer


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())

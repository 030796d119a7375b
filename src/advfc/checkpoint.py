"""Checkpoints of a training run: both adapters, both optimiser states, the game state (round,
stage, curriculum, buffer offset) and every RNG state. Nothing in a checkpoint is pickled:

    checkpoint/
      adapters/fc, adapters/query   PEFT folders (adapter_config.json, adapter_model.safetensors)
      tensors.safetensors           optimiser moments and the torch RNG states
      trainer.json                  everything else of the optimisers and RNGs, tensors by name
      state.json                    the game state
      manifest.json                 size and SHA-256 of every file above, written last

A checkpoint is written as `checkpoint.tmp` and swapped into place; the one it replaces is kept as
`checkpoint.prev`, so a kill at any moment leaves a complete checkpoint and a damaged newest one
(a bad disk, a hand edit) falls back to the previous stage. Loading checks the manifest and an
allow-list of file names before it parses anything, and parses only JSON and safetensors.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import typing
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import InputError
from .io import atomic_write_json, file_digest, fsync_dir, make_dirs, read_json

NAME = "checkpoint"
GENERATIONS = (NAME, f"{NAME}.prev")  # newest first
MANIFEST = "manifest.json"
FORMAT = 2
# Every file a checkpoint may hold (PEFT also writes a model card, adapters/README.md).
REQUIRED = {"state.json", "trainer.json", "tensors.safetensors"} | {
    f"adapters/{adapter}/{name}" for adapter in ("fc", "query") for name in ("adapter_config.json", "adapter_model.safetensors")
}
ALLOWED = REQUIRED | {"adapters/README.md"}


# ----------------------------------------------------------------------------- RNG


def rng_state() -> dict:
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, *, path: Path | None = None) -> None:
    import torch

    try:
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise InputError(f"malformed RNG state ({e})", path=path) from None


# ----------------------------------------------------------------------------- tensors <-> JSON


def _encode(obj, tensors: dict):
    """JSON for `obj`, with every tensor moved to `tensors` and referenced by name; tuples, numpy
    arrays and non-string keys are tagged so that decoding gives back the same types."""
    import torch

    if isinstance(obj, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": name}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(x, tensors) for x in obj]}
    if isinstance(obj, list):
        return [_encode(x, tensors) for x in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors) for k, v in obj.items()}
        return {"__items__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"a checkpoint cannot hold a {type(obj).__name__}")


_NUMPY_DTYPES = {"uint32", "int64", "float64"}


def _decode(obj, tensors: dict):
    if isinstance(obj, list):
        return [_decode(x, tensors) for x in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        if obj["__tensor__"] not in tensors:
            raise ValueError(f"tensor {obj['__tensor__']!r} is missing")
        return tensors[obj["__tensor__"]]
    if "__ndarray__" in obj:
        if obj.get("dtype") not in _NUMPY_DTYPES:
            raise ValueError(f"array dtype {obj.get('dtype')!r} is not one advfc writes")
        return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
    if "__tuple__" in obj:
        return tuple(_decode(x, tensors) for x in obj["__tuple__"])
    if "__items__" in obj:
        return {_hashable(_decode(k, tensors)): _decode(v, tensors) for k, v in obj["__items__"]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


def _hashable(key):
    if not isinstance(key, (str, int, float, bool, tuple)) and key is not None:
        raise ValueError(f"a {type(key).__name__} cannot be a key")
    return key


def _check_optimizers(optimizers) -> None:
    """The shape `torch.optim.Optimizer.load_state_dict` expects, so that junk fails here."""
    import torch

    if not isinstance(optimizers, dict):
        raise ValueError("'optimizers' must map adapter names to optimiser states")
    for name, sd in optimizers.items():
        if not isinstance(sd, dict) or not isinstance(sd.get("state"), dict) or not isinstance(sd.get("param_groups"), list):
            raise ValueError(f"optimiser {name!r} needs 'state' and 'param_groups'")
        for group in sd["param_groups"]:
            if not isinstance(group, dict) or not all(isinstance(i, int) for i in group.get("params", [None])):
                raise ValueError(f"optimiser {name!r} has a malformed parameter group")
        for values in sd["state"].values():
            if not isinstance(values, dict) or not all(isinstance(v, (torch.Tensor, int, float)) for v in values.values()):
                raise ValueError(f"optimiser {name!r} has a malformed parameter state")


# ----------------------------------------------------------------------------- save


def save(run_dir: Path, players, state: dict) -> Path:
    from safetensors.torch import save_file

    final, prev, tmp = run_dir / NAME, run_dir / GENERATIONS[1], run_dir / f"{NAME}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    make_dirs(tmp)
    players.save_adapters(tmp / "adapters")
    tensors: dict = {}
    trainer = {"format": FORMAT, "optimizers": _encode(players.optimizer_state(), tensors), "rng": _encode(rng_state(), tensors)}
    save_file(tensors, str(tmp / "tensors.safetensors"))
    atomic_write_json(tmp / "trainer.json", trainer)
    atomic_write_json(tmp / "state.json", state)
    _fsync_tree(tmp)
    atomic_write_json(tmp / MANIFEST, {"format": FORMAT, "files": {rel: file_digest(tmp / rel) for rel in _files(tmp)}})
    if final.exists():
        shutil.rmtree(prev, ignore_errors=True)
        os.replace(final, prev)
        fsync_dir(run_dir)
    os.replace(tmp, final)
    fsync_dir(run_dir)
    return final


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def _fsync_tree(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            fsync_dir(path)
        else:
            with path.open("rb") as f:
                os.fsync(f.fileno())


# ----------------------------------------------------------------------------- locate and load


def exists(run_dir: Path) -> bool:
    """Whether the folder holds a checkpoint of any generation, intact or not."""
    return any((run_dir / name).exists() for name in GENERATIONS)


def load_latest(run_dir: Path, state_type: type, warn: Callable[[str], None] | None = None) -> tuple | None:
    """(path, game state as a `state_type`, {"optimizers", "rng"}) of the newest intact
    checkpoint, or None if the folder has none. A damaged newer generation is skipped with a
    warning; when every generation is damaged, the newest one's problem is raised."""
    problems = []
    for name in GENERATIONS:
        path = run_dir / name
        if not path.exists():
            continue
        try:
            state, trainer = load(path, state_type)
        except InputError as e:
            problems.append(e)
            continue
        for problem in problems:
            if warn is not None:
                warn(f"{problem}; resuming from the previous checkpoint {path}")
        return path, state, trainer
    if problems:
        raise problems[0]
    return None


def load(path: Path, state_type: type) -> tuple:
    """(game state, {"optimizers", "rng"}) from one checkpoint folder, verified against its
    manifest first; any value of the wrong type or shape is an InputError naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    verify(path)
    state = _game_state(read_json(path / "state.json"), state_type, path / "state.json")
    try:
        tensors = load_file(str(path / "tensors.safetensors"))
    except SafetensorError as e:
        raise InputError(f"unreadable tensors ({e})", path=path / "tensors.safetensors") from None
    raw = read_json(path / "trainer.json")
    try:
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError(f"not format {FORMAT}")
        trainer = {"optimizers": _decode(raw["optimizers"], tensors), "rng": _decode(raw["rng"], tensors)}
        _check_optimizers(trainer["optimizers"])
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"malformed optimiser or RNG state ({e})", path=path / "trainer.json") from None
    return state, trainer


def verify(path: Path) -> None:
    """Raise InputError unless `path` is a complete checkpoint exactly as `save` wrote it: the
    manifest's files and no other, each of the recorded size and hash."""
    if (path / "trainer_state.pt").exists():
        raise InputError("written by an older advfc (a pickled trainer_state.pt, never loaded); start a new run", path=path)
    manifest_path = path / MANIFEST
    manifest = read_json(manifest_path, limit=1 << 20)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"not a format-{FORMAT} checkpoint manifest", path=manifest_path)
    files = manifest.get("files")
    if not isinstance(files, dict) or not REQUIRED <= set(files) or not set(files) <= ALLOWED:
        raise InputError("the manifest does not list the files of a checkpoint", path=manifest_path)
    unexpected = set(_files(path)) - set(files) - {MANIFEST}
    if unexpected:
        raise InputError(f"holds files advfc did not write: {', '.join(sorted(unexpected))}", path=path)
    for rel, recorded in files.items():
        file = path / rel
        if not file.is_file():
            raise InputError("missing", path=file)
        if file_digest(file) != recorded:
            raise InputError("damaged (its size or SHA-256 differs from the manifest)", path=file)


def _game_state(data, state_type: type, path: Path):
    """`state_type(**data)` once every field is of its declared type (strictly: no `true` for a
    number, no string for a list); a field with a default may be missing (an older checkpoint)."""
    from pydantic import TypeAdapter, ValidationError

    hints = typing.get_type_hints(state_type)
    fields = dataclasses.fields(state_type)
    needed = {f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    if not isinstance(data, dict) or not needed <= set(data) <= {f.name for f in fields}:
        raise InputError(f"malformed game state: expected the fields {', '.join(f.name for f in fields)}", path=path)
    for name in data:
        try:
            TypeAdapter(hints[name]).validate_python(data[name], strict=True)
        except ValidationError as e:
            raise InputError(f"malformed game state: {name}: {e.errors()[0]['msg']}", path=path) from None
    return state_type(**data)

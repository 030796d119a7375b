"""Crash-safe file I/O: every artifact is written to a temp file and renamed into place, and
append-only JSONL logs survive a kill in the middle of a write."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import InputError


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes files owner-only
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg}, column {e.colno})", path=path, where=e.lineno) from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, record) for every non-blank line; a bad line is an InputError naming it."""
    path = Path(path)
    try:
        f = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON ({e.msg}, column {e.colno})", path=path, where=lineno) from None


def read_jsonl(path: str | Path) -> list[Any]:
    return [record for _, record in iter_jsonl(path)]


def write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def append_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Append records in one write and fsync, so a batch is either on disk or (after repair) gone."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if not data:
        return 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return data.count("\n")


def repair_jsonl(path: str | Path, keep_lines: int | None = None) -> int:
    """Drop a torn last line left by a kill mid-write, and optionally everything after `keep_lines`
    complete lines (the offset a checkpoint recorded). Returns the number of lines kept."""
    path = Path(path)
    if not path.exists():
        return 0
    raw = path.read_bytes()
    end = raw.rfind(b"\n") + 1
    if keep_lines is not None:
        pos = 0
        for _ in range(keep_lines):
            nxt = raw.find(b"\n", pos, end)
            if nxt < 0:
                break
            pos = nxt + 1
        end = pos
    if end != len(raw):
        with path.open("r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    return raw[:end].count(b"\n")

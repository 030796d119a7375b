"""Crash-safe file I/O and bounded readers.

Writes: every artifact goes to a temp file in the target's folder (created with mode 0o666, so
the umask applies as for any file; the process umask is never touched), is fsync'd, renamed into
place, and the folder is fsync'd so the rename survives a power cut. Appends to JSONL logs are
all-or-nothing within a process: a failed write (a full disk) is cut back off before the error
propagates; a kill in the middle of a write leaves a torn last line that `repair_jsonl` removes.

Reads: a file is read as UTF-8, a JSONL line is at most `MAX_LINE_BYTES`, JSON is nested at most
`MAX_DEPTH` deep; anything else (a missing file, a folder, undecodable bytes) is an `InputError`
naming the file and line, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import InputError

MAX_LINE_BYTES = 8 << 20  # the longest JSONL line read (BFCL's longest is 24 KB)
MAX_DEPTH = 64  # JSON nesting (BFCL's deepest is 12); deeper input is refused, not recursed into
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

# ----------------------------------------------------------------------------- writing


def fsync_dir(path: str | Path) -> None:
    """Make renames and new entries in a folder durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: str | Path) -> None:
    """`mkdir -p` that fsyncs the parent of every folder it creates."""
    path = Path(path)
    if path.is_dir():
        return
    make_dirs(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        if not path.is_dir():
            raise InputError("exists and is not a folder", path=path) from None
        return
    fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    make_dirs(path.parent)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o666)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _jsonl(records: Iterable[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    atomic_write_bytes(path, _jsonl(records))


def append_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Append records in one write and fsync. If the write fails (ENOSPC, an interrupt), the file
    is cut back to its previous length before the error propagates, so a batch is on disk whole or
    not at all; only a kill mid-write can leave a torn last line (see `repair_jsonl`)."""
    data = _jsonl(records)
    if not data:
        return 0
    path = Path(path)
    make_dirs(path.parent)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_CLOEXEC, 0o666)
    try:
        start = os.fstat(fd).st_size
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, start)
            os.fsync(fd)
            raise
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)
    return data.count(b"\n")


# ----------------------------------------------------------------------------- reading


def _open(path: Path):
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected a file", path=path) from None
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror or e})", path=path) from None


def read_bytes(path: str | Path, *, limit: int | None = None) -> bytes:
    """A file's bytes; a missing file, a folder, an unreadable or (with `limit`) too large file
    is an InputError."""
    path = Path(path)
    with _open(path) as f:
        if limit is None and not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InputError("is not a regular file", path=path)
        raw = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise InputError(f"is larger than the {_size(limit)} limit", path=path)
    return raw


def decode_utf8(raw: bytes, *, path: str | Path | None = None, where: str | int | None = None) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        column = f", column {e.start + 1}" if where is not None else f" at byte {e.start}"
        raise InputError(f"not UTF-8 text (byte 0x{raw[e.start]:02x}{column})", path=path, where=where) from None


def read_text(path: str | Path, *, limit: int | None = None) -> str:
    return decode_utf8(read_bytes(path, limit=limit), path=path)


def check_depth(obj: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `obj` nests lists/objects at most `limit` deep (iteratively: no recursion)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return False
        stack.extend((v, depth + 1) for v in value)
    return True


def parse_json(
    text: str, *, path: str | Path | None = None, where: str | int | None = None, what: str | None = None
) -> Any:
    """`json.loads` whose every failure (syntax, nesting, an integer too long to convert) is an
    InputError naming the file, the line and, with `what`, the field."""
    invalid = f"{what} is not valid JSON" if what else "invalid JSON"
    try:
        obj = json.loads(text)
        deep_enough = check_depth(obj)
    except json.JSONDecodeError as e:
        at = f"column {e.colno}" if where is not None else f"line {e.lineno} column {e.colno}"
        raise InputError(f"{invalid} ({e.msg}, {at})", path=path, where=where) from None
    except RecursionError:
        deep_enough = False
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise InputError(f"{invalid} ({e})", path=path, where=where) from None
    if not deep_enough:
        raise InputError(f"{what or 'JSON'} nested deeper than {MAX_DEPTH} levels", path=path, where=where)
    return obj


def file_digest(path: str | Path) -> dict:
    """Size and sha256 of a file (read in blocks: checkpoints hold large ones), as manifests record them."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"bytes": Path(path).stat().st_size, "sha256": h.hexdigest()}


def read_json(path: str | Path, *, limit: int | None = None) -> Any:
    return parse_json(read_text(path, limit=limit), path=path)


def _lines(raw_lines: Iterable[bytes], path: Path, max_line: int) -> Iterator[tuple[int, Any]]:
    for lineno, raw in enumerate(raw_lines, 1):
        if len(raw) > max_line:
            raise InputError(f"line longer than the {_size(max_line)} limit", path=path, where=lineno)
        line = decode_utf8(raw, path=path, where=lineno)
        if line.strip():
            yield lineno, parse_json(line, path=path, where=lineno)


def iter_jsonl(path: str | Path, *, max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, Any]]:
    """Yield (line number, record) for every non-blank line; a bad line is an InputError naming it."""
    path = Path(path)
    with _open(path) as f:
        yield from _lines(iter(lambda: f.readline(max_line + 1), b""), path, max_line)


def read_jsonl(path: str | Path, **kwargs) -> list[Any]:
    return [record for _, record in iter_jsonl(path, **kwargs)]


def repair_jsonl(
    path: str | Path, keep_lines: int | None = None, *, check: Callable[[Any], str | None] | None = None
) -> int:
    """Drop a torn last line left by a kill mid-write, and optionally everything after `keep_lines`
    complete lines (the offset a checkpoint recorded). Returns the number of lines kept.

    The file is validated before it is touched: every complete line must be a JSON object that
    `check` accepts (it returns an error message or None), and an unterminated last line must
    look like a torn record; anything else is an InputError and the file is left as it was, so a
    path that is not one of advfc's logs is never cut."""
    path = Path(path)
    if not path.exists():
        return 0
    raw = read_bytes(path)
    end = raw.rfind(b"\n") + 1
    lines = [line + b"\n" for line in raw[:end].split(b"\n")[:-1]]
    try:
        for lineno, record in _lines(lines, path, MAX_LINE_BYTES):
            problem = "expected a JSON object" if not isinstance(record, dict) else check(record) if check else None
            if problem:
                raise InputError(problem, path=path, where=lineno)
        if end < len(raw) and not _torn(raw[end:], check):
            raise InputError("the last line is neither a record nor a torn one", path=path, where=len(lines) + 1)
    except InputError as e:
        raise InputError(f"{e.message}; not an advfc log, left untouched", path=path, where=e.where) from None
    if keep_lines is not None:
        end = len(b"".join(lines[:keep_lines]))
    if end != len(raw):
        with path.open("r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    return raw[:end].count(b"\n")


def _torn(tail: bytes, check) -> bool:
    """A record cut short by a kill: the start of a JSON object that does not parse, or a whole
    record the kill separated from its newline."""
    if not tail.startswith(b"{"):
        return False
    try:
        record = json.loads(tail)
    except (ValueError, RecursionError):
        return True
    return isinstance(record, dict) and not (check and check(record))


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


# ----------------------------------------------------------------------------- output paths


def check_output(path: str | Path, *, what: str, ours: Callable[[Path], bool], inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse-before-touch for a command's output: it may not be one of the command's inputs, and
    an existing path is replaced only if `ours(path)` says it is what the command writes (`what`).
    Called before any work, so a refused command has changed nothing."""
    path = Path(path)
    for source in inputs:
        if Path(source).exists() and path.exists() and os.path.samefile(path, source):
            raise InputError("is also an input of this command; choose another output path", path=path)
    if path.exists() and not ours(path):
        raise InputError(f"exists and is not {what}; refusing to replace it (remove it or choose another path)", path=path)
    return path


def first_record(path: Path) -> Any:
    """The first JSON line of a file (None if it is empty, unreadable or not JSON)."""
    try:
        return next((record for _, record in iter_jsonl(path)), None)
    except InputError:
        return None


def is_jsonl_of(path: Path, keys: Iterable[str]) -> bool:
    """An empty file, or JSONL whose first record is an object with `keys`."""
    if not path.is_file():
        return False
    record = first_record(path)
    return path.stat().st_size == 0 or isinstance(record, dict) and set(keys) <= set(record)


def is_folder_of(path: Path, markers: Iterable[str]) -> bool:
    """An empty folder, or one holding every one of `markers`."""
    return path.is_dir() and (not any(path.iterdir()) or all((path / m).exists() for m in markers))

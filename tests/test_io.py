import errno
import json
import os
from pathlib import Path

import pytest

from advfc.errors import InputError
from advfc.io import append_jsonl, atomic_write_json, iter_jsonl, read_json, repair_jsonl


def test_atomic_write_leaves_no_temp_and_normal_permissions(tmp_path):
    path = tmp_path / "a" / "x.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"a": 2})
    assert read_json(path) == {"a": 2} and os.listdir(path.parent) == ["x.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask


def test_append_and_repair(tmp_path):
    path = tmp_path / "log.jsonl"
    assert append_jsonl(path, [{"i": 0}, {"i": 1}]) == 2 and append_jsonl(path, []) == 0
    with path.open("a") as f:
        f.write('{"i": 2')
    with pytest.raises(InputError, match=r"log.jsonl:3: invalid JSON"):
        list(iter_jsonl(path))
    assert repair_jsonl(path) == 2
    append_jsonl(path, [{"i": 2}])
    assert repair_jsonl(path, keep_lines=1) == 1 and [r for _, r in iter_jsonl(path)] == [{"i": 0}]
    assert repair_jsonl(tmp_path / "missing.jsonl") == 0


def full_disk_after(monkeypatch, n_bytes: int):
    """`os.write` that writes `n_bytes` in all, then fails as a full disk does."""
    real, left = os.write, [n_bytes]

    def write(fd, data):
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real(fd, bytes(data[: left[0]]))
        left[0] -= n
        return n

    monkeypatch.setattr(os, "write", write)


def test_a_full_disk_leaves_no_part_of_an_appended_batch(tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    append_jsonl(path, [{"i": 0}])
    before = path.read_bytes()
    full_disk_after(monkeypatch, 20)  # the batch below is longer: it is cut mid-record
    with pytest.raises(OSError, match="No space left"):
        append_jsonl(path, [{"i": 1, "pad": "x" * 40}, {"i": 2}])
    assert path.read_bytes() == before


def test_a_full_disk_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    atomic_write_json(path, {"old": True})
    full_disk_after(monkeypatch, 5)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_json(path, {"new": "x" * 100})
    assert read_json(path) == {"old": True} and os.listdir(tmp_path) == ["x.json"]


def test_a_full_disk_in_a_command_is_one_line_exit_1(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("ADVFC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "r.jsonl").write_text(json.dumps({"id": "simple_python_0", "result": "[f(a=1)]"}) + "\n")
    full_disk_after(monkeypatch, 0)
    code, _, err = cli("score", "--category", "simple_python", "--results", tmp_path / "r.jsonl", "--out", tmp_path / "v.jsonl")
    (line,) = err.strip().splitlines()
    assert code == 1 and "No space left on device" in line and not (tmp_path / "v.jsonl").exists()


def test_writes_never_touch_the_umask_and_sync_the_folder_after_renaming(tmp_path, monkeypatch):
    def no_umask(mask):
        raise AssertionError("os.umask changes process state other threads see")

    events, real_fsync, real_replace = [], os.fsync, os.replace
    monkeypatch.setattr(os, "umask", no_umask)
    monkeypatch.setattr(os, "replace", lambda a, b: (real_replace(a, b), events.append(("replace", Path(b).parent)))[0])
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.fstat(fd).st_ino)), real_fsync(fd))[1])
    atomic_write_json(tmp_path / "a" / "x.json", {"a": 1})
    append_jsonl(tmp_path / "b" / "y.jsonl", [{"a": 1}])
    i = events.index(("replace", tmp_path / "a"))
    assert ("fsync", (tmp_path / "a").stat().st_ino) in events[i:]  # the rename itself is durable
    assert ("fsync", (tmp_path / "b").stat().st_ino) in events  # so is a new log's folder entry

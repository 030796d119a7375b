import os

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

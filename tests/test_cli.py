"""The command line: help, data commands, exports `datasets` can load, and exit code 2 on bad input."""

import subprocess
import sys

import pytest

from advfc.models import resolve_model


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "advfc.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("data", "model"):
        assert command in out


def test_data_list_and_show(cli):
    code, out, _ = cli("data", "list")
    assert code == 0 and "live_multiple" in out and "1053" in out
    code, out, _ = cli("data", "show", "simple_python_0", "--prompt")
    assert code == 0 and "calculate_triangle_area(base=10, height=5" in out and "You are an expert" in out


def test_unknown_id_and_category_exit_2(cli, tmp_path):
    code, _, err = cli("data", "show", "simple_python_99999")
    assert code == 2 and "not in the installed BFCL data" in err
    code, _, err = cli("data", "export", "--categories", "nope", "--out", tmp_path / "x.jsonl")
    assert code == 2 and "unknown BFCL category 'nope'" in err


@pytest.mark.parametrize("fmt", ["jsonl", "hf"])
def test_export_loads_with_datasets(cli, tmp_path, fmt):
    import datasets

    out = tmp_path / ("train.jsonl" if fmt == "jsonl" else "train_ds")
    code, _, _ = cli("data", "export", "--categories", "live_simple,live_irrelevance", "--side", "train", "--format", fmt, "--out", out)
    assert code == 0
    ds = datasets.load_dataset("json", data_files=str(out), split="train") if fmt == "jsonl" else datasets.load_from_disk(str(out))
    from advfc.data import Example
    from advfc.split import load_split

    split = load_split()
    assert len(ds) == len(split.train["live_simple"]) + len(split.train["live_irrelevance"])
    assert Example.from_dict(ds[0]).id == ds[0]["id"]


def test_missing_model_path_is_an_input_error(cli, tmp_path):
    from advfc.errors import InputError

    with pytest.raises(InputError, match="model path does not exist"):
        resolve_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a model folder"):
        resolve_model(str(tmp_path / "empty"))


def test_hub_id_offline_fails_fast(monkeypatch):
    from advfc.models import load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from advfc.errors import InputError

    with pytest.raises(InputError, match="could not load the model"):
        load_model("someone/not-cached-model")


def test_bad_flag_value_and_unknown_command_exit_2(cli):
    code, _, err = cli("data", "split", "--seed", "x")
    assert code == 2 and "Invalid value for '--seed'" in err
    code, _, err = cli("data", "splt")
    assert code == 2 and "No such command" in err

"""Configs: YAML and flags share one schema; every error names the file, line and field."""

from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from advfc.config import BaseConfig
from advfc.errors import InputError


class DemoConfig(BaseConfig):
    lr: float = Field(1e-4, gt=0, description="Learning rate.")
    categories: list[str] = Field(default_factory=lambda: ["simple_python"])
    mode: Literal["zero_sum", "frontier"] = "zero_sum"
    out: Path = Path("runs/x")


def test_yaml_then_flags(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("lr: 0.5\ncategories: multiple, parallel\n")
    cfg = DemoConfig.load(p, mode="frontier")
    assert (cfg.lr, cfg.categories, cfg.mode) == (0.5, ["multiple", "parallel"], "frontier")
    assert DemoConfig.load(p, lr=0.1).lr == 0.1


def test_unknown_field_names_file_and_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("lr: 0.5\n\nlearning_rate: 3\n")
    with pytest.raises(InputError) as e:
        DemoConfig.load(p)
    assert str(e.value) == f"{p}: unknown field 'learning_rate' (line 3)"


def test_bad_value_names_field_line_and_expectation(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("mode: minimax\nlr: -1\n")
    msg = str(pytest.raises(InputError, DemoConfig.load, p).value)
    assert "field 'mode' (line 1): Input should be 'zero_sum' or 'frontier', got 'minimax'" in msg
    assert "field 'lr' (line 2): Input should be greater than 0" in msg


def test_bad_flag_is_named_as_flag():
    msg = str(pytest.raises(InputError, DemoConfig.load, None, lr="fast").value)
    assert "field 'lr' (flag --lr)" in msg


def test_invalid_yaml_and_missing_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("lr: [1, 2\n")
    assert "invalid YAML" in str(pytest.raises(InputError, DemoConfig.load, p).value)
    p.write_text("- a\n- b\n")
    assert "must be a mapping" in str(pytest.raises(InputError, DemoConfig.load, p).value)
    assert "config file not found" in str(pytest.raises(InputError, DemoConfig.load, tmp_path / "nope.yaml").value)


def test_cli_config_command_exit_code_2(cli, tmp_path):
    p = tmp_path / "split.yaml"
    p.write_text("seed: 1\nholdout: 0.3\n")
    code, _, err = cli("data", "split", "--config", p, "--out", tmp_path / "s.json")
    assert code == 2 and "unknown field 'holdout' (line 2)" in err and "Traceback" not in err
    p.write_text("seed: 1\nholdout_fraction: 0.3\n")
    code, out, _ = cli("data", "split", "--config", p, "--out", tmp_path / "s.json")
    assert code == 0 and (tmp_path / "s.json").exists()

"""Shared test setup: no hub, quiet tokenizers, and helpers to run the CLI in-process."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture
def cli(capsys):
    """Run `advfc ...` in-process; returns (exit code, stdout, stderr)."""
    from advfc.cli import main

    def run(*args: str):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(scope="session")
def tiny_model_path():
    from advfc.models import prepare_tiny

    return str(prepare_tiny())


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One uninterrupted run of configs/smoke.yaml, shared by the tests that read a run folder: its
    artifacts are checked, the kill test must end with the same buffer and rounds, and its trained
    query adapter attacks other models."""
    from pathlib import Path

    from advfc.cli import main

    run = tmp_path_factory.mktemp("runs") / "smoke"
    config = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"
    assert main(["train", "--config", str(config), "--output-dir", str(run)]) == 0
    return run

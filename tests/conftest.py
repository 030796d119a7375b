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

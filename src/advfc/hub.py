"""The Hugging Face hub boundary: fail fast with a clear message when it cannot be reached."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from .errors import InputError


def hub_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def check_hub(name: str, what: str) -> None:
    """Raise at once, instead of a long retry loop, when a hub id cannot possibly be fetched.
    With HF_HUB_OFFLINE set, the libraries themselves read the local cache (and fail fast)."""
    if not hub_offline() and not hub_reachable():
        raise InputError(
            f"{what} {name!r} is not a local path and the Hugging Face hub is unreachable; "
            "pass a local path, or set HF_HUB_OFFLINE=1 to use the local hub cache"
        )


def load_hub_dataset(name: str, split: str = "train"):
    check_hub(name, "dataset")
    from datasets import load_dataset

    try:
        return load_dataset(name, split=split)
    except Exception as e:  # the datasets library raises many types for "not available"
        raise InputError(f"could not load dataset {name!r} from the hub or its cache: {e}") from None

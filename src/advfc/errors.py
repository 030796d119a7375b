"""The one exception type that reaches the user as a message instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input from the user (config, data, model path, endpoint): the CLI prints it and exits 2.

    `where` names the file and, when known, the line or record id, so the message alone is enough
    to find and fix the problem.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, where: str | int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.where = where
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = ""
        if self.path:
            prefix = self.path
            if self.where is not None:
                prefix += f":{self.where}" if isinstance(self.where, int) else f" ({self.where})"
            prefix += ": "
        elif self.where is not None:
            prefix = f"{self.where}: "
        return prefix + self.message

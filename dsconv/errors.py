"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""

from __future__ import annotations

from pathlib import Path


class DsconvError(Exception):
    """A problem with the user's input or environment, shown without a traceback."""


class InputError(DsconvError):
    """Bad input data, located as precisely as we can: file, then place inside it."""

    def __init__(self, file: str | Path, reason: str, where: str | None = None) -> None:
        self.file = str(file)
        self.where = where
        self.reason = reason
        place = f"{self.file}:{where}" if where else self.file
        super().__init__(f"{place}: {reason}")

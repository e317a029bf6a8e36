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


class NoAnnotationsError(DsconvError):
    """A folder in which a reader finds none of its format's annotation files: converting it
    would give a dataset with no objects, so the reader refuses it and says what it looked
    for. The CLI adds what other formats the folder looks like (`dsconv.converters.detect`)."""

    def __init__(self, src: str | Path, fmt: str, looked_for: str) -> None:
        self.src = str(src)
        self.format = fmt
        self.looked_for = looked_for
        super().__init__(f"{self.src}: no {fmt} annotations found (looked for {looked_for})")

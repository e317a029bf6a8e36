"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import dsconv.cli  # noqa: F401  (registers every command on the app)
from dsconv.cli.app import app


def run_cli(*args: str | Path):
    """Invoke the CLI in-process; exceptions stay on the result for the test to inspect."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)

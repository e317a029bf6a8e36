"""Command-line entry point: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import sys

from rich.markup import escape

from dsconv.cli import convert, docs, inspect, publish, sample, score, validate  # noqa: F401  (registers commands)
from dsconv.cli.app import State, app, err_console
from dsconv.errors import DsconvError


def main() -> None:
    try:
        app()
    except DsconvError as exc:
        if State.debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                          soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)

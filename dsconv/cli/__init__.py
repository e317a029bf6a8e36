"""Command-line entry point: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import sys
from importlib import import_module

from rich.markup import escape

from dsconv.cli.app import State, app, err_console
from dsconv.cli.memory import keep_large_blocks_mapped
from dsconv.errors import DsconvError

# Each module registers its commands on `app`; the help lists panels in this order.
COMMAND_MODULES = ("convert", "docs", "merge", "validate", "inspect", "publish", "train",
                   "evaluate", "score", "sample", "catalog")
for _module in COMMAND_MODULES:
    import_module(f"dsconv.cli.{_module}")


def main() -> None:
    keep_large_blocks_mapped()
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

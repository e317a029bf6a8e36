"""Command-line entry point: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import NoReturn

from rich.markup import escape

from dsconv.cli.app import State, app, err_console
from dsconv.cli.memory import keep_large_blocks_mapped
from dsconv.errors import DsconvError

# Each module registers its commands on `app`; the help lists panels in this order.
COMMAND_MODULES = ("convert", "detect", "docs", "merge", "validate", "inspect", "publish", "train",
                   "evaluate", "score", "sample", "catalog")
for _module in COMMAND_MODULES:
    import_module(f"dsconv.cli.{_module}")


OUT_OF_MEMORY = ("out of memory; try a smaller input or tighter limits (--max-image-bytes, "
                 "--max-image-size, fewer --workers, --max-items or a split at a time)")


def main() -> None:
    """Run the app; errors a user can act on are one line on stderr and exit 1 (the
    traceback with --debug). Whatever was being written is removed as the error unwinds."""
    keep_large_blocks_mapped()
    try:
        app()
    except DsconvError as exc:
        _fail(exc, str(exc))
    except MemoryError as exc:
        _fail(exc, OUT_OF_MEMORY)
    except RecursionError as exc:
        _fail(exc, "input nested too deeply to read")
    except OSError as exc:  # the disk is full, a folder is not writable, …
        _fail(exc, os_error_message(exc))
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)


def os_error_message(exc: OSError) -> str:
    """`path: reason` from an OSError, on one line."""
    reason = exc.strerror or " ".join(str(exc).split()) or exc.__class__.__name__
    names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{' → '.join(names)}: {reason}" if names else reason


def _fail(exc: BaseException, message: str) -> NoReturn:
    if State.debug:
        raise exc
    err_console.print(f"[bold red]error:[/] {escape(' '.join(message.splitlines()))}",
                      highlight=False, soft_wrap=True)
    sys.exit(1)

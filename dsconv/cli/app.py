"""The typer application every command module registers on."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from dsconv.cli import help as _help


class Group(TyperGroup):
    """Typer's group, suggesting a command for a typo once. Typer adds "Did you mean …?" to
    the message, and click 8.4+ adds its own when typer lets click raise the error (typer
    0.20–0.24 with an installed click), so the user read the suggestion twice."""

    # `Any`: typer 0.2x types this with the click it vendors (`typer._click`), older typer with
    # click itself; an override in either's types breaks under the other.
    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:  # click's UsageError, or the one typer vendors
            if getattr(exc, "possibilities", None) and "Did you mean" in str(
                    getattr(exc, "message", "")):
                exc.possibilities = None  # type: ignore[attr-defined]  # typer's is enough
            raise


app = typer.Typer(
    cls=Group,
    name="dsconv",
    help="Turn labelled vision data into VQA datasets, fine-tune small VLMs on them, score them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
_help.install()

# Help panels, in the order a user meets them.
CONVERT = "Convert"
INSPECT = "Inspect and check"
PUBLISH = "Publish and export"
MODEL = "Train and score"
MORE = "Samples and lists"
err_console = Console(stderr=True)


class State:
    debug: bool = False


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    State.debug = debug


def progress(items, total, label):  # a dsconv.progress.Progress
    """A rich progress bar over an iterable; quiet when stderr is not a terminal."""
    from rich.progress import track

    return track(items, total=total, description=f"{label:>10}", console=err_console,
                 transient=True, disable=not err_console.is_terminal)

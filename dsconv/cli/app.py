"""The typer application every command module registers on."""

from __future__ import annotations

import typer
from rich.console import Console

from dsconv.cli import help as _help

app = typer.Typer(
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


def progress(items, total, label):  # matches dsconv.pipeline.convert.Progress
    """A rich progress bar over an iterable; quiet when stderr is not a terminal."""
    from rich.progress import track

    return track(items, total=total, description=f"{label:>10}", console=err_console,
                 transient=True, disable=not err_console.is_terminal)

"""Option tables that read at 80 columns.

typer's rich help puts each option in five columns (name, short name, negative name, type,
help); at 80 columns the name column is cut (`--allow-outside…`), flags show a `<bool>`
placeholder and the help is squeezed into a third of the width. dsconv's table has two
columns: the option as it is typed (`--max-image-size PIXELS`, never cut) and its help with
the default and `[required]`. Installed over typer's panel renderer when the CLI is imported;
if a typer release renames it, help falls back to typer's own layout (and
`tests/cli/test_help.py` fails, saying so).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer import rich_utils


def option_label(param: Any, ctx: Any) -> str:
    """The option as a user types it: every name, then what it takes (nothing for a flag)."""
    if getattr(param, "param_type_name", "") == "argument":
        return str(param.metavar or param.name).upper()
    names = sorted(param.opts, key=lambda o: (not o.startswith("--"), o))
    label = ", ".join(names)
    if param.secondary_opts:
        label += " / " + ", ".join(param.secondary_opts)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return label
    return f"{label} {_metavar(param, ctx)}"


def _metavar(param: Any, ctx: Any) -> str:
    """The option's METAVAR, or its type as one word: `<int range>` → INT, `<a|b>` → [a|b]."""
    if param.metavar:
        return str(param.metavar)
    shown = str(param.display_type_rich(ctx) or "value").strip("<>").removesuffix("...")
    if "|" in shown:
        return f"[{shown}]"
    word = shown.removesuffix(" range").removeprefix("list[").removesuffix("]")
    return word.upper() + ("..." if shown.startswith("list[") else "")


def _print_options_panel(
    *, name: str, params: list[Any], ctx: Any, markup_mode: Any, console: Console,
) -> None:
    table = Table(show_header=False, box=None, expand=True, padding=(0, 1), pad_edge=False)
    table.add_column(no_wrap=True, style=rich_utils.STYLE_OPTION)
    table.add_column(ratio=1)
    for param in params:
        table.add_row(Text(option_label(param, ctx)), rich_utils._get_parameter_help(
            param=param, ctx=ctx, markup_mode=markup_mode))
    if params:
        console.print(Panel(table, border_style=rich_utils.STYLE_OPTIONS_PANEL_BORDER,
                            title=name, title_align=rich_utils.ALIGN_OPTIONS_PANEL))


def install() -> None:
    """Use the two-column option table for every command's help."""
    if hasattr(rich_utils, "_print_options_panel") and hasattr(rich_utils,
                                                               "_get_parameter_help"):
        rich_utils._print_options_panel = _print_options_panel

"""`dsconv formats` and `dsconv tasks`: what this installation can read and ask."""

from __future__ import annotations

from rich.table import Table

from dsconv.cli.app import MORE, app, console
from dsconv.converters.registry import available, get_reader
from dsconv.tasks.base import all_tasks


@app.command("formats", rich_help_panel=MORE)
def formats() -> None:
    """List the source formats installed (built in and from plugins).

    Example: [bold]dsconv formats[/]
    """
    table = Table("format", "reader", "description")
    for name, target in available().items():
        reader = get_reader(name)
        table.add_row(name, target, getattr(reader, "description", ""))
    console.print(table)


@app.command("tasks", rich_help_panel=MORE)
def tasks() -> None:
    """List the question/answer templates.

    Example: [bold]dsconv tasks[/]
    """
    table = Table("task", "what it asks", "phrasings")
    for item in all_tasks():
        table.add_row(item.name, item.summary, str(len(item.prompts) or "-"))
    console.print(table)

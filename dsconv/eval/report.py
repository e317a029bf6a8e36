"""metrics.json as rich tables: the headline numbers, then per task and per class."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

_UNMATCHED = (
    ("missing", "missing_ids", "rows have no prediction, scored as wrong"),
    ("unknown_ids", "unknown_ids", "predictions match no row, ignored"),
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def _by_row(title: str, key: str, rows: dict[str, dict[str, Any]]) -> Table:
    columns = list(dict.fromkeys(name for values in rows.values() for name in values))
    table = Table(title=title, title_justify="left")
    table.add_column(key)
    for name in columns:
        table.add_column(escape(name), justify="right")
    for label, values in rows.items():
        table.add_row(escape(label), *(_cell(values.get(name)) for name in columns))
    return table


def _by_column(title: str, columns: dict[str, dict[str, Any]]) -> Table:
    """Metrics down, breakdowns across: tasks are few and their metric names many."""
    names = list(dict.fromkeys(name for values in columns.values() for name in values))
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for label in columns:
        table.add_column(escape(label), justify="right")
    for name in names:
        table.add_row(escape(name), *(_cell(values.get(name)) for values in columns.values()))
    return table


def metrics_tables(metrics: dict[str, Any]) -> list[Table]:
    """One table of the flat numbers, one per breakdown present (per task, per class)."""
    summary = Table(title="Scores", title_justify="left")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for name, value in metrics.items():
        if isinstance(value, int | float):
            summary.add_row(name, _cell(value))
    tables = [summary, _by_column("Per task", metrics["per_task"])]
    if metrics.get("per_class"):
        tables.append(_by_row("Per class", "class", metrics["per_class"]))
    return tables


def print_report(metrics: dict[str, Any], console: Console) -> None:
    for table in metrics_tables(metrics):
        console.print(table)
    examples = metrics.get("examples", {})
    for key, example_key, what in _UNMATCHED:
        if metrics.get(key):
            shown = ", ".join(examples.get(example_key, []))
            console.print(
                f"[yellow]warning:[/] {metrics[key]} {what} (e.g. {shown})", highlight=False
            )
    if metrics.get("unknown_classes"):
        names = ", ".join(metrics["unknown_classes"])
        console.print(f"[yellow]note:[/] answers named classes outside the vocabulary: {names}")

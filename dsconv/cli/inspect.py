"""`dsconv stats` and `dsconv preview`: what is in a dataset, as numbers and as pictures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dsconv.cli.app import INSPECT, app, console, err_console
from dsconv.errors import DsconvError

Dataset = Annotated[Path, typer.Argument(help="A dataset folder written by dsconv.")]
Split = Annotated[str | None, typer.Option(help="Only this split (default: every split).")]
BAR = 30
MAX_BUCKETS = 12


@app.command("stats", rich_help_panel=INSPECT)
def stats(
    dataset: Dataset, split: Split = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Rows, images, objects, classes, answer lengths and objects per image, per split.

    Example: [bold]dsconv stats out/coins-vqa[/]
    """
    from dsconv.inspect.stats import class_order, dataset_stats, stats_json

    numbers = dataset_stats(dataset, split)
    if as_json:
        typer.echo(json.dumps(stats_json(numbers), indent=2))
        return
    overview = Table(title=escape(str(dataset)))
    for column in ("split", "rows", "images", "objects", "tasks", "answer chars min/mean/max"):
        overview.add_column(column, justify="left" if column in ("split", "tasks") else "right")
    for name, s in numbers.items():
        overview.add_row(name, str(s.rows), str(s.images), str(s.objects),
                         escape(", ".join(f"{t}: {n}" for t, n in s.tasks.items())),
                         f"{s.answer_chars_min} / {s.answer_chars_mean:.1f} / {s.answer_chars_max}")
    console.print(overview)
    classes = class_order(numbers, _vocabulary(dataset))
    if classes:
        table = Table("class", *numbers, "total", title="objects per class")
        for count_column in table.columns[1:]:
            count_column.justify = "right"
        for name in classes:
            counts = [s.per_class.get(name, 0) for s in numbers.values()]
            table.add_row(escape(name), *map(str, counts), str(sum(counts)))
        console.print(table)
    if any(s.objects for s in numbers.values()):  # documents have no objects to count
        for name, s in numbers.items():
            if s.images:
                console.print(_histogram(name, s.objects_per_image))


def _histogram(split: str, counts: dict[int, int]) -> Table:
    table = Table("objects", "images", "", title=f"objects per image: {split}")
    table.columns[1].justify = "right"
    buckets = _buckets(counts)
    peak = max(buckets.values(), default=0) or 1
    for label, n in buckets.items():
        table.add_row(label, str(n), "█" * max(1 if n else 0, round(BAR * n / peak)))
    return table


def _buckets(counts: dict[int, int]) -> dict[str, int]:
    """Exact counts when few, else equal-width ranges, so a long tail stays readable."""
    if len(counts) <= MAX_BUCKETS:
        return {str(k): v for k, v in sorted(counts.items())}
    top = max(counts)
    width = math.ceil((top + 1) / MAX_BUCKETS)
    buckets: dict[str, int] = {}
    for start in range(0, top + 1, width):
        end = min(start + width - 1, top)
        label = str(start) if start == end else f"{start}–{end}"
        buckets[label] = sum(v for k, v in counts.items() if start <= k <= end)
    return buckets


@app.command("preview", rich_help_panel=INSPECT)
def preview(
    dataset: Dataset,
    split: Annotated[str | None, typer.Option(
        help="Split to show (default: the first; with --failures-file, every split).")] = None,
    n: Annotated[int, typer.Option("--max-items", min=1, help="How many rows to show.")] = 24,
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("preview.html"),
    png: Annotated[Path | None, typer.Option(help="Also write a contact sheet PNG.")] = None,
    failures: Annotated[Path | None, typer.Option(
        "--failures-file", help="Show the rows listed in a failures.jsonl from `dsconv score` "
        "or `dsconv eval`, expected vs predicted.")] = None,
) -> None:
    """Write a self-contained HTML page: each image with its boxes, question and answer.

    Example: [bold]dsconv preview out/coins-vqa --max-items 12 --png sheet.png[/]
    """
    from dsconv.inspect.preview import write_preview

    result = write_preview(dataset, split=split, n=n, out=out, png=png, failures=failures)
    if result.missing:
        err_console.print(f"[yellow]warning:[/] {len(result.missing)} failure ids not in "
                          + escape(f"{dataset}: {', '.join(result.missing[:5])}")
                          + (" …" if len(result.missing) > 5 else ""), highlight=False)
    console.print(escape(f"Wrote {result.html} ({result.shown} rows)"), highlight=False)
    if result.png is not None:
        console.print(escape(f"Wrote {result.png}"), highlight=False)


def _vocabulary(dataset: Path) -> list[str]:
    """The report's class order; without a readable report, classes by count (said so)."""
    from dsconv.storage.dataset import REPORT_FILE, read_report

    if not (dataset / REPORT_FILE).exists():
        return []
    try:
        classes = read_report(dataset).get("classes") or []
    except DsconvError as exc:
        err_console.print(f"[yellow]warning:[/] {escape(str(exc))}; classes in count order",
                          highlight=False, soft_wrap=True)
        return []
    return [str(c) for c in classes] if isinstance(classes, list) else []

"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from PIL import Image
from typer.testing import CliRunner

import dsconv.cli  # noqa: F401  (registers every command on the app)
from dsconv.cli.app import app
from dsconv.converters.base import DetectionSample, Ledger, ReaderOptions
from dsconv.schemas.report import SplitReport


def run_cli(*args: str | Path):
    """Invoke the CLI in-process; exceptions stay on the result for the test to inspect."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)


@dataclass
class MainResult:
    exit_code: int
    stdout: str
    stderr: str


def run_main(*args: str | Path) -> MainResult:
    """Run `dsconv.cli.main` in-process as the console script does (its error handling
    included), capturing what it prints."""
    from dsconv.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(sys, "argv", ["dsconv", *map(str, args)]):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return MainResult(code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: MainResult, *expected: str) -> str:
    """Exit 1, one line on stderr saying `error:` and each of `expected`, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def out_beside(src: Path) -> Path:
    """An output folder next to a source folder: OUT may not lie inside its source."""
    return src.with_name(f"{src.name}-out")


def convert_coins(tmp_path: Path, fmt: str) -> tuple[Path, dict[str, Any]]:
    """The coins sample written as `fmt`, converted and validated through the CLI: every
    object kept, nothing dropped. Returns the dataset folder and its report."""
    from dsconv.samples.coins import write_coins
    from dsconv.storage.dataset import read_report

    summary = write_coins(tmp_path / "src", images=12, seed=3, fmt=fmt)
    out = tmp_path / "vqa"
    command = [f"{fmt}-to-vqa"] if fmt in ("coco", "yolo", "voc") else ["convert", "--from", fmt]
    result = run_cli(*command, tmp_path / "src", out, "--noun", "currency")
    assert result.exit_code == 0, result.output
    result = run_cli("validate", out)
    assert result.exit_code == 0, result.output
    report = read_report(out)
    totals = {name: split["objects_kept"] for name, split in report["splits"].items()}
    assert totals == {"train": summary.objects["train"],
                      "validation": summary.objects["valid"], "test": summary.objects["test"]}
    assert report["drops"] == []
    return out, report


def write_image(
    path: Path, size: tuple[int, int] = (100, 50), fmt: str = "JPEG",
    color: tuple[int, int, int] = (90, 120, 150),
) -> Path:
    """A small real image file, its folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, fmt)
    return path


def write_text(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def read_all(
    reader_type: type, src: Path, options: ReaderOptions | None = None
) -> tuple[Any, Ledger, dict[str, list[DetectionSample]], dict[str, SplitReport]]:
    """Read every split the way a conversion does; the reports check that counts add up."""
    ledger = Ledger()
    reader = reader_type(src, ledger, options)
    samples = {split: list(reader.samples(split)) for split in reader.splits()}
    for items in samples.values():
        for sample in items:
            ledger.kept(sample, 1)
    return reader, ledger, samples, ledger.split_reports(reader.vocabulary().classes)


def break_one_row_per_task(
    dataset: Path, breakers: dict[str, Any], copy: Path
) -> tuple[Path, dict[int, str]]:
    """A copy of `dataset` whose first train row of each task in `breakers` has its answer
    replaced by `breakers[task](answer)`; returns the copy and {row index: task}, what
    `dsconv validate` must report."""
    import shutil

    import pyarrow.parquet as pq

    from dsconv.storage.dataset import shard_paths

    shutil.copytree(dataset, copy)
    path = shard_paths(copy, "train")["train"][0]
    table = pq.read_table(path)
    rows = table.to_pylist()
    broken: dict[int, str] = {}
    for index, row in enumerate(rows):
        if row["task"] in breakers and row["task"] not in broken.values():
            row["answer"] = breakers[row["task"]](row["answer"])
            row["answers"] = [row["answer"]]
            broken[index] = row["task"]
    pq.write_table(type(table).from_pylist(rows, schema=table.schema), path)
    return copy, broken

"""Every command that reads a dsconv dataset, handed something that is not one: one line on
stderr naming what is wrong, exit 1, never a traceback (`KeyError: 'task'` once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsconv.samples.coins import write_coins
from dsconv.samples.docs import write_docs
from tests.helpers import assert_one_line_error, run_main


def docs_source(folder: Path) -> Path:
    """A raw DocVQA-style source (Parquet in data/, other columns)."""
    write_docs(folder, documents=3, seed=0)
    return folder


def coco_source(folder: Path) -> Path:
    write_coins(folder, images=3, seed=0)
    return folder


def plain_parquet(folder: Path) -> Path:
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}),
                   folder / "data" / "train-00000-of-00001.parquet")
    return folder


def empty_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def plain_file(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a dataset\n")
    return folder


FOLDERS: dict[str, Callable[[Path], Path]] = {
    "docs source": docs_source, "coco source": coco_source, "plain parquet": plain_parquet,
    "empty folder": empty_folder, "plain file": plain_file,
}
COMMANDS: dict[str, Callable[[Path, Path], list[str | Path]]] = {
    "validate": lambda d, t: ["validate", d],
    "stats": lambda d, t: ["stats", d],
    "preview": lambda d, t: ["preview", d, "--out", t / "preview.html"],
    "export": lambda d, t: ["export", d, "--to", "jsonl", t / "export"],
    "card": lambda d, t: ["card", d],
    "push": lambda d, t: ["push", d, "me/repo", "--dry-run"],
    "merge": lambda d, t: ["merge", d, t / "merged"],
    "score": lambda d, t: ["score", t / "predictions.jsonl", "--dataset", d, "--split", "train"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", FOLDERS)
def test_a_folder_that_is_no_dataset_is_a_one_line_error(
    kind: str, command: str, tmp_path: Path
) -> None:
    folder = FOLDERS[kind](tmp_path / "in" / "folder")
    (tmp_path / "predictions.jsonl").write_text('{"id": "train/1/count-json/0", '
                                                '"prediction": "{}"}\n')
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = run_main(*COMMANDS[command](folder, tmp_path))
    assert_one_line_error(result)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("command", ["stats", "preview", "export", "score"])
def test_the_error_names_the_missing_column(command: str, tmp_path: Path) -> None:
    folder = docs_source(tmp_path / "docs")
    (tmp_path / "predictions.jsonl").write_text('{"id": "x", "prediction": "y"}\n')
    result = run_main(*COMMANDS[command](folder, tmp_path))
    assert_one_line_error(result, "train-00000-of-00001.parquet", "no column '")


def test_validate_says_it_is_not_a_dsconv_dataset(tmp_path: Path) -> None:
    folder = docs_source(tmp_path / "docs")
    assert_one_line_error(run_main("validate", folder), "not a dsconv dataset", "no 'id'")

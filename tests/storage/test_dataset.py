"""Reading a dataset folder as untrusted input: FIFO, truncated, non-Parquet shards and
reports nested too deeply are one-line errors (problems for `validate`), never a hang or a
traceback."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsconv.errors import DsconvError
from dsconv.storage.dataset import shard_paths
from dsconv.validation import validate_dataset
from tests.helpers import assert_one_line_error, run_main

DAMAGE = ["fifo", "truncated", "not parquet", "folder"]
DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture(autouse=True)
def no_hang(tmp_path: Path) -> Iterator[None]:
    """Fail, rather than hang the suite, if something blocks opening a FIFO: after 15 s a
    writer opens every FIFO under tmp_path, which lets a blocked reader go on (a signal would
    not: pyarrow retries an interrupted open)."""
    unblocked: list[Path] = []

    def unblock() -> None:
        for fifo in tmp_path.rglob("*"):
            if fifo.is_fifo():
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # no reader waiting on it
                    continue
                unblocked.append(fifo)
                os.close(fd)

    timer = threading.Timer(15, unblock)
    timer.start()
    yield
    timer.cancel()
    assert not unblocked, f"blocked opening {unblocked}"


def damaged_copy(dataset: Path, folder: Path, damage: str) -> Path:
    """A copy of the dataset whose train shard is damaged; returns the shard's path."""
    shutil.copytree(dataset, folder)
    shard = shard_paths(folder, "train")["train"][0]
    data = shard.read_bytes()
    shard.unlink()
    if damage == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(shard)
    elif damage == "truncated":
        shard.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "not parquet":
        shard.write_bytes(b"<html>not found</html>\n" * 10)
    else:
        shard.mkdir()
    return shard


COMMANDS = {
    "stats": lambda d, t: ["stats", d],
    "preview": lambda d, t: ["preview", d, "--out", t / "p.html"],
    "export": lambda d, t: ["export", d, "--to", "messages", t / "chat"],
    "card": lambda d, t: ["card", d],
    "score": lambda d, t: ["score", t / "predictions.jsonl", "--dataset", d, "--split", "train"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_shard_is_a_one_line_error_naming_it(
    coins_vqa: Path, tmp_path: Path, damage: str, command: str
) -> None:
    shard = damaged_copy(coins_vqa, tmp_path / "d", damage)
    (tmp_path / "predictions.jsonl").write_text('{"id": "train/1/count-json/0", '
                                                '"prediction": "{}"}\n')
    assert_one_line_error(run_main(*COMMANDS[command](tmp_path / "d", tmp_path)), str(shard))
    assert not (tmp_path / "chat").exists()


@pytest.mark.parametrize("damage", DAMAGE)
def test_validate_reports_a_damaged_shard_and_goes_on(coins_vqa: Path, tmp_path: Path,
                                                      damage: str) -> None:
    shard = damaged_copy(coins_vqa, tmp_path / "d", damage)
    result = validate_dataset(tmp_path / "d")
    problems = [p for p in result.problems if p.shard == shard.name]
    assert len(problems) == 1 and problems[0].split == "train", result.problems
    assert result.rows["validation"] > 0 and result.rows["test"] > 0  # the others were read
    done = run_main("validate", tmp_path / "d")
    assert done.exit_code == 1 and "Traceback" not in done.stderr
    assert f"train: {shard.name}" in done.stderr


def test_validate_reports_a_damaged_row_group(coins_vqa: Path, tmp_path: Path) -> None:
    """The footer reads, a page in the middle does not: the shard's rows so far are kept."""
    import pyarrow.parquet as pq

    shutil.copytree(coins_vqa, tmp_path / "d")
    shard = shard_paths(tmp_path / "d", "train")["train"][0]
    pq.write_table(pq.read_table(shard), shard, row_group_size=4, compression="NONE")
    meta = pq.ParquetFile(shard).metadata
    column = meta.row_group(1).column(0)  # the ids of rows 4-7
    data = bytearray(shard.read_bytes())
    start = column.data_page_offset
    data[start:start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    shard.write_bytes(bytes(data))
    result = validate_dataset(tmp_path / "d")
    (problem,) = [p for p in result.problems if p.shard == shard.name]
    assert problem.row == 4 and "row group 1" in problem.reason
    assert result.rows["train"] == 4


@pytest.mark.parametrize("command", ["validate", "card", "push", "stats"])
def test_a_report_nested_too_deeply_is_no_recursion_error(
    coins_vqa: Path, tmp_path: Path, command: str
) -> None:
    folder = shutil.copytree(coins_vqa, tmp_path / "d")
    (folder / "conversion_report.json").write_text(DEEP)
    args = {"validate": ["validate", folder], "card": ["card", folder],
            "push": ["push", folder, "me/coins", "--dry-run"], "stats": ["stats", folder]}
    result = run_main(*args[command])
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert "nested too deeply" in result.stderr
    if command == "stats":  # the report only orders the classes: said, then counted anyway
        assert result.exit_code == 0 and result.stderr.startswith("warning:")
    elif command == "validate":
        assert result.exit_code == 1
        assert "conversion_report.json: JSON nested too deeply" in result.stderr
    else:
        assert_one_line_error(result, "conversion_report.json")


def test_read_json_is_bounded_and_regular_only(tmp_path: Path) -> None:
    from dsconv.storage.dataset import read_json

    big = tmp_path / "big.json"
    big.write_text(json.dumps(list(range(100))))
    with pytest.raises(DsconvError, match="over the 50-byte limit"):
        read_json(big, limit=50)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.json")
        with pytest.raises(DsconvError, match="FIFO"):
            read_json(tmp_path / "fifo.json")

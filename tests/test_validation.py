from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dsconv.storage.dataset import shard_paths
from dsconv.validation import validate_dataset
from tests.helpers import run_cli


def tamper(src: Path, dst: Path, change: Callable[[dict], None], row: int = 0) -> Path:
    """Copy a dataset and rewrite one row of its first train shard."""
    shutil.copytree(src, dst)
    path = shard_paths(dst, "train")["train"][0]
    table = pq.read_table(path)
    rows = table.to_pylist()
    change(rows[row])
    pq.write_table(type(table).from_pylist(rows, schema=table.schema), path)
    return dst


def set_answer(text: str) -> Callable[[dict], None]:
    return lambda row: row.update(answer=text, answers=[text])


def first_nonempty_row(dataset: Path) -> int:
    path = shard_paths(dataset, "train")["train"][0]
    answers = pq.read_table(path, columns=["answer"]).column("answer").to_pylist()
    return next(i for i, a in enumerate(answers) if a != "{}")


def test_clean_dataset_passes(coins_vqa: Path) -> None:
    result = validate_dataset(coins_vqa)
    assert result.ok, result.problems
    assert set(result.rows) == {"train", "validation", "test"}
    assert sum(result.rows.values()) == 24


@pytest.mark.parametrize(("change", "reason"), [
    (lambda a: a.replace(": 1", ": 7", 1).replace(": 2", ": 7", 1), "differ from the row"),
    (lambda a: '{\n  "euro": 1\n}', "unknown class 'euro'"),
    (lambda a: "two dimes", "not JSON"),
])
def test_bad_count_answers_are_caught(coins_vqa: Path, tmp_path: Path, change, reason) -> None:
    index = first_nonempty_row(coins_vqa)
    broken = tamper(coins_vqa, tmp_path / "d", lambda r: set_answer(change(r["answer"]))(r), index)
    result = validate_dataset(broken)
    assert not result.ok
    (problem,) = result.problems
    assert problem.split == "train" and problem.row == index
    assert reason in problem.reason
    assert problem.id.startswith("train/")


def test_corrupt_image_is_caught(coins_vqa: Path, tmp_path: Path) -> None:
    def corrupt(row: dict) -> None:
        row["image"]["bytes"] = row["image"]["bytes"][:200]

    result = validate_dataset(tamper(coins_vqa, tmp_path / "d", corrupt, row=1))
    (problem,) = result.problems
    assert problem.row == 1 and "image" in problem.reason


def test_cli_exits_1_and_names_the_row(coins_vqa: Path, tmp_path: Path) -> None:
    broken = tamper(coins_vqa, tmp_path / "d", set_answer("nope"), row=2)
    result = run_cli("validate", broken)
    assert result.exit_code == 1
    assert "row 2" in result.output and "not JSON" in result.output


def test_report_row_count_mismatch_is_caught(coins_vqa: Path, tmp_path: Path) -> None:
    copy = tmp_path / "d"
    shutil.copytree(coins_vqa, copy)
    report = copy / "conversion_report.json"
    report.write_text(report.read_text().replace('"rows": ', '"rows": 1', 1))
    assert any("report says" in p.reason for p in validate_dataset(copy).problems)


def test_deep_check_with_two_workers_names_the_corrupt_row(coins_vqa: Path,
                                                            tmp_path: Path) -> None:
    from tests.scale_data import undecodable_jpeg

    def corrupt(row: dict) -> None:
        row["image"]["bytes"] = undecodable_jpeg(3, row["width"], row["height"])

    broken = tamper(coins_vqa, tmp_path / "d", corrupt, row=3)
    assert validate_dataset(broken).ok  # the header and verify() pass: only decoding fails
    result = run_cli("validate", broken, "--deep", "--workers", "2")
    assert result.exit_code == 1
    assert "train: train-00000-of-00001.parquet row 3 (train/" in result.output
    assert "does not decode" in result.output
    one = validate_dataset(broken, deep=True, workers=1).problems
    assert validate_dataset(broken, deep=True, workers=2).problems == one
    assert [p.row for p in one] == [3]


def test_detection_dataset_without_classes_fails(coins_vqa: Path, tmp_path: Path) -> None:
    broken = tmp_path / "d"
    shutil.copytree(coins_vqa, broken)
    report_file = broken / "conversion_report.json"
    report = json.loads(report_file.read_text())
    report["classes"] = []
    for split in report["splits"].values():
        split["per_class"] = {}
        split["objects_total"] -= split["objects_kept"]
        split["objects_kept"] = 0
    report_file.write_text(json.dumps(report))
    reasons = [p.reason for p in validate_dataset(broken).problems]
    assert "no classes: a detection dataset's questions need its classes" in reasons

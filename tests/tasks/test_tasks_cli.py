from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from dsconv.storage.dataset import iter_rows, read_report
from dsconv.validation import validate_dataset
from tests.helpers import break_one_row_per_task, run_cli

TASKS = ["count-json", "count-class", "presence", "list-objects", "florence-od"]
BROKEN = {
    "count-class": lambda a: str(int(a) + 1),
    "presence": lambda a: "no" if a == "yes" else "yes",
    "list-objects": lambda a: "7 dimes",
    "florence-od": lambda a: "dime<loc_1><loc_2><loc_3><loc_4>" + a,
}


def convert(src: Path, out: Path, *extra: str) -> Path:
    args = [a for t in TASKS for a in ("--task", t)]
    result = run_cli("coco-to-vqa", src, out, *args, "--task", "presence",
                     "--absent-rate", "0.2", "--paraphrases", "3", *extra)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def all_tasks(coins_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(coins_dir, tmp_path_factory.mktemp("tasks") / "out")


def test_every_task_converts_and_validates(all_tasks: Path) -> None:
    report = read_report(all_tasks)
    assert report["tasks"] == TASKS
    assert report["task_extras"]["florence-od"]["names"]["dime"] == "dime"
    images = sum(s["images"] for s in report["splits"].values())
    per_task = Counter(row["task"] for row in iter_rows(all_tasks, columns=["task"]))
    assert per_task["count-json"] == per_task["list-objects"] == per_task["florence-od"] == images
    assert per_task["count-class"] >= images and per_task["presence"] >= images
    result = run_cli("validate", all_tasks)
    assert result.exit_code == 0, result.output


def test_conversion_is_deterministic_for_a_seed(all_tasks: Path, coins_dir: Path,
                                                 tmp_path: Path) -> None:
    def pairs(out: Path) -> list[tuple[str, str, str]]:
        return [(r["id"], r["question"], r["answer"])
                for r in iter_rows(out, columns=["id", "question", "answer"])]

    again = convert(coins_dir, tmp_path / "again")
    assert pairs(again) == pairs(all_tasks)
    other = convert(coins_dir, tmp_path / "other", "--seed", "1")
    assert pairs(other) != pairs(all_tasks)


def test_validate_runs_each_tasks_check(all_tasks: Path, tmp_path: Path) -> None:
    copy, broken = break_one_row_per_task(all_tasks, BROKEN, tmp_path / "broken")
    problems = validate_dataset(copy).problems
    assert {p.row: p.id.split("/")[2] for p in problems} == broken


def test_tasks_command_lists_them() -> None:
    result = run_cli("tasks")
    assert result.exit_code == 0
    for name in TASKS:
        assert name in result.output

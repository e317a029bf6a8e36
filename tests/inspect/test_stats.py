"""`dsconv stats`: numbers from the rows, checked against the sample's own counts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from dsconv.inspect.stats import class_order, dataset_stats
from dsconv.samples.coins import CoinsSummary
from dsconv.storage.dataset import iter_rows
from tests.helpers import run_cli

SPLIT_NAMES = {"train": "train", "valid": "validation", "test": "test"}


def test_stats_match_the_sample(two_task_sample: tuple[CoinsSummary, Path]) -> None:
    summary, folder = two_task_sample
    stats = dataset_stats(folder)
    assert list(stats) == ["train", "validation", "test"]
    for source_split, split in SPLIT_NAMES.items():
        s = stats[split]
        assert s.images == summary.images[source_split]
        assert s.objects == summary.objects[source_split]
        assert s.rows == 2 * s.images  # two tasks: one row each per image
        assert s.tasks == {"count-json": s.images, "list-objects": s.images}
        assert sum(s.objects_per_image.values()) == s.images
        assert sum(k * v for k, v in s.objects_per_image.items()) == s.objects
        answers = [len(r["answer"]) for r in iter_rows(folder, split, columns=["answer"])]
        assert (s.answer_chars_min, s.answer_chars_max) == (min(answers), max(answers))
        assert s.answer_chars_mean == round(sum(answers) / len(answers), 2)
    totals: Counter[str] = Counter()
    for s in stats.values():
        totals.update(s.per_class)
    assert {c: n for c, n in summary.per_class.items() if n} == dict(totals)


def test_stats_agree_with_the_report(two_task_sample: tuple[CoinsSummary, Path]) -> None:
    _, folder = two_task_sample
    report = json.loads((folder / "conversion_report.json").read_text())
    for name, s in dataset_stats(folder).items():
        expected = report["splits"][name]
        assert (s.rows, s.images, s.objects) == (
            expected["rows"], expected["images"], expected["objects_kept"])
        assert s.per_class == {k: v for k, v in expected["per_class"].items() if v}


def test_stats_cli_json_and_tables(two_task_sample: tuple[CoinsSummary, Path]) -> None:
    summary, folder = two_task_sample
    result = run_cli("stats", folder, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["train"]["images"] == summary.images["train"]
    assert all(isinstance(k, str) for k in data["train"]["objects_per_image"])

    assert list(json.loads(run_cli("stats", folder, "--split", "test", "--json").output)) == [
        "test"]

    result = run_cli("stats", folder)
    assert result.exit_code == 0, result.output
    assert "objects per class" in result.output and "objects per image: test" in result.output
    for name, count in summary.per_class.items():
        if count:
            assert name in result.output


def test_class_order_follows_the_vocabulary(two_task_sample: tuple[CoinsSummary, Path]) -> None:
    _, folder = two_task_sample
    stats = dataset_stats(folder)
    assert class_order(stats, ["penny", "dime"])[:2] == ["penny", "dime"]
    assert set(class_order(stats)) == {c for s in stats.values() for c in s.per_class}

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from dsconv.converters.base import Ledger
from dsconv.errors import DsconvError
from dsconv.pipeline.splits import (
    DEFAULT_RATIOS,
    SplitAssigner,
    hash_split,
    parse_ratios,
    resolve_ratios,
)
from dsconv.storage.dataset import iter_rows, read_report
from dsconv.storage.leaks import LeakFinder, image_digest
from dsconv.validation import validate_dataset
from tests.helpers import run_cli
from tests.tasks.detection_samples import boxes, make_sample


def test_parse_ratios() -> None:
    assert parse_ratios("0.8,0.1,0.1") == (0.8, 0.1, 0.1)
    assert parse_ratios("0.9,0.1") == (0.9, 0.1)
    for bad, message in [("0.8,0.1", "sum to 0.9"), ("a,b", "expected numbers"),
                         ("0.5,0.2,0.2,0.1", "1 to 3"), ("0,1", "train's > 0")]:
        with pytest.raises(DsconvError, match=message):
            parse_ratios(bad)


def test_hash_split_is_deterministic_and_respects_ratios() -> None:
    rng = random.Random(0)
    digests = [image_digest(rng.randbytes(32)) for _ in range(10_000)]
    first = [hash_split(d, (0.8, 0.1, 0.1)) for d in digests]
    assert first == [hash_split(d, (0.8, 0.1, 0.1)) for d in digests]
    counts = Counter(first)
    assert abs(counts["train"] / 10_000 - 0.8) < 0.02
    assert abs(counts["validation"] / 10_000 - 0.1) < 0.015
    assert abs(counts["test"] / 10_000 - 0.1) < 0.015
    assert set(hash_split(d, (0.7, 0.3)) for d in digests) == {"train", "validation"}
    assert set(hash_split(d, (0.9, 0.1, 0.0)) for d in digests) == {"train", "validation"}


class Splits:
    def __init__(self, names: list[str], has_splits: bool | None = None) -> None:
        self.names = names
        if has_splits is not None:
            self.has_splits = has_splits

    def splits(self) -> list[str]:
        return self.names


def test_source_splits_win_unless_ratios_are_given() -> None:
    three = Splits(["train", "validation", "test"])
    assert resolve_ratios(three, None) is None
    assert resolve_ratios(three, (0.5, 0.5)) == (0.5, 0.5)
    assert resolve_ratios(Splits(["train"]), None) == DEFAULT_RATIOS
    assert resolve_ratios(Splits(["train"], has_splits=True), None) is None


def test_assigner_moves_kept_objects_with_the_image() -> None:
    ledger = Ledger()
    sample = make_sample(*boxes("dime", "penny"))
    ledger.seen_objects("train", 3)
    ledger.drop_object("train", "1.jpg", "invalid_box")
    digest = next(d for d in (image_digest(bytes([i])) for i in range(256))
                  if hash_split(d, (0.5, 0.5)) == "validation")
    SplitAssigner((0.5, 0.5), ledger, prefix_ids=True).assign(sample, digest)
    assert (sample.split, sample.image_id) == ("validation", "train-1")
    ledger.kept(sample, 1)
    reports = ledger.split_reports(["dime", "penny"])
    assert (reports["train"].objects_total, reports["validation"].objects_total) == (1, 2)


def test_leak_finder() -> None:
    h1, h2 = image_digest(b"one"), image_digest(b"two")
    finder = LeakFinder()
    finder.add("train", "a.jpg", h1)
    finder.add("train", "a-copy.jpg", h1)
    finder.add("train", "b.jpg", h2)
    finder.add("test", "c.jpg", h1)
    finder.add("test", "c.jpg", h1)
    (leak,) = finder.leaks()
    assert (leak.hash, leak.splits, leak.files) == (h1, ["train", "test"],
                                                    ["train/a.jpg", "test/c.jpg"])


@pytest.fixture(scope="module")
def leaky_coins(coins_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The coins sample with one train image copied into test as dup.jpg."""
    root = tmp_path_factory.mktemp("leaky") / "coins"
    shutil.copytree(coins_dir, root)
    train_file = root / "train" / "_annotations.coco.json"
    test_file = root / "test" / "_annotations.coco.json"
    train, test = json.loads(train_file.read_text()), json.loads(test_file.read_text())
    image = train["images"][0]
    shutil.copy(root / "train" / image["file_name"], root / "test" / "dup.jpg")
    new_id = max(i["id"] for i in test["images"]) + 1
    test["images"].append({**image, "id": new_id, "file_name": "dup.jpg"})
    next_ann = max(a["id"] for a in test["annotations"]) + 1
    for k, ann in enumerate(a for a in train["annotations"] if a["image_id"] == image["id"]):
        test["annotations"].append({**ann, "id": next_ann + k, "image_id": new_id})
    test_file.write_text(json.dumps(test))
    return root, image["file_name"]


def test_duplicated_image_is_reported_and_warned(leaky_coins: tuple[Path, str],
                                                 tmp_path: Path) -> None:
    src, original = leaky_coins
    out = tmp_path / "out"
    assert run_cli("coco-to-vqa", src, out).exit_code == 0
    (leak,) = read_report(out)["leakage"]
    assert set(leak["splits"]) == {"train", "test"}
    assert set(leak["files"]) == {f"train/{original}", "test/dup.jpg"}
    assert any("leakage" in w for w in read_report(out)["warnings"])

    result = validate_dataset(out)
    assert result.ok and any("leakage" in w for w in result.warnings)
    strict = validate_dataset(out, strict=True)
    (problem,) = strict.problems
    assert "leakage" in problem.reason and "dup.jpg" in problem.reason

    lenient = run_cli("validate", out)
    assert lenient.exit_code == 0 and "leakage" in lenient.output
    assert run_cli("validate", out, "--strict").exit_code == 1


def test_hash_split_keeps_duplicates_together_and_is_stable(leaky_coins: tuple[Path, str],
                                                            tmp_path: Path) -> None:
    src, original = leaky_coins
    ids = []
    for run in ("a", "b"):
        out = tmp_path / run
        result = run_cli("coco-to-vqa", src, out, "--split-ratios", "0.5,0.25,0.25")
        assert result.exit_code == 0, result.output
        report = read_report(out)
        assert report["leakage"] == [] and report["split_ratios"] == [0.5, 0.25, 0.25]
        rows = list(iter_rows(out, columns=["id", "image"]))
        ids.append([r["id"] for r in rows])
        copies = (original, "dup.jpg")
        splits = {r["id"].split("/")[0] for r in rows if r["image"]["path"] in copies}
        assert len(splits) == 1
        assert validate_dataset(out, strict=True).ok
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == len(ids[0])
    assert all(i.split("/")[1].split("-")[0] in ("train", "validation", "test") for i in ids[0])


def test_a_source_without_splits_is_split_by_hash(coins_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain"
    result = run_cli("coco-to-vqa", coins_dir / "train" / "_annotations.coco.json", out)
    assert result.exit_code == 0, result.output
    report = read_report(out)
    assert report["split_ratios"] == list(DEFAULT_RATIOS)
    assert len(report["splits"]) > 1
    assert validate_dataset(out).ok

"""The dataset card: a Hub card whose YAML `datasets` honours and whose numbers are the report's."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import datasets
import pytest
import yaml
from PIL import Image

from dsconv.pipeline.card import HISTOGRAM_FILE, read_card_info
from dsconv.schemas.report import ConversionReport
from dsconv.storage.dataset import iter_rows
from tests.helpers import run_cli


def _meta_and_body(card: Path) -> tuple[dict, str]:
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def _report(folder: Path) -> ConversionReport:
    return ConversionReport.model_validate_json((folder / "conversion_report.json").read_text())


def _table(body: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with `header`."""
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("*") for cell in line.strip("|").split("|")])
    return rows


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_front_matter_parses_and_load_dataset_honours_it(coins_vqa: Path, tmp_path: Path) -> None:
    meta, _ = _meta_and_body(coins_vqa / "README.md")
    report = _report(coins_vqa)
    assert meta["task_categories"] == ["visual-question-answering"]
    assert {"dsconv", "vqa", "count-json"} <= set(meta["tags"])
    files = meta["configs"][0]["data_files"]
    assert [f["split"] for f in files] == ["train", "validation", "test"]
    assert [f["path"] for f in files] == ["data/train-*", "data/validation-*", "data/test-*"]
    sizes = {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]}
    assert sizes == {name: s.rows for name, s in report.splits.items()}
    assert datasets.Features._from_yaml_list(meta["dataset_info"]["features"])["image"] == (
        datasets.Image())

    copy = shutil.copytree(coins_vqa, tmp_path / "copy")
    ds = datasets.load_dataset(str(copy), cache_dir=str(tmp_path / "cache"))
    assert {name: len(split) for name, split in ds.items()} == sizes
    assert isinstance(ds["train"].features["image"], datasets.Image)


def test_card_numbers_equal_the_report(coins_vqa: Path) -> None:
    _, body = _meta_and_body(coins_vqa / "README.md")
    report = _report(coins_vqa)
    splits = _table(body, "| split | images | rows | objects |")
    for name, images, rows, objects, objects_dropped, images_dropped in splits[:-1]:
        s = report.splits[name]
        assert [int(images), int(rows), int(objects)] == [s.images, s.rows, s.objects_kept]
        assert int(objects_dropped) == sum(s.objects_dropped.values())
        assert int(images_dropped) == sum(s.images_dropped.values())
    assert splits[-1][0] == "total"
    assert int(splits[-1][2]) == sum(s.rows for s in report.splits.values())

    classes = _table(body, "| class |")
    assert [row[0] for row in classes] == report.classes
    order = ["train", "validation", "test"]
    for name, *counts, total in classes:
        assert [int(c) for c in counts] == [report.splits[s].per_class.get(name, 0) for s in order]
        assert int(total) == sum(int(c) for c in counts)


def test_card_has_examples_use_and_histogram(coins_vqa: Path) -> None:
    text = (coins_vqa / "README.md").read_text(encoding="utf-8")
    questions = {row["question"] for row in iter_rows(coins_vqa, columns=["question"])}
    answers = {row["answer"] for row in iter_rows(coins_vqa, columns=["answer"])}
    blocks = re.findall(r"```text\n(.*?)\n```", text, re.DOTALL)
    assert len(blocks) == 4 and blocks[0] in questions and blocks[1] in answers
    assert "load_dataset(" in text and "dsconv train DIR" in text
    assert "```bash\ndsconv" in text  # the command that made it
    assert f"![Objects per class]({HISTOGRAM_FILE})" in text
    with Image.open(coins_vqa / HISTOGRAM_FILE) as image:
        assert image.format == "PNG" and image.width >= 400


def test_card_regenerates_keeping_run_metadata(coins_vqa: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(coins_vqa, tmp_path / "coins-vqa")
    before = _digests(folder)
    old = read_card_info(folder)
    assert old.source != "(not recorded)" and old.command.startswith("dsconv")

    result = run_cli("card", folder, "--license", "cc-by-4.0", "--repo-id", "me/coins-vqa")
    assert result.exit_code == 0, result.output
    after = _digests(folder)
    for name in before:  # shards and report untouched; the histogram is drawn again identically
        if name != "README.md":
            assert after[name] == before[name], name
    info = read_card_info(folder)
    assert (info.source, info.command, info.name) == (old.source, old.command, old.name)
    assert (info.license, info.repo_id) == ("cc-by-4.0", "me/coins-vqa")
    meta, body = _meta_and_body(folder / "README.md")
    assert meta["license"] == "cc-by-4.0"
    assert 'load_dataset("me/coins-vqa")' in body

    assert run_cli("card", folder).exit_code == 0  # a second run keeps what the first set
    assert read_card_info(folder).license == "cc-by-4.0"


def test_card_without_report_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    result = run_cli("card", tmp_path)
    assert result.exit_code != 0
    assert "conversion_report.json" in str(result.exception)


@pytest.mark.parametrize("text", ["a ``` fence", "````"])
def test_examples_with_backticks_keep_their_fence(text: str) -> None:
    from dsconv.pipeline.card import _fenced

    fence, body, close = _fenced(text, "text")
    assert body == text and fence.startswith(close) and close not in text

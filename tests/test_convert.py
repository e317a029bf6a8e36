"""An empty conversion is an error naming its cause, and writes nothing, unless --allow-empty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsconv.converters.base import DetectionSample, DocumentSample, Ledger, Vocabulary
from dsconv.pipeline.convert import (
    ConvertOptions,
    EmptyResultError,
    convert_dataset,
    convert_detection,
)
from dsconv.pipeline.shard import Share
from dsconv.samples.coins import write_coins
from dsconv.tasks.base import TaskContext, get_task
from dsconv.validation import validate_dataset
from tests.helpers import run_cli, write_image, write_text


@pytest.fixture
def difficult_voc(tmp_path: Path) -> Path:
    """The VOC coins with every object marked difficult: all of them are dropped."""
    src = tmp_path / "voc"
    write_coins(src, images=6, seed=2, fmt="voc")
    for xml in (src / "Annotations").glob("*.xml"):
        xml.write_text(xml.read_text().replace("<difficult>0</difficult>",
                                               "<difficult>1</difficult>"))
    return src


def test_every_object_dropped_is_an_error_naming_the_reason(difficult_voc: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("voc-to-vqa", difficult_voc, out)
    assert isinstance(result.exception, EmptyResultError)
    message = str(result.exception)
    assert message.startswith(f"{difficult_voc}: none of the ")
    assert "objects read was kept (difficult: " in message
    assert f"{out} not written" in message
    assert "Annotations/" in message  # the first drop's file
    assert "--allow-empty" in message and "\n" not in message
    assert not out.exists()
    assert not list(tmp_path.glob(".*out*"))  # no temporary folder left behind either


def test_allow_empty_writes_it(difficult_voc: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("voc-to-vqa", difficult_voc, out, "--allow-empty")
    assert result.exit_code == 0, result.output
    assert (out / "conversion_report.json").is_file()
    problems = [p.reason for p in validate_dataset(out).problems]  # and validate says so
    assert "no row has an object: every count answer is empty" in problems


def test_no_annotation_files_found_is_an_error(tmp_path: Path) -> None:
    """Labels where the reader does not look: rows, but not one object (the silent trap)."""
    write_image(tmp_path / "src" / "train" / "a.jpg")
    write_text(tmp_path / "src" / "train" / "labelTxt" / "a.txt", "1 1 9 1 9 9 1 9 cat 0\n")
    write_text(tmp_path / "src" / "classes.txt", "cat\n")
    out = tmp_path / "out"
    result = run_cli("yolo-to-vqa", tmp_path / "src", out)
    assert result.exit_code != 0
    assert "found no objects in the 1 images" in str(result.exception)
    assert not out.exists()


def test_no_rows_is_an_error(tmp_path: Path) -> None:
    empty = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}]}
    src = write_text(tmp_path / "annotations.json", json.dumps(empty))
    result = run_cli("coco-to-vqa", src, tmp_path / "out")
    assert isinstance(result.exception, EmptyResultError)
    assert "no rows, the source has no images" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_every_image_dropped_names_the_reason(tmp_path: Path) -> None:
    data = {"images": [{"id": 1, "file_name": "gone.jpg"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}],
            "categories": [{"id": 1, "name": "cat"}]}
    src = write_text(tmp_path / "annotations.json", json.dumps(data))
    result = run_cli("coco-to-vqa", src, tmp_path / "out")
    assert "no rows, every image was dropped (missing_image: 1; first: 'gone.jpg'" in str(
        result.exception)


class _Documents:
    """A document reader whose every question was left out."""

    name = "docs"

    def splits(self) -> list[str]:
        return ["train"]

    def count(self, split: str) -> int:
        return 0

    def samples(self, split: str) -> Iterator[DocumentSample]:
        return iter(())


def test_a_document_conversion_with_no_rows_is_an_error(tmp_path: Path) -> None:
    options = ConvertOptions(out=tmp_path / "out", tasks=[get_task("docvqa")],
                             context=TaskContext(Vocabulary([])))
    with pytest.raises(EmptyResultError, match="no rows"):
        convert_dataset(_Documents(), Ledger(), options, lambda sample: [])
    assert not (tmp_path / "out").exists()
    allowed = ConvertOptions(out=tmp_path / "out", tasks=[get_task("docvqa")],
                             context=TaskContext(Vocabulary([])), allow_empty=True)
    convert_dataset(_Documents(), Ledger(), allowed, lambda sample: [])
    assert (tmp_path / "out").is_dir()


class _Background:
    """One image, no objects."""

    name = "background"

    def __init__(self, image: bytes) -> None:
        self.image = image

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(["cat"])

    def splits(self) -> list[str]:
        return ["train"]

    def count(self, split: str) -> int:
        return 1

    def samples(self, split: str) -> Iterator[DetectionSample]:
        yield self.read(split, 0)

    def items(self, split: str) -> list[int]:
        return [0]

    def read(self, split: str, item: int) -> DetectionSample:
        return DetectionSample(split, "1", "a.jpg", self.image, 100, 50)


def test_a_part_of_a_sharded_run_may_be_empty(tmp_path: Path) -> None:
    image = write_image(tmp_path / "a.jpg").read_bytes()
    context = TaskContext(Vocabulary(["cat"]))
    whole = ConvertOptions(out=tmp_path / "whole", tasks=[get_task("count-json")],
                           context=context)
    with pytest.raises(EmptyResultError, match="found no objects"):
        convert_detection(_Background(image), Ledger(), whole)
    part = ConvertOptions(out=tmp_path / "part", tasks=[get_task("count-json")],
                          context=context, share=Share(0, 2))
    convert_detection(_Background(image), Ledger(), part)  # merge judges the whole
    assert (tmp_path / "part").is_dir()


def test_docvqa_command_has_allow_empty() -> None:
    assert "--allow-empty" in run_cli("docvqa-to-vqa", "--help").output

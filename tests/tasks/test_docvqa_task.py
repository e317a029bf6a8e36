"""The docvqa task: prefix joined without a space, first reference as the answer, and the
check `dsconv validate` runs on document rows."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from dsconv.errors import DsconvError
from dsconv.schemas.row import Row
from dsconv.schemas.samples import DetectionSample, DocumentSample, Vocabulary
from dsconv.tasks.base import TaskContext, get_task, task_names
from dsconv.tasks.docvqa import check, document_rows, docvqa


def _png(width: int = 30, height: int = 20) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, "PNG")
    return buffer.getvalue()


def _sample(**changes: Any) -> DocumentSample:
    fields: dict[str, Any] = dict(
        split="train", image_id="14465", question_id="337", file_name="xnbl0037_1.png",
        image_bytes=_png(), width=30, height=20, question="What is the date?",
        answers=["1/8/93", "January 8, 1993"],
    )
    return DocumentSample(**(fields | changes))


def _context(prefix: str | None = None) -> TaskContext:
    return TaskContext(Vocabulary([]), options={} if prefix is None else {"prefix": prefix})


@pytest.mark.parametrize(("prefix", "question"), [
    (None, "<DocVQA>What is the date?"),
    ("<VQA>", "<VQA>What is the date?"),
    ("", "What is the date?"),
])
def test_prefix_is_joined_without_a_space(prefix: str | None, question: str) -> None:
    [qa] = docvqa(_sample(), _context(prefix))
    assert qa.question == question
    assert qa.answer == "1/8/93"
    assert qa.answers == ("1/8/93", "January 8, 1993")


def test_rows_follow_the_row_contract() -> None:
    sample = _sample()
    [row] = document_rows(sample, _context())
    Row.model_validate(row)
    assert row["id"] == "train/14465/docvqa/337"
    assert row["image"] == {"bytes": sample.image_bytes, "path": "xnbl0037_1.png"}
    assert row["objects"] == {"bbox": [], "category": []}
    assert (row["task"], row["width"], row["height"]) == ("docvqa", 30, 20)
    assert row["answers"] == ["1/8/93", "January 8, 1993"]
    assert check(row, None) is None


def test_registered_with_its_check() -> None:
    assert "docvqa" in task_names()
    assert get_task("docvqa").check is check


@pytest.mark.parametrize(("change", "reason"), [
    ({"question": "<DocVQA>"}, "question is empty"),
    ({"question": "<VQA>  "}, "question is empty"),
    ({"answers": []}, "no reference answers"),
    ({"answers": ["1/8/93", " "]}, "a reference answer is empty"),
    ({"answer": "8 Jan"}, "answer is not among the reference answers"),
    ({"objects": {"bbox": [[0, 0, 1, 1]], "category": ["x"]}}, "a document row has objects"),
])
def test_check_names_what_is_wrong(change: dict[str, Any], reason: str) -> None:
    [row] = document_rows(_sample(), _context())
    assert check(row | change, None) == reason


def test_a_question_that_only_looks_like_a_token_is_kept() -> None:
    [row] = document_rows(_sample(question="<b> is bold?"), _context(""))
    assert check(row, None) is None


def test_detection_samples_are_refused() -> None:
    sample = DetectionSample("train", "1", "a.jpg", _png(), 30, 20)
    with pytest.raises(DsconvError, match="docvqa-to-vqa"):
        list(docvqa(sample, _context()))  # type: ignore[arg-type]

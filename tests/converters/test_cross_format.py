"""The same coins written in every sample format (COCO, YOLO, VOC, DOTA, LabelMe, CVAT, Label
Studio, Hugging Face) convert to the same rows.

Image ids differ by design (COCO's are integers, the others' file stems), so rows are
matched by split and source file name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dsconv
from dsconv.samples.coins import write_coins
from dsconv.samples.scene import CLASSES
from dsconv.storage.dataset import iter_rows

FORMATS = ("coco", "yolo", "voc", "dota", "labelme", "cvat", "labelstudio", "hf")
UNORDERED = ("voc", "dota", "labelme", "labelstudio")  # formats with no class order of their own
# The coins' boxes are whole pixels and YOLO keeps six decimals, so agreement is far tighter
# than a pixel; a pixel's slack would hide an off-by-one in the VOC corner convention.
BOX_TOLERANCE = 0.01


def convert(fmt: str, src: Path, out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows keyed by (split, image file name). Formats with no class order of their own are
    given one."""
    dsconv.convert(src, out, format=fmt, noun="currency",
                   classes=CLASSES if fmt in UNORDERED else None)
    assert dsconv.validate(out).ok
    rows = {}
    for row in iter_rows(out):
        key = (row["id"].split("/")[0], row["image"]["path"])
        assert key not in rows
        rows[key] = row
    return rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[tuple[str, str], Any]]:
    base = tmp_path_factory.mktemp("cross")
    found = {}
    for fmt in FORMATS:
        write_coins(base / fmt, images=15, seed=11, fmt=fmt)
        found[fmt] = convert(fmt, base / fmt, base / f"{fmt}-vqa")
    return found


@pytest.mark.parametrize("fmt", FORMATS[1:])
def test_same_rows_as_coco(rows: dict[str, dict[tuple[str, str], Any]], fmt: str) -> None:
    coco, other = rows["coco"], rows[fmt]
    assert set(other) == set(coco)
    assert {split for split, _ in coco} == {"train", "validation", "test"}
    for key, expected in coco.items():
        got = other[key]
        for column in ("question", "answer", "answers", "task", "width", "height"):
            assert got[column] == expected[column], (fmt, key, column)
        assert got["image"]["bytes"] == expected["image"]["bytes"]
        assert got["image_id"] == Path(key[1]).stem
        assert got["objects"]["category"] == expected["objects"]["category"]
        for mine, theirs in zip(got["objects"]["bbox"], expected["objects"]["bbox"], strict=True):
            assert mine == pytest.approx(theirs, abs=BOX_TOLERANCE), (fmt, key)


def test_rows_are_not_trivially_empty(rows: dict[str, dict[tuple[str, str], Any]]) -> None:
    assert sum(len(r["objects"]["category"]) for r in rows["coco"].values()) > 15

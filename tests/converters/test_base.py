"""The per-image steps of the reader base, as every file-based detection reader takes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsconv.converters.base import Ledger
from dsconv.converters.registry import get_reader, reader_options
from dsconv.samples.coins import write_coins

FILE_READERS = ("coco", "yolo", "voc", "dota", "labelme", "cvat", "labelstudio")


def _read_all(fmt: str, src: Path, **options: object) -> Ledger:
    ledger = Ledger()
    reader_cls = get_reader(fmt)
    reader = reader_cls(src, ledger, reader_options(reader_cls, fmt, **options))
    for split in reader.splits():
        for _ in reader.samples(split):
            pass
    return ledger


@pytest.mark.parametrize("fmt", FILE_READERS)
def test_image_over_the_byte_bound_is_image_too_large_everywhere(tmp_path: Path,
                                                                 fmt: str) -> None:
    """An image file over `max_image_bytes` is dropped as `image_too_large` with each of its
    objects, by every reader alike (YOLO, DOTA and the shape readers said `unreadable_image`)."""
    summary = write_coins(tmp_path / "src", images=4, seed=1, fmt=fmt)
    ledger = _read_all(fmt, tmp_path / "src", max_image_bytes=100)
    reports = ledger.split_reports([])
    assert {reason for r in reports.values() for reason in r.images_dropped} == {"image_too_large"}
    assert sum(n for r in reports.values() for n in r.images_dropped.values()) == 4
    dropped = sum(n for r in reports.values() for n in r.objects_dropped.values())
    assert dropped == sum(summary.objects.values())
    assert {r for r in reports.values() for r in r.objects_dropped} == {"image_too_large"}


@pytest.mark.parametrize("fmt", FILE_READERS)
def test_missing_image_drops_it_with_its_objects(tmp_path: Path, fmt: str) -> None:
    """An image named by its annotation but not there: `missing_image`, objects and all."""
    summary = write_coins(tmp_path / "src", images=3, seed=2, fmt=fmt)
    for image in (tmp_path / "src").rglob("*.jpg"):
        image.unlink()
    ledger = _read_all(fmt, tmp_path / "src")
    reports = ledger.split_reports([])
    assert sum(r.images_dropped.get("missing_image", 0) for r in reports.values()) == 3
    assert sum(r.objects_dropped.get("missing_image", 0)
               for r in reports.values()) == sum(summary.objects.values())

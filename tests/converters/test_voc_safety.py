"""VOC: XML and list files that are symlinks out of the folder, FIFOs, unreadable or too
large; images that are FIFOs, oversized files or decompression bombs; images without an XML;
the lower-case Kaggle layout; folders with no VOC annotations at all."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dsconv.converters.base import DetectionSample, Ledger, ReaderOptions
from dsconv.converters.voc import VocReader
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.samples.coins import write_coins
from dsconv.schemas.report import SplitReport
from dsconv.storage.dataset import read_report
from tests.helpers import read_all, run_cli, write_image, write_text
from tests.image_bombs import jpeg_bomb, png_bomb, write

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


def voc_xml(filename: str, objects: int = 1) -> str:
    box = ("<object><name>cat</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>9</xmax>"
           "<ymax>9</ymax></bndbox></object>")
    return f"<annotation><filename>{filename}</filename>{box * objects}</annotation>"


def devkit(root: Path, *stems: str, images: str = "JPEGImages",
           annotations: str = "Annotations", suffix: str = ".jpg") -> Path:
    for stem in stems:
        write_image(root / images / f"{stem}{suffix}", (40, 30),
                    fmt="PNG" if suffix == ".png" else "JPEG")
        write_text(root / annotations / f"{stem}.xml", voc_xml(f"{stem}{suffix}"))
    return root


def read(src: Path, **options: object
         ) -> tuple[Ledger, dict[str, list[DetectionSample]], dict[str, SplitReport]]:
    _, ledger, samples, reports = read_all(VocReader, src, ReaderOptions(**options))
    return ledger, samples, reports


def kept(samples: dict[str, list[DetectionSample]]) -> list[str]:
    return sorted(s.file_name for items in samples.values() for s in items)


def image_drops(ledger: Ledger) -> dict[str, tuple[str, str]]:
    return {d.file: (d.reason, d.detail or "") for d in ledger.drops if d.annotation is None}


# --- annotation and list files ----------------------------------------------------------------


def test_image_sets_list_symlinked_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    write_text(tmp_path / "elsewhere.txt", "a\n")
    root = devkit(tmp_path / "voc", "a")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(InputError, match=r"train.txt.*--allow-outside-root"):
        VocReader(root, Ledger())
    _, samples, _ = read(root, allow_outside_root=True)
    assert kept(samples) == ["a.jpg"]


@needs_fifo
def test_image_sets_list_that_is_a_fifo_is_an_error(tmp_path: Path) -> None:
    root = devkit(tmp_path, "a")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    os.mkfifo(root / "ImageSets" / "Main" / "train.txt")
    started = time.monotonic()
    with pytest.raises(InputError, match=r"train.txt.*FIFO"):
        VocReader(root, Ledger())
    assert time.monotonic() - started < 5


@needs_fifo
def test_xml_that_is_a_fifo_drops_its_image_with_the_reason(tmp_path: Path) -> None:
    root = devkit(tmp_path, "a")
    write_image(root / "JPEGImages" / "b.jpg", (40, 30))
    os.mkfifo(root / "Annotations" / "b.xml")
    started = time.monotonic()
    ledger, samples, reports = read(root)
    assert time.monotonic() - started < 5
    assert kept(samples) == ["a.jpg"]
    assert reports["train"].images_dropped == {"bad_annotation": 1}
    detail = image_drops(ledger)["Annotations/b.xml"][1]
    assert "FIFO" in detail


def test_xml_over_its_bound_is_refused_unread(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dsconv.converters.voc_xml.MAX_LABEL_BYTES", 200)
    root = devkit(tmp_path, "a")
    write_image(root / "JPEGImages" / "big.jpg", (40, 30))
    write_text(root / "Annotations" / "big.xml", voc_xml("big.jpg", objects=5))
    ledger, samples, _ = read(root)
    assert kept(samples) == ["a.jpg"]
    assert image_drops(ledger)["Annotations/big.xml"][0] == "bad_annotation"
    assert "limit" in image_drops(ledger)["Annotations/big.xml"][1]


def test_xml_the_system_refuses_to_open_is_a_reported_drop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a file without read permission does for a user other than root."""
    root = devkit(tmp_path, "a", "b")
    refused = str(root / "Annotations" / "b.xml")
    real_open = os.open

    def refusing_open(path: object, *args: object, **kwargs: object) -> int:
        if os.fspath(path) == refused:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing_open)
    ledger, samples, _ = read(root)
    assert kept(samples) == ["a.jpg"]
    assert image_drops(ledger)["Annotations/b.xml"] == (
        "bad_annotation", "cannot read: Permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their mode")
def test_xml_without_read_permission_is_a_reported_drop(tmp_path: Path) -> None:
    root = devkit(tmp_path, "a", "b")
    (root / "Annotations" / "b.xml").chmod(0)
    ledger, samples, _ = read(root)
    assert kept(samples) == ["a.jpg"]
    assert image_drops(ledger)["Annotations/b.xml"][0] == "bad_annotation"


# --- images without an XML --------------------------------------------------------------------


def test_image_without_xml_is_dropped_not_counted_as_empty(tmp_path: Path) -> None:
    root = devkit(tmp_path, "a")
    write_image(root / "JPEGImages" / "b.jpg", (40, 30))
    ledger, samples, reports = read(root)
    assert kept(samples) == ["a.jpg"]
    assert reports["train"].images_dropped == {"missing_annotation": 1}
    assert image_drops(ledger)["b.jpg"][0] == "missing_annotation"


def test_listed_image_without_xml_is_dropped(tmp_path: Path) -> None:
    root = devkit(tmp_path, "a")
    write_image(root / "JPEGImages" / "b.jpg", (40, 30))
    write_text(root / "ImageSets" / "Main" / "train.txt", "a\nb\n")
    _, samples, reports = read(root)
    assert kept(samples) == ["a.jpg"]
    assert reports["train"].images_dropped == {"missing_annotation": 1}


def test_flat_image_without_xml_is_dropped(tmp_path: Path) -> None:
    devkit(tmp_path, "a", images="train", annotations="train")
    write_image(tmp_path / "train" / "b.jpg", (40, 30))
    _, samples, reports = read(tmp_path)
    assert kept(samples) == ["a.jpg"]
    assert reports["train"].images_dropped == {"missing_annotation": 1}


# --- images -----------------------------------------------------------------------------------


@needs_fifo
def test_fifo_named_like_an_image_is_a_reported_drop(tmp_path: Path) -> None:
    root = devkit(tmp_path, "a")
    write_text(root / "Annotations" / "b.xml", voc_xml("b.jpg"))
    os.mkfifo(root / "JPEGImages" / "b.jpg")
    started = time.monotonic()
    ledger, samples, reports = read(root)
    assert time.monotonic() - started < 5
    assert kept(samples) == ["a.jpg"]
    assert reports["train"].images_dropped == {"unreadable_image": 1}
    assert "FIFO" in image_drops(ledger)["b.jpg"][1]


def test_oversized_file_named_like_an_image_is_dropped_unread(tmp_path: Path) -> None:
    root = devkit(tmp_path, "a")
    write_text(root / "Annotations" / "x.xml", voc_xml("x.jpg"))
    with open(root / "JPEGImages" / "x.jpg", "wb") as handle:  # sparse, 5 GB on paper
        handle.truncate(5 * 1024**3)
    _, samples, reports = read(root)
    assert kept(samples) == ["a.jpg"]
    assert reports["train"].images_dropped == {"image_too_large": 1}
    assert reports["train"].objects_dropped == {"image_too_large": 1}


@pytest.mark.parametrize("bomb", [png_bomb(), jpeg_bomb()], ids=["png", "jpeg"])
def test_decompression_bomb_is_dropped_and_the_rest_validates(tmp_path: Path, bomb: bytes
                                                               ) -> None:
    root = devkit(tmp_path / "src", "a", "b")
    write(root / "JPEGImages" / "bomb.png", bomb)
    write_text(root / "Annotations" / "bomb.xml", voc_xml("bomb.png"))
    out = tmp_path / "out"
    result = run_cli("voc-to-vqa", root, out, "--split-ratios", "1,0,0")
    assert result.exit_code == 0, result.output
    drops = [d for d in read_report(out)["drops"] if d.get("annotation") is None]
    assert [(d["file"], d["reason"]) for d in drops] == [("bomb.png", "image_too_large")]
    assert run_cli("validate", out).exit_code == 0


# --- layouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("images", "annotations"), [
    ("images", "annotations"), ("Images", "annotations"), ("images", "Annotations")])
def test_lower_case_kaggle_layout_converts_every_annotation(
    tmp_path: Path, images: str, annotations: str
) -> None:
    """andrewmvd/face-mask-detection and many Kaggle sets: `images/*.png`, `annotations/*.xml`."""
    root = devkit(tmp_path / "kaggle", "maksssksksss0", "maksssksksss1", images=images,
                  annotations=annotations, suffix=".png")
    _, samples, reports = read(root)
    assert kept(samples) == ["maksssksksss0.png", "maksssksksss1.png"]
    assert reports["train"].objects_kept == 2
    assert reports["train"].objects_dropped == {}
    _, samples, _ = read(tmp_path)  # one level up, as unpacked from the archive
    assert len(samples["train"]) == 2


def test_a_yolo_folder_raises_no_annotations(tmp_path: Path) -> None:
    write_coins(tmp_path / "yolo", images=4, seed=1, fmt="yolo")
    with pytest.raises(NoAnnotationsError) as caught:
        VocReader(tmp_path / "yolo", Ledger())
    assert caught.value.format == "VOC"


def test_annotations_folder_without_xml_raises_no_annotations(tmp_path: Path) -> None:
    write_image(tmp_path / "JPEGImages" / "a.jpg", (40, 30))
    (tmp_path / "Annotations").mkdir()
    write_text(tmp_path / "Annotations" / "a.txt", "0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(NoAnnotationsError, match=r"Annotations/\*\.xml"):
        VocReader(tmp_path, Ledger())

"""COCO: annotation files that are symlinks out of the folder, FIFOs, devices, unreadable or
absurd; images that are FIFOs, oversized files or decompression bombs; boolean coordinates."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import pytest

from dsconv.converters.base import DetectionSample, Ledger, ReaderOptions
from dsconv.converters.coco import CocoReader
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.samples.coins import write_coins
from dsconv.schemas.report import SplitReport
from dsconv.storage.dataset import read_report
from tests.helpers import read_all, run_cli, write_image, write_text
from tests.image_bombs import jpeg_bomb, png_bomb, write

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


def coco(*files: str, boxes: list | None = None) -> str:
    """One image per file name, one dime on each (box `boxes[i]` when given)."""
    return json.dumps({
        "images": [{"id": i + 1, "file_name": f} for i, f in enumerate(files)],
        "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 1,
                         "bbox": boxes[i] if boxes else [1, 1, 5, 5]}
                        for i in range(len(files))],
        "categories": [{"id": 1, "name": "dime"}],
    })


def read(src: Path, **options: object
         ) -> tuple[Ledger, dict[str, list[DetectionSample]], dict[str, SplitReport]]:
    _, ledger, samples, reports = read_all(CocoReader, src, ReaderOptions(**options))
    return ledger, samples, reports


def roboflow(root: Path) -> Path:
    """A Roboflow layout with a train split of one image."""
    write_image(root / "train" / "a.jpg", (40, 30))
    write_text(root / "train" / "_annotations.coco.json", coco("a.jpg"))
    return root


# --- the annotation files --------------------------------------------------------------------


def test_annotation_file_symlinked_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    write_text(tmp_path / "elsewhere.json", coco("a.jpg"))
    root = roboflow(tmp_path / "ds")
    write_image(root / "valid" / "a.jpg", (40, 30))
    (root / "valid" / "_annotations.coco.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(InputError, match=r"valid/_annotations.coco.json.*--allow-outside-root"):
        CocoReader(root, Ledger())
    _, samples, _ = read(root, allow_outside_root=True)
    assert sorted(samples) == ["train", "validation"]


def test_mmdetection_annotations_folder_symlinked_out_is_refused(tmp_path: Path) -> None:
    write_text(tmp_path / "outside" / "instances_train.json", coco("a.jpg"))
    root = tmp_path / "ds"
    write_image(root / "train" / "a.jpg", (40, 30))
    (root / "annotations").symlink_to(tmp_path / "outside")
    with pytest.raises(InputError, match="outside"):
        CocoReader(root, Ledger())


@needs_fifo
def test_annotation_file_that_is_a_fifo_is_an_error_not_a_missing_split(tmp_path: Path) -> None:
    root = roboflow(tmp_path / "ds")
    (root / "valid").mkdir()
    os.mkfifo(root / "valid" / "_annotations.coco.json")
    started = time.monotonic()
    with pytest.raises(InputError, match=r"valid/_annotations.coco.json.*FIFO"):
        CocoReader(root, Ledger())
    assert time.monotonic() - started < 5


def test_annotation_file_linked_to_a_device_is_an_error(tmp_path: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    root = roboflow(tmp_path / "ds")
    (root / "valid").mkdir()
    (root / "valid" / "_annotations.coco.json").symlink_to("/dev/zero")
    with pytest.raises(InputError, match=r"valid/_annotations.coco.json"):
        CocoReader(root, Ledger(), ReaderOptions(allow_outside_root=True))


def test_plain_annotation_file_that_is_a_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "annotations.json").mkdir()
    with pytest.raises(InputError, match=r"annotations.json.*folder"):
        CocoReader(tmp_path, Ledger())


def test_annotation_file_over_its_bound_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dsconv.converters.coco.MAX_ANNOTATION_BYTES", 100)
    write_text(tmp_path / "annotations.json", coco("a.jpg", "b.jpg", "c.jpg"))
    with pytest.raises(InputError, match=r"annotations.json.*limit"):
        CocoReader(tmp_path, Ledger())


def test_deeply_nested_json_is_one_line_error(tmp_path: Path) -> None:
    file = write_text(tmp_path / "annotations.json",
                      '{"images": ' + "[" * 3500 + "]" * 3500 + "}")
    with pytest.raises(InputError, match="nested too deeply") as caught:
        CocoReader(file, Ledger())
    assert str(file) in str(caught.value) and "\n" not in str(caught.value)
    result = run_cli("coco-to-vqa", file, tmp_path / "out")
    assert isinstance(result.exception, InputError)  # what the entry point prints as one line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their mode")
def test_annotation_file_without_read_permission_is_one_line_error(tmp_path: Path) -> None:
    file = write_text(tmp_path / "annotations.json", coco("a.jpg"))
    file.chmod(0)
    with pytest.raises(InputError, match=r"annotations.json.*cannot read"):
        CocoReader(tmp_path, Ledger())


def test_annotation_file_refused_by_the_system_is_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same as a file without read permission, for a test run as root: the open fails."""
    file = write_text(tmp_path / "annotations.json", coco("a.jpg"))
    real_open = os.open

    def refusing_open(path: object, *args: object, **kwargs: object) -> int:
        if os.fspath(path) == str(file):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(InputError, match=r"annotations.json: cannot read.*Permission denied"):
        CocoReader(tmp_path, Ledger())


def test_a_folder_with_no_coco_file_raises_no_annotations(tmp_path: Path) -> None:
    write_coins(tmp_path / "yolo", images=4, seed=1, fmt="yolo")
    with pytest.raises(NoAnnotationsError) as caught:
        CocoReader(tmp_path / "yolo", Ledger())
    assert caught.value.format == "COCO"
    assert "_annotations.coco.json" in caught.value.looked_for


# --- images -----------------------------------------------------------------------------------


@needs_fifo
def test_fifo_named_like_an_image_is_a_reported_drop(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", (40, 30))
    os.mkfifo(tmp_path / "b.jpg")
    write_text(tmp_path / "annotations.json", coco("a.jpg", "b.jpg"))
    started = time.monotonic()
    ledger, samples, reports = read(tmp_path)
    assert time.monotonic() - started < 5
    assert [s.file_name for s in samples["train"]] == ["a.jpg"]
    assert reports["train"].images_dropped == {"unreadable_image": 1}
    assert "FIFO" in (ledger.drops[0].detail or "")


def test_oversized_file_named_like_an_image_is_dropped_unread(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", (40, 30))
    with open(tmp_path / "x.jpg", "wb") as handle:  # sparse: 5 GB on paper, nothing on disk
        handle.truncate(5 * 1024**3)
    write_text(tmp_path / "annotations.json", coco("a.jpg", "x.jpg"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ledger, samples, reports = read(tmp_path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert [s.file_name for s in samples["train"]] == ["a.jpg"]
    assert reports["train"].images_dropped == {"image_too_large": 1}
    assert reports["train"].objects_dropped == {"image_too_large": 1}
    assert "limit" in (ledger.drops[0].detail or "")
    assert grown_mb < 100


def test_max_image_bytes_option_drops_larger_images(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", (40, 30))
    write_image(tmp_path / "big.png", (400, 300), fmt="PNG")
    write_text(tmp_path / "annotations.json", coco("a.jpg", "big.png"))
    limit = (tmp_path / "a.jpg").stat().st_size
    assert (tmp_path / "big.png").stat().st_size > limit
    out = tmp_path / "out"
    result = run_cli("coco-to-vqa", tmp_path / "annotations.json", out,
                     "--max-image-bytes", limit)
    assert result.exit_code == 0, result.output
    drops = read_report(out)["drops"]
    assert [(d["file"], d["reason"]) for d in drops if d.get("annotation") is None] == [
        ("big.png", "image_too_large")]


@pytest.mark.parametrize("bomb", [png_bomb(), jpeg_bomb(), png_bomb(10000, 10000)],
                         ids=["png", "jpeg", "png-warning"])
def test_decompression_bomb_is_dropped_and_the_rest_validates(tmp_path: Path, bomb: bytes
                                                               ) -> None:
    src = tmp_path / "src"
    for name in ("a.jpg", "b.jpg"):
        write_image(src / name, (40, 30))
    write(src / "bomb.png", bomb)
    write_text(src / "annotations.json", coco("a.jpg", "b.jpg", "bomb.png"))
    out = tmp_path / "out"
    result = run_cli("coco-to-vqa", src / "annotations.json", out, "--split-ratios", "1,0,0")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "DecompressionBomb" not in result.output
    drops = [d for d in read_report(out)["drops"] if d.get("annotation") is None]
    assert [(d["file"], d["reason"]) for d in drops] == [("bomb.png", "image_too_large")]
    assert "pixels" in drops[0]["detail"]
    assert run_cli("validate", out).exit_code == 0


# --- coordinates ------------------------------------------------------------------------------


@pytest.mark.parametrize("box", [[True, 1, 5, 5], [1, 1, 5, False], [True, "1", 5, 5]],
                         ids=["true", "false", "true-and-text"])
def test_boolean_coordinates_are_invalid_boxes(tmp_path: Path, box: list) -> None:
    write_image(tmp_path / "a.jpg", (40, 30))
    write_image(tmp_path / "b.jpg", (40, 30))
    write_text(tmp_path / "annotations.json", coco("a.jpg", "b.jpg", boxes=[box, [1, 1, 5, 5]]))
    ledger, samples, reports = read(tmp_path)
    assert [len(s.objects) for s in samples["train"]] == [0, 1]
    assert reports["train"].objects_dropped == {"invalid_box": 1}
    assert "true/false" in (ledger.drops[0].detail or "")

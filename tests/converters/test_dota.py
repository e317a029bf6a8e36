"""DOTA reader: layouts, lines, difficult objects, and every bad line a located drop."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dsconv.converters.base import ReaderOptions
from dsconv.converters.dota import DotaOptions, DotaReader
from dsconv.errors import NoAnnotationsError
from dsconv.samples.coins import write_coins
from dsconv.storage.dataset import read_report
from tests.helpers import read_all, run_cli, write_image, write_text

HEADER = "imagesource:GoogleEarth\ngsd:0.146343590398\n"


def _dataset(root: Path, labels: dict[str, str], *, label_dir: str = "labelTxt",
             size: tuple[int, int] = (100, 50)) -> Path:
    for stem, text in labels.items():
        write_image(root / "images" / f"{stem}.png", size, "PNG")
        write_text(root / label_dir / f"{stem}.txt", text)
    return root


def test_lines_become_axis_aligned_boxes(tmp_path: Path) -> None:
    src = _dataset(tmp_path, {"a": HEADER + "10 5 30 5 30 25 10 25 plane 0\n"
                                             "40 10 60 20 50 40 30 30 small-vehicle 0\n"})
    reader, _, samples, reports = read_all(DotaReader, src)
    (sample,) = samples["train"]
    assert [(o.category, o.bbox) for o in sample.objects] == [
        ("plane", (10.0, 5.0, 20.0, 20.0)), ("small-vehicle", (30.0, 10.0, 30.0, 30.0))]
    assert sample.file_name == "a.png" and sample.image_id == "a"
    assert reader.vocabulary().classes == ["plane", "small-vehicle"]  # sorted names
    assert reports["train"].objects_total == 2


def test_difficult_objects_are_dropped_unless_kept(tmp_path: Path) -> None:
    src = _dataset(tmp_path, {"a": "10 5 30 5 30 25 10 25 plane 1\n10 5 30 5 30 25 10 25 ship 0\n"})
    _, ledger, samples, reports = read_all(DotaReader, src)
    assert [o.category for o in samples["train"][0].objects] == ["ship"]
    assert reports["train"].objects_dropped == {"difficult": 1}
    assert ledger.drops[0].annotation == "labelTxt/a.txt:1"
    _, _, samples, _ = read_all(DotaReader, src, DotaOptions(keep_difficult=True))
    assert [o.category for o in samples["train"][0].objects] == ["plane", "ship"]


def test_every_bad_line_is_a_drop_with_file_and_line(tmp_path: Path) -> None:
    src = _dataset(tmp_path, {"a": HEADER + "1 2 3 4 plane 0\n"
                                             "a b c d e f g h plane 0\n"
                                             "1 1 nan 1 9 9 1 9 plane 0\n"
                                             "10 5 30 5 30 25 10 25 plane 0\n"
                                             "5 5 5 5 5 5 5 5 plane 0\n"
                                             "200 5 300 5 300 25 200 25 plane 0\n"})
    _, ledger, samples, reports = read_all(DotaReader, src)
    assert len(samples["train"][0].objects) == 1
    got = [(d.reason, d.annotation) for d in ledger.drops]
    assert got == [("bad_label_line", "labelTxt/a.txt:3"), ("bad_label_line", "labelTxt/a.txt:4"),
                   ("bad_label_line", "labelTxt/a.txt:5"), ("degenerate_box", "labelTxt/a.txt:7"),
                   ("box_outside_image", "labelTxt/a.txt:8")]
    assert "6 fields" in (ledger.drops[0].detail or "")
    assert reports["train"].objects_total == 6


def test_class_names_with_spaces_and_without_difficult(tmp_path: Path) -> None:
    src = _dataset(tmp_path, {"a": "10 5 30 5 30 25 10 25 small vehicle 0\n"
                                   "10 5 30 5 30 25 10 25 plane\n"})
    reader, _, samples, _ = read_all(DotaReader, src)
    assert [o.category for o in samples["train"][0].objects] == ["small vehicle", "plane"]
    assert reader.vocabulary().classes == ["plane", "small vehicle"]


def test_classes_option_orders_and_filters(tmp_path: Path) -> None:
    src = _dataset(tmp_path, {"a": "10 5 30 5 30 25 10 25 plane 0\n"
                                   "10 5 30 5 30 25 10 25 ship 0\n"})
    reader, _, samples, reports = read_all(DotaReader, src, ReaderOptions(classes=("ship",)))
    assert reader.vocabulary().classes == ["ship"]
    assert [o.category for o in samples["train"][0].objects] == ["ship"]
    assert reports["train"].objects_dropped == {"unknown_class": 1}


def test_split_folders_and_roboflow_labels(tmp_path: Path) -> None:
    _dataset(tmp_path / "train", {"a": "10 5 30 5 30 25 10 25 plane 0\n"}, label_dir="labels")
    _dataset(tmp_path / "valid", {"b": "10 5 30 5 30 25 10 25 ship 0\n"}, label_dir="labels")
    write_text(tmp_path / "data.yaml", "train: train/images\nval: valid/images\n")
    reader, _, samples, _ = read_all(DotaReader, tmp_path)
    assert reader.splits() == ["train", "validation"]
    assert [o.category for o in samples["validation"][0].objects] == ["ship"]


def test_image_without_label_has_no_objects_and_label_without_image_is_dropped(
    tmp_path: Path
) -> None:
    src = _dataset(tmp_path, {"a": "10 5 30 5 30 25 10 25 plane 0\n"})
    write_image(src / "images" / "background.png", (100, 50), "PNG")
    write_text(src / "labelTxt" / "lost.txt", "10 5 30 5 30 25 10 25 plane 0\n")
    _, ledger, samples, reports = read_all(DotaReader, src)
    assert [s.image_id for s in samples["train"]] == ["a", "background"]
    assert samples["train"][1].objects == []
    assert [(d.reason, d.file) for d in ledger.drops][:1] == [("missing_image",
                                                              "labelTxt/lost.txt")]
    assert reports["train"].objects_dropped == {"missing_image": 1}
    assert reports["train"].objects_total == 2


def test_no_label_files_is_no_annotations(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.png", (10, 10), "PNG")
    with pytest.raises(NoAnnotationsError, match="no DOTA annotations found"):
        DotaReader(tmp_path, _ledger())
    (tmp_path / "labelTxt").mkdir()
    with pytest.raises(NoAnnotationsError):
        DotaReader(tmp_path, _ledger())


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_label_is_not_opened(tmp_path: Path) -> None:
    src = _dataset(tmp_path, {"a": "10 5 30 5 30 25 10 25 plane 0\n"})
    write_image(src / "images" / "b.png", (100, 50), "PNG")
    os.mkfifo(src / "labelTxt" / "b.txt")
    _, ledger, samples, _ = read_all(DotaReader, src)
    assert [s.image_id for s in samples["train"]] == ["a"]
    assert ledger.drops[0].reason == "bad_annotation"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_image_is_a_reported_drop(tmp_path: Path) -> None:
    src = _dataset(tmp_path, {"a": "10 5 30 5 30 25 10 25 plane 0\n"})
    os.mkfifo(src / "images" / "b.jpg")
    write_text(src / "labelTxt" / "b.txt", "10 5 30 5 30 25 10 25 plane 0\n")
    _, ledger, samples, reports = read_all(DotaReader, src)
    assert [s.image_id for s in samples["train"]] == ["a"]
    assert [(d.reason, d.file) for d in ledger.drops] == [("unreadable_image", "b.jpg"),
                                                          ("unreadable_image", "labelTxt/b.txt")]
    assert reports["train"].objects_total == 2


def test_a_label_symlinked_out_of_the_folder_is_not_read(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "data", {"a": "10 5 30 5 30 25 10 25 plane 0\n"})
    write_image(src / "images" / "b.png", (100, 50), "PNG")
    secret = write_text(tmp_path / "secret.txt", "10 5 30 5 30 25 10 25 secret 0\n")
    try:
        (src / "labelTxt" / "b.txt").symlink_to(secret)
    except OSError:
        pytest.skip("no symlinks here")
    reader, ledger, _, _ = read_all(DotaReader, src)
    assert "secret" not in reader.vocabulary().classes
    assert any(d.reason == "bad_annotation" and "outside" in (d.detail or "")
               for d in ledger.drops)


def test_sample_converts_and_validates_through_the_cli(tmp_path: Path) -> None:
    summary = write_coins(tmp_path / "src", images=12, seed=3, fmt="dota")
    out = tmp_path / "vqa"
    result = run_cli("convert", tmp_path / "src", out, "--from", "dota", "--noun", "currency")
    assert result.exit_code == 0, result.output
    assert run_cli("validate", out).exit_code == 0
    report = read_report(out)
    assert {name: split["objects_kept"] for name, split in report["splits"].items()} == {
        "train": summary.objects["train"], "validation": summary.objects["valid"],
        "test": summary.objects["test"]}
    assert report["drops"] == []


def test_sample_command_writes_dota(tmp_path: Path) -> None:
    result = run_cli("sample", "coins", tmp_path / "d", "--format", "dota", "--images", "6")
    assert result.exit_code == 0, result.output
    labels = sorted((tmp_path / "d" / "train" / "labelTxt").glob("*.txt"))
    assert labels and labels[0].read_text().startswith("imagesource:")


def _ledger():  # type: ignore[no-untyped-def]
    from dsconv.converters.base import Ledger

    return Ledger()

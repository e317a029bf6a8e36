"""`--from auto` and `dsconv detect`: every layout a reader supports is detected as itself,
nothing else is detected at all, and two equally likely formats are an error."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from dsconv.converters import probe as detect_module
from dsconv.converters import registry
from dsconv.converters.base import Ledger
from dsconv.converters.detect import (
    FormatNotDetectedError,
    choose_format,
    detect_formats,
    open_reader,
)
from dsconv.converters.probe import PEEK_BYTES, Detection
from dsconv.errors import DsconvError, NoAnnotationsError
from dsconv.samples.coins import FORMATS, write_coins
from dsconv.samples.docs import write_docs
from dsconv.storage.dataset import read_report
from tests.helpers import run_cli, write_image, write_text


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("samples")
    for fmt in FORMATS:
        write_coins(base / fmt, images=6, seed=5, fmt=fmt)
    return {fmt: base / fmt for fmt in FORMATS}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _images_and_txt(folder: Path, labels: Path, line: str) -> None:
    """One image in `folder` and its label (one `line`) in `labels`."""
    write_image(folder / "a.jpg")
    write_text(labels / "a.txt", line + "\n")


YOLO_LINE = "0 0.5 0.5 0.2 0.2"
DOTA_LINE = "10 10 30 10 30 30 10 30 small-vehicle 0"
VOC_XML = ("<annotation><filename>a.jpg</filename><object><name>cat</name>"
           "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>"
           "</object></annotation>")
COCO_JSON = json.dumps({"images": [], "annotations": [], "categories": []})


# Each layout: a function making it in a folder, and the format it must be detected as.
def _mmdet(root: Path, samples: dict[str, Path]) -> Path:
    write_text(root / "annotations" / "instances_train2017.json", COCO_JSON)
    write_image(root / "train2017" / "a.jpg")
    return root


def _coco_plain(root: Path, samples: dict[str, Path]) -> Path:
    write_text(root / "annotations.json", COCO_JSON)
    write_image(root / "a.jpg")
    return root


def _coco_file(root: Path, samples: dict[str, Path]) -> Path:
    return write_text(root / "my-export.json", COCO_JSON)


def _yolo_tree(root: Path, samples: dict[str, Path]) -> Path:
    _images_and_txt(root / "images" / "train", root / "labels" / "train", YOLO_LINE)
    return root


def _yolo_splits(root: Path, samples: dict[str, Path]) -> Path:
    """The YOLO sample without its data.yaml: train/images + train/labels."""
    _copy(samples["yolo"], root)
    (root / "data.yaml").unlink()
    return root


def _yolo_capital(root: Path, samples: dict[str, Path]) -> Path:
    _images_and_txt(root / "Images", root / "Annotations", YOLO_LINE)
    return root


def _yolo_lower(root: Path, samples: dict[str, Path]) -> Path:
    _images_and_txt(root / "images", root / "annotations", YOLO_LINE)
    return root


def _darknet(root: Path, samples: dict[str, Path]) -> Path:
    _images_and_txt(root / "obj_train_data", root / "obj_train_data", YOLO_LINE)
    write_text(root / "obj.names", "cat\n")
    write_text(root / "obj.data", "classes = 1\ntrain = train.txt\nnames = obj.names\n")
    return root


def _darknet_names(root: Path, samples: dict[str, Path]) -> Path:
    _images_and_txt(root, root, YOLO_LINE)
    write_text(root / "obj.names", "cat\n")
    return root


def _yolo_yaml_file(root: Path, samples: dict[str, Path]) -> Path:
    return _copy(samples["yolo"], root) / "data.yaml"


def _vocdevkit(root: Path, samples: dict[str, Path]) -> Path:
    _copy(samples["voc"], root / "VOCdevkit" / "VOC2012")
    return root


def _voc_lower(root: Path, samples: dict[str, Path]) -> Path:
    write_image(root / "images" / "a.jpg")
    write_text(root / "annotations" / "a.xml", VOC_XML)
    return root


def _voc_flat(root: Path, samples: dict[str, Path]) -> Path:
    write_image(root / "a.jpg")
    write_text(root / "a.xml", VOC_XML)
    return root


def _voc_flat_splits(root: Path, samples: dict[str, Path]) -> Path:
    for split in ("train", "valid"):
        write_image(root / split / "a.jpg")
        write_text(root / split / "a.xml", VOC_XML)
    return root


def _dota_root(root: Path, samples: dict[str, Path]) -> Path:
    _images_and_txt(root / "images", root / "labelTxt", DOTA_LINE)
    return root


def _dota_roboflow(root: Path, samples: dict[str, Path]) -> Path:
    """Roboflow's DOTA-style export: data.yaml, and DOTA lines in train/labels."""
    _images_and_txt(root / "train" / "images", root / "train" / "labels", DOTA_LINE)
    write_text(root / "data.yaml", "train: train/images\nnames: ['small-vehicle']\n")
    return root


def _dota_roboflow_labeltxt(root: Path, samples: dict[str, Path]) -> Path:
    _images_and_txt(root / "train" / "images", root / "train" / "labelTxt", DOTA_LINE)
    write_text(root / "data.yaml", "train: train/images\nnames: ['small-vehicle']\n")
    return root


LAYOUTS: dict[str, tuple[Callable[[Path, dict[str, Path]], Path], str]] = {
    "coco-mmdetection": (_mmdet, "coco"),
    "coco-plain-folder": (_coco_plain, "coco"),
    "coco-single-file": (_coco_file, "coco"),
    "yolo-images-labels-tree": (_yolo_tree, "yolo"),
    "yolo-split-folders-without-yaml": (_yolo_splits, "yolo"),
    "yolo-Images-Annotations-txt": (_yolo_capital, "yolo"),
    "yolo-images-annotations-txt": (_yolo_lower, "yolo"),
    "yolo-darknet-obj-data": (_darknet, "yolo"),
    "yolo-darknet-names-beside": (_darknet_names, "yolo"),
    "yolo-data-yaml-file": (_yolo_yaml_file, "yolo"),
    "voc-vocdevkit-nested": (_vocdevkit, "voc"),
    "voc-lowercase": (_voc_lower, "voc"),
    "voc-flat": (_voc_flat, "voc"),
    "voc-flat-splits": (_voc_flat_splits, "voc"),
    "dota-root": (_dota_root, "dota"),
    "dota-roboflow-labels": (_dota_roboflow, "dota"),
    "dota-roboflow-labeltxt": (_dota_roboflow_labeltxt, "dota"),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_sample_format_is_detected_as_itself(samples: dict[str, Path], fmt: str) -> None:
    found = choose_format(samples[fmt])
    assert found.format == fmt
    assert found.evidence
    assert [d.format for d in detect_formats(samples[fmt])] == [fmt]  # nothing else claims it


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_is_detected_as_its_format(
    samples: dict[str, Path], tmp_path: Path, layout: str
) -> None:
    make, fmt = LAYOUTS[layout]
    src = make(tmp_path / "data", samples)
    assert choose_format(src).format == fmt, detect_formats(src)


def test_evidence_names_the_files(samples: dict[str, Path]) -> None:
    assert "train/_annotations.coco.json" in choose_format(samples["coco"]).evidence
    assert "Annotations/*.xml" in choose_format(samples["voc"]).evidence
    assert "train/labelTxt/*.txt" in choose_format(samples["dota"]).evidence


def test_docs_sample_and_empty_folder_are_nothing(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", documents=3)
    (tmp_path / "empty").mkdir()
    for src in (tmp_path / "docs", tmp_path / "empty"):
        assert detect_formats(src) == []
        checked = r"\(checked coco, yolo, voc, dota, labelme, cvat, labelstudio, hf\)"
        with pytest.raises(FormatNotDetectedError,
                           match=r"no dataset format recognised " + checked):
            choose_format(src)


def test_two_equally_sure_formats_are_ambiguous(samples: dict[str, Path], tmp_path: Path
                                                ) -> None:
    src = _copy(samples["coco"], tmp_path / "both")
    shutil.copy(samples["yolo"] / "data.yaml", src / "data.yaml")
    with pytest.raises(FormatNotDetectedError) as caught:
        choose_format(src)
    message = str(caught.value)
    assert "\n" not in message
    assert "looks like several formats" in message
    assert "coco (0.95: test/_annotations.coco.json" in message
    assert "yolo (0.95: data.yaml)" in message


def test_a_folder_of_label_txt_without_images_is_nothing(tmp_path: Path) -> None:
    write_text(tmp_path / "notes.txt", "0 0.5 0.5 0.1 0.1\n")
    assert detect_formats(tmp_path) == []


# --- bounded and safe ----------------------------------------------------------------------


def test_detection_reads_at_most_a_few_kb_of_any_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = {"images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(20_000)],
           "annotations": [], "categories": []}
    write_text(tmp_path / "annotations.json", json.dumps(big))
    assert (tmp_path / "annotations.json").stat().st_size > 100 * PEEK_BYTES
    reads: list[int] = []
    real = detect_module.open_regular

    def counting(path: str, limit: int):  # type: ignore[no-untyped-def]
        handle = real(path, limit)
        read = handle.read

        def bounded(n: int = -1) -> bytes:
            data = read(n)
            reads.append(len(data))
            return data

        handle.read = bounded  # type: ignore[method-assign]
        return handle

    monkeypatch.setattr(detect_module, "open_regular", counting)
    assert choose_format(tmp_path).format == "coco"
    assert reads and max(reads) <= PEEK_BYTES


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_never_opened(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    os.mkfifo(tmp_path / "train" / "_annotations.coco.json")
    os.mkfifo(tmp_path / "annotations.json")
    os.mkfifo(tmp_path / "data.yaml")
    assert detect_formats(tmp_path) == []  # returns: a FIFO opened for reading would block
    assert detect_formats(tmp_path / "annotations.json") == []


def test_symlinks_out_of_the_folder_are_not_followed(samples: dict[str, Path], tmp_path: Path
                                                     ) -> None:
    src = tmp_path / "data"
    src.mkdir()
    try:
        (src / "train").symlink_to(samples["coco"] / "train", target_is_directory=True)
        outside = write_text(tmp_path / "elsewhere.json", COCO_JSON)
        (src / "annotations.json").symlink_to(outside)
    except OSError:
        pytest.skip("no symlinks here")
    assert detect_formats(src) == []


def test_a_folder_with_many_entries_is_looked_at_boundedly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(detect_module, "MAX_ENTRIES", 10)
    for i in range(30):
        (tmp_path / f"{i:03d}.bin").write_bytes(b"")
    probe = detect_module.Probe(tmp_path)
    assert len(probe.files()) == 10


# --- plugins ------------------------------------------------------------------------------


class SureReader:
    """A plugin that claims every folder with a `dots.txt`."""

    name = "dots"
    description = "test plugin"

    @classmethod
    def detect(cls, src: Path) -> Detection | None:
        if (src / "dots.txt").is_file():
            return Detection("whatever", 0.99, "dots.txt")
        return None


class SilentReader:
    name = "silent"
    description = "test plugin without detect"


class CrashingReader:
    name = "crash"
    description = "test plugin whose detect fails"

    @classmethod
    def detect(cls, src: Path) -> Detection | None:
        raise KeyError("bug")


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [EntryPoint("dots", f"{__name__}:SureReader", registry.GROUP),
              EntryPoint("silent", f"{__name__}:SilentReader", registry.GROUP),
              EntryPoint("crash", f"{__name__}:CrashingReader", registry.GROUP),
              EntryPoint("broken", "no_such_module:Reader", registry.GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: points)


def test_a_plugin_with_detect_is_detected_under_its_registered_name(
    plugins: None, tmp_path: Path
) -> None:
    write_text(tmp_path / "dots.txt", "")
    assert choose_format(tmp_path) == Detection("dots", 0.99, "dots.txt")


def test_a_plugin_without_detect_or_that_cannot_load_is_never_detected(
    plugins: None, tmp_path: Path
) -> None:
    with pytest.raises(FormatNotDetectedError,
                       match=r"checked coco, yolo, voc, dota, labelme, cvat, labelstudio, hf, "
                             r"dots, crash\)"):
        choose_format(tmp_path)  # and the crashing one's failure is no claim


def test_a_missing_source_says_so(tmp_path: Path) -> None:
    with pytest.raises(FormatNotDetectedError, match="no such file or folder"):
        choose_format(tmp_path / "nope")
    with pytest.raises(ValueError, match="between 0 and 1"):
        Detection("coco", 1.5, "x")


# --- the hint: a reader that finds none of its files says what the folder is ---------------


class NoLabelsReader:
    """Stands for a YOLO reader that finds no label files (as the real ones raise)."""

    name = "fakeyolo"
    description = "test plugin"

    def __init__(self, src: Path, ledger: Ledger, options: object = None) -> None:
        raise NoAnnotationsError(src, "fakeyolo", "labels/*.txt beside images/")


@pytest.fixture
def no_labels(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    point = EntryPoint("fakeyolo", f"{__name__}:NoLabelsReader", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    yield


def test_no_annotations_says_what_the_folder_looks_like(
    no_labels: None, samples: dict[str, Path]
) -> None:
    with pytest.raises(DsconvError) as caught:
        open_reader("fakeyolo", samples["coco"], Ledger())
    message = str(caught.value)
    assert message.startswith(f"{samples['coco']}: no fakeyolo annotations found "
                              "(looked for labels/*.txt beside images/); it has COCO "
                              "annotations (test/_annotations.coco.json")
    assert message.endswith(": use coco-to-vqa, or `dsconv convert --from auto`")
    assert "\n" not in message


def test_no_annotations_anywhere_says_so(no_labels: None, tmp_path: Path) -> None:
    with pytest.raises(DsconvError, match="no other format recognised there either"):
        open_reader("fakeyolo", tmp_path, Ledger())


def test_the_cli_prints_the_hint_and_writes_nothing(
    no_labels: None, samples: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_cli("convert", samples["dota"], out, "--from", "fakeyolo")
    assert result.exit_code != 0
    assert "it has DOTA annotations" in str(result.exception)
    assert "use `dsconv convert --from dota`" in str(result.exception)
    assert not out.exists()


def test_yolo_command_on_a_coco_folder_is_an_error_naming_coco(
    samples: dict[str, Path], tmp_path: Path
) -> None:
    """The real case: the YOLO reader on the COCO sample finds no labels (it refuses, or
    converts no objects, which the empty-result rule refuses); either way the error says the
    folder is COCO and nothing is written."""
    out = tmp_path / "out"
    result = run_cli("yolo-to-vqa", samples["coco"], out)
    assert result.exit_code != 0
    assert "it has COCO annotations (test/_annotations.coco.json" in str(result.exception)
    assert "use coco-to-vqa" in str(result.exception)
    assert not out.exists()


# --- the CLI ------------------------------------------------------------------------------


def test_convert_defaults_to_auto(samples: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("convert", samples["coco"], out, "--noun", "currency")
    assert result.exit_code == 0, result.output
    assert "detected coco" in result.output
    report = read_report(out)
    assert report["source_format"] == "coco"
    assert sum(split["objects_kept"] for split in report["splits"].values()) > 0


def test_convert_auto_refuses_an_ambiguous_folder(samples: dict[str, Path], tmp_path: Path
                                                   ) -> None:
    src = _copy(samples["coco"], tmp_path / "both")
    shutil.copy(samples["yolo"] / "data.yaml", src / "data.yaml")
    result = run_cli("convert", src, tmp_path / "out")
    assert isinstance(result.exception, FormatNotDetectedError)
    assert not (tmp_path / "out").exists()


def test_detect_command(samples: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("detect", samples["voc"])
    assert result.exit_code == 0, result.output
    assert "voc" in result.output and "0.95" in result.output
    assert "Annotations/*.xml" in result.output
    (tmp_path / "empty").mkdir()
    assert run_cli("detect", tmp_path / "empty").exit_code == 1
    both = _copy(samples["coco"], tmp_path / "both")
    shutil.copy(samples["yolo"] / "data.yaml", both / "data.yaml")
    result = run_cli("detect", both)
    assert result.exit_code == 1
    assert "coco" in result.output and "yolo" in result.output

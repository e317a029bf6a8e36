"""Hostile input: paths that leave the dataset, broken settings, Ctrl-C, huge annotation files."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsconv.converters.base import DetectionSample, Ledger
from dsconv.converters.coco import CocoReader
from dsconv.converters.voc import VocReader
from dsconv.converters.yolo import YoloReader
from dsconv.errors import InputError
from dsconv.schemas.report import SplitReport
from dsconv.storage.dataset import iter_rows, read_report
from dsconv.storage.target import TEMP_PREFIX
from dsconv.validation import validate_dataset
from tests.helpers import out_beside, read_all, run_cli, write_image, write_text

Reader = type[CocoReader] | type[YoloReader] | type[VocReader]
LABEL = "0 0.5 0.5 0.2 0.2\n"


def image(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    return write_image(path, size)


text = write_text


def read(
    reader: type, src: Path, **options: object
) -> tuple[Ledger, dict[str, list[DetectionSample]], dict[str, SplitReport]]:
    _, ledger, samples, reports = read_all(reader, src, reader.options_class(**options))
    return ledger, samples, reports


def names(samples: dict[str, list[DetectionSample]]) -> list[str]:
    return sorted(s.file_name for items in samples.values() for s in items)


# --- YOLO: image paths leaving the dataset root ---------------------------------------------


def outside_tree(tmp_path: Path) -> Path:
    """Images with labels in a folder beside the dataset: what the entries below point at."""
    for stem in ("far1", "far2"):
        image(tmp_path / "outside" / "images" / f"{stem}.jpg")
        text(tmp_path / "outside" / "labels" / f"{stem}.txt", LABEL)
    return tmp_path / "outside"


def test_yolo_list_entries_leaving_the_root_are_refused(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    root = tmp_path / "ds"
    image(root / "images" / "ok.jpg")
    text(root / "labels" / "ok.txt", LABEL)
    (root / "images" / "link.jpg").symlink_to(outside / "images" / "far1.jpg")
    text(root / "labels" / "link.txt", LABEL + LABEL)
    text(root / "data.yaml", "path: .\ntrain: train.txt\nnames: [coin]\n")
    text(root / "train.txt", "\n".join([
        "images/ok.jpg", str(outside / "images" / "far1.jpg"), "../outside/images/far2.jpg",
        "./images/link.jpg"]))

    ledger, samples, reports = read(YoloReader, root)
    assert names(samples) == ["images/ok.jpg"]
    assert reports["train"].images_dropped == {"unsafe_path": 3}
    # The symlink's label is inside the root and is accounted for; labels outside are not read.
    assert reports["train"].objects_dropped == {"unsafe_path": 2}
    details = [d.detail or "" for d in ledger.drops if d.annotation is None]
    assert all("--allow-outside-root" in d for d in details)

    _, samples, reports = read(YoloReader, root, allow_outside_root=True)
    assert len(names(samples)) == 4
    assert reports["train"].objects_kept == 5


def test_yolo_yaml_splits_outside_the_root_are_refused(tmp_path: Path) -> None:
    """A split folder outside the root is an error before it is walked (it used to be walked,
    each image then refused); --allow-outside-root reads it."""
    outside = outside_tree(tmp_path)
    text(outside / "labels" / "orphan.txt", LABEL)
    root = tmp_path / "ds"
    image(root / "images" / "ok.jpg")
    for entry in (outside / "images", "../outside/images"):
        text(root / "data.yaml", f"train: images\nval: {entry}\nnames: [coin]\n")
        with pytest.raises(InputError, match=r"data\.yaml: val: .*--allow-outside-root"):
            read(YoloReader, root)
    text(root / "data.yaml",
         f"train: images\nval: {outside / 'images'}\ntest: ../outside/images\nnames: [coin]\n")
    _, samples, reports = read(YoloReader, root, allow_outside_root=True)
    assert len(samples["validation"]) == len(samples["test"]) == 2
    assert reports["test"].objects_kept == 2


def test_yolo_yaml_path_names_the_root_only_when_allowed(tmp_path: Path) -> None:
    """Ultralytics' `path:` may name a dataset folder elsewhere; following it out of the
    folder the user gave takes --allow-outside-root."""
    root = tmp_path / "datasets" / "coins"
    image(root / "images" / "train" / "a.jpg")
    text(root / "labels" / "train" / "a.txt", LABEL)
    yaml_file = text(tmp_path / "configs" / "coins.yaml",
                     f"path: {root}\ntrain: images/train\nnames: [coin]\n")
    with pytest.raises(InputError, match=r"coins\.yaml: path: .*--allow-outside-root"):
        read(YoloReader, yaml_file)
    ledger, samples, reports = read(YoloReader, yaml_file, allow_outside_root=True)
    assert names(samples) == ["a.jpg"]
    assert reports["train"].objects_kept == 1 and ledger.drops == []


def test_yolo_prefers_the_folder_inside_the_root(tmp_path: Path) -> None:
    """Roboflow writes `train: ../train/images`; a `train/` beside the dataset must not win."""
    image(tmp_path / "train" / "images" / "stranger.jpg")
    root = tmp_path / "ds"
    image(root / "train" / "images" / "mine.jpg")
    text(root / "train" / "labels" / "mine.txt", LABEL)
    text(root / "data.yaml", "train: ../train/images\nnames: [coin]\n")
    ledger, samples, _ = read(YoloReader, root)
    assert names(samples) == ["mine.jpg"] and ledger.drops == []


def test_yolo_symlinked_image_folder_is_refused(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "images" / "train").symlink_to(outside / "images", target_is_directory=True)
    text(root / "data.yaml", "train: images/train\nnames: [coin]\n")
    with pytest.raises(InputError, match=r"train: .*outside.*--allow-outside-root"):
        read(YoloReader, root)


def test_darknet_names_file_outside_the_root_is_an_error(tmp_path: Path) -> None:
    """Class names go into every question: a names file elsewhere could publish any file."""
    secret = text(tmp_path / "secret.txt", "hunter2\n")
    root = tmp_path / "ds"
    image(root / "obj" / "a.jpg")
    text(root / "obj" / "a.txt", LABEL)
    text(root / "train.txt", "obj/a.jpg\n")
    text(root / "obj.data", f"classes = 1\ntrain = train.txt\nnames = {secret}\n")
    with pytest.raises(InputError, match=r"obj\.data: names: .*--allow-outside-root"):
        read(YoloReader, root)
    _, samples, _ = read(YoloReader, root, allow_outside_root=True)
    assert [o.category for o in samples["train"][0].objects] == ["hunter2"]


def test_allow_outside_root_reaches_the_reader_from_the_cli(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    root = tmp_path / "ds"
    text(root / "data.yaml", f"train: {outside / 'images'}\nnames: [coin]\n")
    image(root / "images" / "ok.jpg")
    result = run_cli("yolo-to-vqa", root, tmp_path / "refused", "--split-ratios", "1,0,0")
    assert result.exit_code == 1 and "--allow-outside-root" in str(result.exception)
    assert not (tmp_path / "refused").exists()
    result = run_cli("yolo-to-vqa", root, tmp_path / "allowed", "--split-ratios", "1,0,0",
                     "--allow-outside-root")
    assert result.exit_code == 0, result.output
    assert sorted(r["image"]["path"] for r in iter_rows(tmp_path / "allowed")) == [
        "far1.jpg", "far2.jpg"]


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("kpt_shape: [17, x]\nnames: [coin]\n", "kpt_shape must be a list of integers"),
    ("kpt_shape: '17,3'\nnames: [coin]\n", "kpt_shape must be a list of integers"),
    ("nc: 1000000000000\n", "no class names"),
    ("nc: -3\n", "no class names"),
], ids=["kpt-text", "kpt-string", "huge-nc", "negative-nc"])
def test_yolo_settings_that_cannot_work_are_one_line_errors(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    """Each used to crash with a traceback or (huge nc) build a trillion class names."""
    image(tmp_path / "images" / "a.jpg")
    text(tmp_path / "labels" / "a.txt", LABEL)
    text(tmp_path / "data.yaml", "train: images\n" + yaml_text)
    started = time.perf_counter()
    with pytest.raises(InputError, match=message):
        read(YoloReader, tmp_path)
    assert time.perf_counter() - started < 5


def test_yolo_unnamed_class_id_far_too_large_is_an_error(tmp_path: Path) -> None:
    image(tmp_path / "images" / "a.jpg")
    text(tmp_path / "labels" / "a.txt", "999999999999 0.5 0.5 0.2 0.2\n")
    with pytest.raises(InputError, match="no class names"):
        read(YoloReader, tmp_path)


# --- YOLO: every file the reader opens stays inside the root, is regular and bounded -----------


@pytest.fixture
def deadline() -> Iterator[None]:
    """Fail instead of hanging forever (a FIFO opened for reading blocks until a writer)."""
    def expire(*_: object) -> None:
        raise TimeoutError("the reader blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def yolo_tree(root: Path, yaml_text: str = "train: images\nnames: [coin]\n") -> Path:
    image(root / "images" / "a.jpg")
    text(root / "labels" / "a.txt", LABEL)
    text(root / "data.yaml", yaml_text)
    return root


@pytest.mark.parametrize("entry", ["secret", "/", "../outside"], ids=["file", "slash", "up"])
def test_yolo_yaml_split_entry_outside_the_root_is_an_error(
    tmp_path: Path, entry: str
) -> None:
    """`train: /proc/self/environ` used to read the file as an image list into the report;
    `train: /` walked the whole filesystem. Both are refused before anything is read."""
    secret = text(tmp_path / "secret", "FAKE_HF_TOKEN=hf_x\n")
    (tmp_path / "outside").mkdir()
    target = {"secret": str(secret), "/": "/", "../outside": "../outside"}[entry]
    root = yolo_tree(tmp_path / "ds", f"train: images\nval: {target}\nnames: [coin]\n")
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"data\.yaml: val: .*outside.*--allow-outside-root"
                       ) as info:
        read(YoloReader, root)
    assert time.perf_counter() - started < 5
    assert "\n" not in str(info.value) and "hf_x" not in str(info.value)


def test_yolo_environ_as_a_split_never_reaches_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13's reproduction, through the CLI."""
    if not Path("/proc/self/environ").exists():
        pytest.skip("no /proc")
    monkeypatch.setenv("FAKE_HF_TOKEN", "hf_x")
    src = yolo_tree(tmp_path / "s", "train: /proc/self/environ\nnames: [coin]\n")
    result = run_cli("yolo-to-vqa", src, tmp_path / "o")
    assert result.exit_code != 0
    assert "FAKE_HF_TOKEN" not in result.output and not (tmp_path / "o").exists()


def test_yolo_list_lines_are_quoted_short(tmp_path: Path) -> None:
    """With --allow-outside-root a list that is not a list of image paths still only ever
    appears in the report as short escaped excerpts of its lines."""
    secret = tmp_path / "environ"
    secret.write_bytes(b"FAKE_HF_TOKEN=hf_x\0HOME=/root\0" + b"X" * 5000 + b"\n\x1b[31mred.jpg\n")
    root = yolo_tree(tmp_path / "ds", f"train: images\nval: {secret}\nnames: [coin]\n")
    ledger, _, reports = read(YoloReader, root, allow_outside_root=True)
    assert reports["validation"].images_dropped == {"bad_list_line": 2}
    for drop in ledger.drops:
        assert len(drop.file) < 200 and len(drop.detail or "") < 200
        assert "\x1b" not in (drop.detail or "") and "FAKE" not in (drop.detail or "")
    text(root / "list.txt", "images/a.jpg\n" + "x" * 5000 + "\nnotes.md\n")
    text(root / "data.yaml", "train: list.txt\nnames: [coin]\n")
    ledger, _, reports = read(YoloReader, root)
    assert reports["train"].images_dropped == {"bad_list_line": 2}
    assert [len(d.detail or "") < 120 for d in ledger.drops] == [True, True]
    assert "'notes.md' is not an image path" in (ledger.drops[1].detail or "")


def test_yolo_yaml_path_may_not_move_the_root(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    for path in (str(outside), "../outside", "../.."):
        root = yolo_tree(tmp_path / "ds", f"path: {path}\ntrain: images\nnames: [coin]\n")
        with pytest.raises(InputError, match=r"data\.yaml: path: .*--allow-outside-root"):
            read(YoloReader, root)
    text(tmp_path / "ds" / "data.yaml", "path: ../outside\ntrain: images\nnames: [coin]\n")
    _, samples, _ = read(YoloReader, tmp_path / "ds", allow_outside_root=True)
    assert names(samples) == ["far1.jpg", "far2.jpg"]
    text(tmp_path / "ds" / "data.yaml", "path: ./sub/..\ntrain: images\nnames: [coin]\n")
    _, samples, _ = read(YoloReader, tmp_path / "ds")
    assert names(samples) == ["a.jpg"]


def test_yolo_symlinked_split_folder_is_refused_before_it_is_walked(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    root = tmp_path / "ds"
    (root / "train").mkdir(parents=True)
    (root / "train" / "images").symlink_to(outside / "images", target_is_directory=True)
    text(root / "data.yaml", "train: train/images\nnames: [coin]\n")
    with pytest.raises(InputError, match="outside"):
        read(YoloReader, root)
    (root / "data.yaml").unlink()
    (root / "train" / "images").unlink()
    (root / "valid").symlink_to(Path("/"), target_is_directory=True)
    with pytest.raises(InputError, match=r"valid.*outside"):
        read(YoloReader, root)


@pytest.mark.parametrize("what", ["label", "labels-folder", "list", "names", "data.yaml",
                                  "obj.data"])
def test_yolo_symlinks_out_of_the_root_are_not_followed(tmp_path: Path, what: str) -> None:
    """Every file the reader opens, not only images, must resolve inside the root."""
    out = tmp_path / "outside"
    text(out / "a.txt", "0 0.5 0.5 0.2 0.2\n0 0.1 0.1 0.1 0.1\n")
    text(out / "names", "hunter2\n")
    text(out / "list.txt", "images/a.jpg\n")
    text(out / "data.yaml", "train: images\nnames: [hunter2]\n")
    text(out / "obj.data", "train = list.txt\nnames = obj.names\n")
    root = tmp_path / "ds"
    image(root / "images" / "a.jpg")
    text(root / "obj.names", "coin\n")
    if what == "label":
        text(root / "data.yaml", "train: images\nnames: [coin]\n")
        (root / "labels").mkdir()
        (root / "labels" / "a.txt").symlink_to(out / "a.txt")
    elif what == "labels-folder":
        text(root / "data.yaml", "train: images\nnames: [coin]\n")
        (root / "labels").symlink_to(out, target_is_directory=True)
    elif what == "list":
        text(root / "data.yaml", "train: list.txt\nnames: [coin]\n")
        (root / "list.txt").symlink_to(out / "list.txt")
    elif what == "names":
        text(root / "labels" / "a.txt", LABEL)
        (root / "obj.names").unlink()
        (root / "obj.names").symlink_to(out / "names")
    elif what == "data.yaml":
        (root / "data.yaml").symlink_to(out / "data.yaml")
    else:
        (root / "obj.data").symlink_to(out / "obj.data")
    if what in ("label", "labels-folder"):
        ledger, samples, reports = read(YoloReader, root)
        assert names(samples) == [] and reports["train"].images_dropped == {"unsafe_path": 1}
        assert reports["train"].objects_total == 0
        assert "--allow-outside-root" in (ledger.drops[0].detail or "")
        _, samples, _ = read(YoloReader, root, allow_outside_root=True)
        assert len(samples["train"][0].objects) == 2
    else:
        with pytest.raises(InputError, match=r"outside.*--allow-outside-root") as info:
            read(YoloReader, root)
        assert "hunter2" not in str(info.value)


def test_yolo_symlinked_label_inside_the_root_is_read(tmp_path: Path) -> None:
    """Labels are opened without following a symlink; one that stays inside is then read."""
    root = yolo_tree(tmp_path)
    image(root / "images" / "b.jpg")
    (root / "labels" / "b.txt").symlink_to(root / "labels" / "a.txt")
    ledger, samples, _ = read(YoloReader, root)
    assert [len(s.objects) for s in samples["train"]] == [1, 1] and ledger.drops == []


fifo_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


@fifo_only
def test_yolo_fifo_image_or_label_is_a_reported_drop(tmp_path: Path, deadline: None) -> None:
    root = yolo_tree(tmp_path, "train: list.txt\nnames: [coin]\n")
    text(root / "list.txt", "images/a.jpg\nimages/b.jpg\nimages/c.jpg\n")
    image(root / "images" / "b.jpg")
    os.mkfifo(root / "labels" / "b.txt")
    os.mkfifo(root / "images" / "c.jpg")
    text(root / "labels" / "c.txt", LABEL)
    ledger, samples, reports = read(YoloReader, root)
    assert names(samples) == ["images/a.jpg"]
    assert reports["train"].images_dropped == {"unreadable_image": 1, "unreadable_label": 1}
    assert any("FIFO" in (d.detail or "") for d in ledger.drops if d.file == "images/b.jpg")


@fifo_only
@pytest.mark.parametrize("what", ["data.yaml", "list", "names", "obj.data"])
def test_yolo_fifo_settings_file_is_an_error(tmp_path: Path, deadline: None, what: str) -> None:
    root = yolo_tree(tmp_path, "train: list.txt\nnames: [coin]\n")
    text(root / "list.txt", "images/a.jpg\n")
    if what == "names":
        (root / "data.yaml").unlink()
        os.mkfifo(root / "obj.names")
    elif what == "obj.data":
        (root / "data.yaml").unlink()
        os.mkfifo(root / "obj.data")
    else:
        target = root / ("data.yaml" if what == "data.yaml" else "list.txt")
        target.unlink()
        os.mkfifo(target)
    with pytest.raises(InputError, match="FIFO") as info:
        read(YoloReader, root)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("what", ["label", "data.yaml", "list", "names"])
def test_yolo_unreadable_files_are_reported_not_tracebacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """Permission denied (simulated: the tests may run as root, which reads anything)."""
    root = yolo_tree(tmp_path, "train: list.txt\nnames: [coin]\n")
    text(root / "list.txt", "images/a.jpg\n")
    if what == "names":
        (root / "data.yaml").unlink()
        text(root / "obj.names", "coin\n")
    denied = {"label": "a.txt", "data.yaml": "data.yaml", "list": "list.txt",
              "names": "obj.names"}[what]
    real_open = os.open

    def fake_open(path: object, *args: object, **kwargs: object) -> int:
        if os.path.basename(os.fspath(path)) == denied:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fspath(path))  # type: ignore[arg-type]
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake_open)
    if what == "label":
        ledger, _, reports = read(YoloReader, root)
        assert reports["train"].images_dropped == {"unreadable_label": 1}
        assert "Permission denied" in (ledger.drops[0].detail or "")
    else:
        with pytest.raises(InputError, match="Permission denied") as info:
            read(YoloReader, root)
        assert denied in str(info.value)


# --- YOLO: YAML and label files that would take all the memory ---------------------------------


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
) + "train: images\nnames: *i\n"
MERGE_BOMB = "a: &a {k0: 0}\n" + "".join(
    f"m{i}: &m{i} {{<<: [*{'a' if i == 0 else f'm{i - 1}'}, *{'a' if i == 0 else f'm{i - 1}'}]}}\n"
    for i in range(60)) + "train: images\nnames: [coin]\n"


@pytest.mark.parametrize(("yaml_text", "message"), [
    (ALIAS_BOMB, "alias"),
    (MERGE_BOMB, "YAML"),
    ("train: images\nnames: " + "[" * 5000 + "]" * 5000 + "\n", "nest"),
    ("train: images\nnames: [" + ", ".join(f"c{i}" for i in range(100_000)) + "]\n",
     "100,000 class names"),
    ("train: images\nnames: [[a, b], c]\n", "names"),
    ("train: [[images]]\nnames: [coin]\n", "train"),
    ("train: images\nnc: " + "9" * 5000 + "\nnames: [a]\n", "YAML"),
    ("train: images\nnames: {٣: coin}\n", "names"),
], ids=["alias-bomb", "merge-bomb", "deep", "100k-names", "nested-names", "nested-split",
        "huge-nc-int", "arabic-key"])
def test_yolo_yaml_bombs_are_one_line_errors(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    """An alias bomb in names reached 3.4 GB; 100k class names over 7 GB."""
    import resource

    root = yolo_tree(tmp_path)
    text(root / "data.yaml", yaml_text)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(InputError, match=message) as info:
        read(YoloReader, root)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
    assert time.perf_counter() - started < 20
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300


def test_yolo_names_file_with_too_many_classes_is_an_error(tmp_path: Path) -> None:
    image(tmp_path / "a.jpg")
    text(tmp_path / "a.txt", LABEL)
    text(tmp_path / "obj.names", "".join(f"c{i}\n" for i in range(10_001)))
    with pytest.raises(InputError, match=r"obj\.names: 10,001 class names"):
        read(YoloReader, tmp_path)


def test_yolo_label_over_its_bound_is_a_reported_drop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dsconv.converters.yolo_labels as yolo_labels

    monkeypatch.setattr(yolo_labels, "MAX_LABEL_BYTES", 1000)
    root = yolo_tree(tmp_path)
    image(root / "images" / "big.jpg")
    text(root / "labels" / "big.txt", LABEL * 100)
    ledger, samples, reports = read(YoloReader, root)
    assert names(samples) == ["a.jpg"]
    assert reports["train"].images_dropped == {"unreadable_label": 1}
    assert "1,000-byte limit" in (ledger.drops[0].detail or "")


# --- VOC and COCO ------------------------------------------------------------------------


def voc_xml(filename: str) -> str:
    return (f"<annotation><filename>{filename}</filename><object><name>cat</name><bndbox>"
            "<xmin>2</xmin><ymin>2</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>"
            "</annotation>")


def test_voc_paths_leaving_the_folder_are_refused(tmp_path: Path) -> None:
    secret = image(tmp_path / "secret.jpg")
    text(tmp_path / "stolen.xml", voc_xml("secret.jpg"))
    root = tmp_path / "voc"
    for stem in ("ok", "dots"):
        image(root / "JPEGImages" / f"{stem}.jpg")
    text(root / "Annotations" / "ok.xml", voc_xml("ok.jpg"))
    # <filename> is looked up by its base name only: neither of these can reach secret.jpg.
    text(root / "Annotations" / "dots.xml", voc_xml("../../secret.jpg"))
    (root / "JPEGImages" / "link.jpg").symlink_to(secret)
    text(root / "Annotations" / "link.xml", voc_xml("link.jpg"))
    text(root / "ImageSets" / "Main" / "train.txt", "ok\ndots\nlink\n../../stolen\n")

    ledger, samples, reports = read(VocReader, root)
    assert names(samples) == ["dots.jpg", "ok.jpg"]
    assert reports["train"].images_dropped == {"unsafe_path": 2}
    assert reports["train"].objects_dropped == {"unsafe_path": 1}
    assert {d.file for d in ledger.drops if d.annotation is None} == {
        "link.jpg", "Annotations/../../stolen.xml"}

    _, samples, reports = read(VocReader, root, allow_outside_root=True)
    assert names(samples) == ["dots.jpg", "link.jpg", "ok.jpg"]
    assert reports["train"].images_dropped == {"missing_image": 1}  # stolen.xml, now read


def test_voc_symlinked_xml_is_not_read(tmp_path: Path) -> None:
    """Without ImageSets the XML files are those listed in Annotations/: a symlink among them
    that leads out of the folder is refused before it is parsed (its classes never show), and
    its image is dropped with it, not converted as an image without objects."""
    text(tmp_path / "secret.xml", voc_xml("secret.jpg").replace("cat", "hunter2"))
    root = tmp_path / "voc"
    for stem in ("ok", "link"):
        image(root / "JPEGImages" / f"{stem}.jpg")
    text(root / "Annotations" / "ok.xml", voc_xml("ok.jpg"))
    (root / "Annotations" / "link.xml").symlink_to(tmp_path / "secret.xml")
    reader, ledger, samples, reports = read_all(VocReader, root)
    assert names(samples) == ["ok.jpg"]
    assert reader.vocabulary().classes == ["cat"]
    assert reports["train"].images_dropped == {"unsafe_path": 1}
    assert ledger.drops[0].file == "Annotations/link.xml"


def test_voc_nested_image_set_entry_gets_a_usable_id(tmp_path: Path) -> None:
    """`sub/b` in ImageSets used to become image id `sub/b`: rows that fail validation."""
    image(tmp_path / "JPEGImages" / "b.jpg")
    text(tmp_path / "Annotations" / "sub" / "b.xml", voc_xml("b.jpg"))
    text(tmp_path / "ImageSets" / "Main" / "train.txt", "sub/b\n")
    _, samples, _ = read(VocReader, tmp_path)
    assert [s.image_id for s in samples["train"]] == ["b"]
    out = out_beside(tmp_path)
    assert run_cli("voc-to-vqa", tmp_path, out).exit_code == 0
    assert validate_dataset(out).ok


@pytest.mark.parametrize(("bad_id", "reason"), [
    ("", "invalid_image_id"), ("train/7", "invalid_image_id"), ([7], "unknown_image")],
    ids=["empty", "slash", "list"])
def test_coco_image_ids_that_cannot_name_rows_are_dropped(
    tmp_path: Path, bad_id: object, reason: str
) -> None:
    """Row ids are `{split}/{image_id}/{task}/{k}`: an empty id or one with '/' would make
    rows that fail validation; a list id used to crash with `unhashable type`."""
    image(tmp_path / "a.jpg")
    image(tmp_path / "b.jpg")
    text(tmp_path / "annotations.json", json.dumps({
        "images": [{"id": bad_id, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [{"id": 1, "image_id": bad_id, "category_id": 1, "bbox": [1, 1, 5, 5]},
                        {"id": 2, "image_id": 2, "category_id": [1], "bbox": [1, 1, 5, 5]},
                        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "dime", "supercategory": ["money"]}],
    }))
    _, samples, reports = read(CocoReader, tmp_path)
    assert names(samples) == ["b.jpg"]
    assert reports["train"].images_dropped == {"invalid_image_id": 1}
    assert reports["train"].objects_dropped == {reason: 1, "unknown_category": 1}
    out = out_beside(tmp_path)
    assert run_cli("coco-to-vqa", tmp_path, out, "--split-ratios", "1,0,0").exit_code == 0
    assert validate_dataset(out).ok


def test_coco_category_that_cannot_key_anything_is_an_error(tmp_path: Path) -> None:
    text(tmp_path / "annotations.json", json.dumps({
        "images": [], "annotations": [], "categories": [{"id": [1], "name": "dime"}]}))
    with pytest.raises(InputError, match=r"annotations\.json:categories\[0\]: category 'id'"):
        read(CocoReader, tmp_path)


def test_class_names_that_look_like_markup_do_not_crash_the_summary(tmp_path: Path) -> None:
    """Two categories named '[/x]' give a warning quoting the name; rich reads it as a tag."""
    image(tmp_path / "a.jpg")
    text(tmp_path / "annotations.json", json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "[/x]"}, {"id": 2, "name": "[/x]"}]}))
    result = run_cli("coco-to-vqa", tmp_path, out_beside(tmp_path))
    assert result.exit_code == 0, repr(result.exception)


# --- Ctrl-C ----------------------------------------------------------------------------------


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def interrupt_conversion(src: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run a slowed-down conversion, send SIGINT once its temp folder exists, wait for it."""
    script = (
        "import sys, time; import dsconv.pipeline.convert as c; from dsconv.cli import main\n"
        "orig = c.detection_rows\n"
        "def slow(*a, **k):\n    time.sleep(0.2)\n    yield from orig(*a, **k)\n"
        "c.detection_rows = slow\n"
        f"sys.argv = ['dsconv', 'coco-to-vqa', {str(src)!r}, {str(out)!r}, *{extra!r}]\n"
        "main()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not any(p.name.startswith(TEMP_PREFIX) for p in out.parent.iterdir()):
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)  # a few rows into the split
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_ctrl_c_exits_130_and_leaves_nothing(coins_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = interrupt_conversion(coins_dir, out)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_overwrite_keeps_the_previous_dataset(
    coins_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run_cli("coco-to-vqa", coins_dir, out, "--split-ratios", "1,0,0").exit_code == 0
    before = digest(out)
    done = interrupt_conversion(coins_dir, out, "--overwrite")
    assert done.returncode == 130, done.stderr
    assert digest(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# --- large annotation files ------------------------------------------------------------------

# Linux folds the RSS high-water mark of the process that forks into the child's ru_maxrss,
# so the conversion runs under a tiny wrapper that reads RUSAGE_CHILDREN (as benchmarks/ do).
WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)
SIZE = 10_000_000
WIDTH, HEIGHT = 640, 480
# VOC is streamed (measured: 2.5× the file above the start-up footprint); COCO's json.load
# holds the whole tree while the index is built (measured: 6.7×). YOLO: one 10 MB label
# makes 263k objects in one row (measured: 10.8×, most of it after the reader; the reader's
# own peak is 7× the file: its text, then the objects, its lines a megabyte at a time).
MAX_GROWTH = {"voc": 5, "coco": 10, "yolo": 15}


def big_voc(root: Path, size: int) -> int:
    """One image with objects until the XML reaches `size` bytes; returns the object count."""
    image(root / "JPEGImages" / "big.jpg", (WIDTH, HEIGHT))
    (root / "Annotations").mkdir(parents=True)
    n = 0
    with (root / "Annotations" / "big.xml").open("w") as handle:
        handle.write(f"<annotation>\n\t<filename>big.jpg</filename>\n\t<size><width>{WIDTH}"
                     f"</width><height>{HEIGHT}</height><depth>3</depth></size>\n")
        while handle.tell() < size:
            x, y = n % 500 + 1, n % 400 + 1
            handle.write(
                f"\t<object>\n\t\t<name>class{n % 10}</name>\n\t\t<pose>Unspecified</pose>\n"
                "\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
                f"\t\t\t<xmin>{x}</xmin>\n\t\t\t<ymin>{y}</ymin>\n\t\t\t<xmax>{x + 30}</xmax>\n"
                f"\t\t\t<ymax>{y + 40}</ymax>\n\t\t</bndbox>\n\t</object>\n")
            n += 1
        handle.write("</annotation>\n")
    return n


def big_coco(root: Path, size: int, images: int = 100) -> int:
    """Bbox-only annotations (no polygons: the worst case per byte for json.load)."""
    image(root / "img_0.jpg", (WIDTH, HEIGHT))
    for i in range(1, images):
        os.link(root / "img_0.jpg", root / f"img_{i}.jpg")
    n = 0
    with (root / "annotations.json").open("w") as handle:
        categories = [{"id": k + 1, "name": f"class{k}"} for k in range(10)]
        files = [{"id": i, "file_name": f"img_{i}.jpg", "width": WIDTH, "height": HEIGHT}
                 for i in range(images)]
        handle.write(f'{{"categories": {json.dumps(categories)}, "images": {json.dumps(files)},'
                     ' "annotations": [')
        while handle.tell() < size:
            handle.write(("," if n else "") + json.dumps({
                "id": n, "image_id": n % images, "category_id": n % 10 + 1,
                "bbox": [float(n % 500), float(n % 400), 33.0, 41.0], "area": 1353.0,
                "iscrowd": 0}))
            n += 1
        handle.write("]}")
    return n


def big_yolo(root: Path, size: int) -> int:
    """One image whose label file has lines until it reaches `size` bytes."""
    image(root / "images" / "big.jpg", (WIDTH, HEIGHT))
    text(root / "data.yaml", f"train: images\nnames: [{', '.join(f'c{k}' for k in range(10))}]\n")
    (root / "labels").mkdir()
    n = 0
    with (root / "labels" / "big.txt").open("w") as handle:
        while handle.tell() < size:
            handle.write(f"{n % 10} {0.1 + n % 70 / 100:.6f} {0.1 + n % 60 / 100:.6f} "
                         "0.050000 0.060000\n")
            n += 1
    return n


def peak_rss_mb(fmt: str, src: Path, out: Path) -> float:
    argv = [sys.executable, "-m", "dsconv", f"{fmt}-to-vqa", str(src), str(out),
            "--split-ratios", "1,0,0"]
    done = subprocess.run([sys.executable, "-S", "-c", WRAPPER, *argv], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo"])
def test_large_annotation_file_memory_stays_proportionate(tmp_path: Path, fmt: str) -> None:
    """Peak RSS above a tiny conversion's stays a small multiple of the annotation file.

    benchmarks/large_annotations.py measures the same at 100 MB."""
    write = {"voc": big_voc, "coco": big_coco, "yolo": big_yolo}[fmt]
    objects = write(tmp_path / "big", SIZE)
    write(tmp_path / "small", 10_000)
    baseline = peak_rss_mb(fmt, tmp_path / "small", tmp_path / "small-out")
    peak = peak_rss_mb(fmt, tmp_path / "big", tmp_path / "big-out")
    report = read_report(tmp_path / "big-out")["splits"]["train"]
    assert report["objects_kept"] == objects
    growth = (peak - baseline) / (SIZE / 1e6)
    assert growth < MAX_GROWTH[fmt], f"{peak:.0f} MB peak, {baseline:.0f} MB baseline"


"""Hostile input: paths that leave the dataset, broken settings, Ctrl-C, huge annotation files."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsconv.converters.base import DetectionSample, Ledger, ReaderOptions
from dsconv.converters.coco import CocoReader
from dsconv.converters.voc import VocReader
from dsconv.converters.yolo import YoloReader
from dsconv.errors import InputError
from dsconv.io.dataset import iter_rows, read_report
from dsconv.io.writer import TEMP_PREFIX
from dsconv.schemas.report import SplitReport
from dsconv.validate import validate_dataset
from tests.helpers import out_beside, read_all, run_cli, write_image, write_text

Reader = type[CocoReader] | type[YoloReader] | type[VocReader]
LABEL = "0 0.5 0.5 0.2 0.2\n"


def image(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    return write_image(path, size)


text = write_text


def read(
    reader: type, src: Path, **options: object
) -> tuple[Ledger, dict[str, list[DetectionSample]], dict[str, SplitReport]]:
    _, ledger, samples, reports = read_all(reader, src, ReaderOptions(**options))
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
    outside = outside_tree(tmp_path)
    text(outside / "labels" / "orphan.txt", LABEL)  # outside the root: not even scanned
    root = tmp_path / "ds"
    image(root / "images" / "ok.jpg")
    text(root / "data.yaml",
         f"train: images\nval: {outside / 'images'}\ntest: ../outside/images\nnames: [coin]\n")

    ledger, samples, reports = read(YoloReader, root)
    assert names(samples) == ["ok.jpg"]
    for split in ("validation", "test"):
        assert reports[split].images_dropped == {"unsafe_path": 2}
        assert reports[split].objects_total == 0
    assert not any("orphan" in d.file for d in ledger.drops)

    _, samples, _ = read(YoloReader, root, allow_outside_root=True)
    assert len(samples["validation"]) == len(samples["test"]) == 2


def test_yolo_yaml_path_names_the_root_even_when_absolute(tmp_path: Path) -> None:
    """Ultralytics' `path:` is the dataset root; the YAML itself may live anywhere."""
    root = tmp_path / "datasets" / "coins"
    image(root / "images" / "train" / "a.jpg")
    text(root / "labels" / "train" / "a.txt", LABEL)
    yaml_file = text(tmp_path / "configs" / "coins.yaml",
                     f"path: {root}\ntrain: images/train\nnames: [coin]\n")
    ledger, samples, reports = read(YoloReader, yaml_file)
    assert names(samples) == ["a.jpg"]
    assert reports["train"].objects_kept == 1 and ledger.drops == []


def test_yolo_prefers_the_folder_inside_the_root(tmp_path: Path) -> None:
    """Roboflow writes `train: ../train/images`; a `train/` beside the dataset must not win."""
    image(tmp_path / "train" / "images" / "stranger.jpg")
    root = tmp_path / "ds"
    image(root / "train" / "images" / "mine.jpg")
    text(root / "data.yaml", "train: ../train/images\nnames: [coin]\n")
    ledger, samples, _ = read(YoloReader, root)
    assert names(samples) == ["mine.jpg"] and ledger.drops == []


def test_yolo_symlinked_image_folder_is_refused(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "images" / "train").symlink_to(outside / "images", target_is_directory=True)
    text(root / "data.yaml", "train: images/train\nnames: [coin]\n")
    _, samples, reports = read(YoloReader, root)
    assert names(samples) == []
    assert reports["train"].images_dropped == {"unsafe_path": 2}


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
    assert result.exit_code == 0, result.output
    report = read_report(tmp_path / "refused")
    assert report["splits"]["train"]["images_dropped"] == {"unsafe_path": 2}
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
        "import sys, time; import dsconv.convert as c; from dsconv.cli import main\n"
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
# holds the whole tree while the index is built (measured: 6.7×).
MAX_GROWTH = {"voc": 5, "coco": 10}


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


def peak_rss_mb(fmt: str, src: Path, out: Path) -> float:
    argv = [sys.executable, "-m", "dsconv", f"{fmt}-to-vqa", str(src), str(out),
            "--split-ratios", "1,0,0"]
    done = subprocess.run([sys.executable, "-S", "-c", WRAPPER, *argv], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024


@pytest.mark.parametrize("fmt", ["voc", "coco"])
def test_large_annotation_file_memory_stays_proportionate(tmp_path: Path, fmt: str) -> None:
    """Peak RSS above a tiny conversion's stays a small multiple of the annotation file.

    benchmarks/large_annotations.py measures the same at 100 MB."""
    write = big_voc if fmt == "voc" else big_coco
    objects = write(tmp_path / "big", SIZE)
    write(tmp_path / "small", 10_000)
    baseline = peak_rss_mb(fmt, tmp_path / "small", tmp_path / "small-out")
    peak = peak_rss_mb(fmt, tmp_path / "big", tmp_path / "big-out")
    report = read_report(tmp_path / "big-out")["splits"]["train"]
    assert report["objects_kept"] == objects
    growth = (peak - baseline) / (SIZE / 1e6)
    assert growth < MAX_GROWTH[fmt], f"{peak:.0f} MB peak, {baseline:.0f} MB baseline"


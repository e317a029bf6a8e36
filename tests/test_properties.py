"""Property tests: random valid datasets survive conversion exactly; corrupted ones never crash.

Hypothesis draws small scenes (a few images, integer boxes inside them, class names from a
small alphabet) and writes them as COCO, YOLO, VOC, LabelMe, CVAT, Label Studio or Hugging Face
JSON Lines. Each example works in its own temporary
folder under the session's base temp, so no function-scoped fixture is shared between examples.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import dsconv
from dsconv.converters.base import DetectionSample, Ledger, ReaderOptions
from dsconv.converters.registry import get_reader
from dsconv.errors import DsconvError
from dsconv.pipeline.convert import EmptyResultError
from dsconv.schemas.report import ConversionReport
from dsconv.storage.dataset import iter_rows, read_report
from dsconv.validation import validate_dataset
from tests.helpers import run_cli

FORMATS = ("coco", "yolo", "voc", "labelme", "cvat", "labelstudio", "hf")
OWN_COMMAND = ("coco", "yolo", "voc")  # the others convert through `dsconv convert --from`
# Whole-pixel boxes, YOLO written with six decimals: far tighter than a pixel, so an
# off-by-one in VOC's 1-based corners cannot hide in the slack.
BOX_TOLERANCE = 0.01
NAMES = st.text(alphabet="abyé_", min_size=1, max_size=3)
ALL_TRAIN = ("--split-ratios", "1,0,0")
CORRUPTION_TASKS = ("count-json", "list-objects", "florence-od")


def tuned(examples: int) -> settings:
    """Few examples, no deadline: each builds and converts a dataset on disk."""
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

Obj = tuple[str, int, int, int, int]  # class, x, y, w, h in pixels


@dataclass(frozen=True)
class Picture:
    name: str
    width: int
    height: int
    objects: tuple[Obj, ...]


@dataclass(frozen=True)
class Scene:
    classes: tuple[str, ...]
    pictures: tuple[Picture, ...]


@st.composite
def scenes(draw: st.DrawFn) -> Scene:
    """1–3 images of 4–40 px a side, 0–5 integer boxes wholly inside each."""
    classes = tuple(draw(st.lists(NAMES, min_size=1, max_size=4, unique=True)))
    pictures = []
    for i in range(draw(st.integers(1, 3))):
        width, height = draw(st.integers(4, 40)), draw(st.integers(4, 40))
        objects = []
        for _ in range(draw(st.integers(0, 5))):
            x, y = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
            w, h = draw(st.integers(1, width - x)), draw(st.integers(1, height - y))
            objects.append((draw(st.sampled_from(classes)), x, y, w, h))
        suffix = draw(st.sampled_from([".png", ".jpg"]))
        pictures.append(Picture(f"pic{i}{suffix}", width, height, tuple(objects)))
    return Scene(classes, tuple(pictures))


def save_image(path: Path, picture: Picture, index: int) -> None:
    """A plain picture; the colour differs by index so no two files share their bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (picture.width, picture.height), (37 * index % 256, 90, 160)).save(path)


def write_coco(scene: Scene, root: Path) -> Path:
    """One annotation file beside the images; category ids have gaps, so position ≠ id."""
    category = {name: 3 * i + 2 for i, name in enumerate(scene.classes)}
    images, annotations = [], []
    for i, picture in enumerate(scene.pictures):
        save_image(root / picture.name, picture, i)
        images.append({"id": i + 1, "file_name": picture.name,
                       "width": picture.width, "height": picture.height})
        for name, x, y, w, h in picture.objects:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": category[name], "bbox": [x, y, w, h],
                                "area": w * h, "iscrowd": 0})
    file = root / "annotations.json"
    file.write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": [{"id": category[c], "name": c, "supercategory": "thing"}
                       for c in scene.classes],
    }), encoding="utf-8")
    return file


def write_yolo(scene: Scene, root: Path) -> Path:
    """Ultralytics layout; an image without objects has no label file, as exports do."""
    file = root / "data.yaml"
    root.mkdir(parents=True, exist_ok=True)
    file.write_text(yaml.safe_dump({"path": ".", "train": "images", "nc": len(scene.classes),
                                    "names": list(scene.classes)}, allow_unicode=True),
                    encoding="utf-8")
    (root / "labels").mkdir()
    for i, picture in enumerate(scene.pictures):
        save_image(root / "images" / picture.name, picture, i)
        if not picture.objects:
            continue
        W, H = picture.width, picture.height
        lines = [f"{scene.classes.index(c)} {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} "
                 f"{w / W:.6f} {h / H:.6f}\n" for c, x, y, w, h in picture.objects]
        label = root / "labels" / f"{Path(picture.name).stem}.txt"
        label.write_text("".join(lines), encoding="utf-8")
    return file


def voc_xml(picture: Picture) -> bytes:
    """VOC's 1-based inclusive corners: xmin = x + 1, xmax = x + w."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = picture.name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", picture.width), ("height", picture.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for name, x, y, w, h in picture.objects:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = name
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        for tag, value in (("xmin", x + 1), ("ymin", y + 1), ("xmax", x + w), ("ymax", y + h)):
            ET.SubElement(box, tag).text = str(value)
    return ET.tostring(root, encoding="utf-8")


def write_voc(scene: Scene, root: Path) -> Path:
    """Devkit layout without ImageSets: everything is train. Returns the first XML file."""
    (root / "Annotations").mkdir(parents=True)
    for i, picture in enumerate(scene.pictures):
        save_image(root / "JPEGImages" / picture.name, picture, i)
        xml = root / "Annotations" / f"{Path(picture.name).stem}.xml"
        xml.write_bytes(voc_xml(picture))
    return root / "Annotations" / f"{Path(scene.pictures[0].name).stem}.xml"


def write_labelme(scene: Scene, root: Path) -> Path:
    """One JSON beside each image: rectangles as two opposite corners, alternately given
    bottom-right first, and polygons (four corners) for every third object."""
    for i, picture in enumerate(scene.pictures):
        save_image(root / picture.name, picture, i)
        shapes = []
        for k, (name, x, y, w, h) in enumerate(picture.objects):
            corners = [[x, y], [x + w, y + h]] if k % 2 else [[x + w, y + h], [x, y]]
            if k % 3 == 2:
                shapes.append({"label": name, "shape_type": "polygon",
                               "points": [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]})
            else:
                shapes.append({"label": name, "shape_type": "rectangle", "points": corners})
        (root / f"{Path(picture.name).stem}.json").write_text(json.dumps({
            "version": "5.4.1", "shapes": shapes, "imagePath": picture.name, "imageData": None,
            "imageWidth": picture.width, "imageHeight": picture.height}), encoding="utf-8")
    return root / f"{Path(scene.pictures[0].name).stem}.json"


def write_cvat(scene: Scene, root: Path) -> Path:
    """annotations.xml beside images/, labels declared in <meta>; every third object a
    polygon."""
    doc = ET.Element("annotations")
    ET.SubElement(doc, "version").text = "1.1"
    labels = ET.SubElement(ET.SubElement(ET.SubElement(doc, "meta"), "task"), "labels")
    for name in scene.classes:
        ET.SubElement(ET.SubElement(labels, "label"), "name").text = name
    for i, picture in enumerate(scene.pictures):
        save_image(root / "images" / picture.name, picture, i)
        image = ET.SubElement(doc, "image", id=str(i), name=picture.name,
                              width=str(picture.width), height=str(picture.height))
        for k, (name, x, y, w, h) in enumerate(picture.objects):
            if k % 3 == 2:
                ET.SubElement(image, "polygon", label=name, occluded="0",
                              points=f"{x},{y};{x + w},{y};{x + w},{y + h};{x},{y + h}")
            else:
                ET.SubElement(image, "box", label=name, occluded="0", xtl=str(x), ytl=str(y),
                              xbr=str(x + w), ybr=str(y + h))
    file = root / "annotations.xml"
    file.write_bytes(ET.tostring(doc, encoding="utf-8"))
    return file


def write_labelstudio(scene: Scene, root: Path) -> Path:
    """A "JSON" export naming uploads (`/data/upload/1/{8 hex}-{name}`), images in images/;
    a picture without objects is a task without annotations."""
    tasks = []
    for i, picture in enumerate(scene.pictures):
        save_image(root / "images" / picture.name, picture, i)
        W, H = picture.width, picture.height
        result = [{"id": f"{i}-{k}", "type": "rectanglelabels", "original_width": W,
                   "original_height": H, "value": {
                       "x": 100 * x / W, "y": 100 * y / H, "width": 100 * w / W,
                       "height": 100 * h / H, "rotation": 0, "rectanglelabels": [name]}}
                  for k, (name, x, y, w, h) in enumerate(picture.objects)]
        tasks.append({"id": i + 1, "data": {"image": f"/data/upload/1/0a1b2c3{i}-{picture.name}"},
                      "annotations": [{"id": i, "result": result}] if result else []})
    file = root / "export.json"
    file.write_text(json.dumps(tasks), encoding="utf-8")
    return file


def write_hf(scene: Scene, root: Path) -> Path:
    """JSON Lines rows naming their image files; objects as a list of records with
    COCO boxes and text categories."""
    rows = []
    for i, picture in enumerate(scene.pictures):
        save_image(root / "images" / picture.name, picture, i)
        rows.append({"image": {"bytes": None, "path": f"images/{picture.name}"},
                     "objects": [{"bbox": [x, y, w, h], "category": name}
                                 for name, x, y, w, h in picture.objects]})
    file = root / "train.jsonl"
    file.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return file


WRITERS: dict[str, Callable[[Scene, Path], Path]] = {
    "coco": write_coco, "yolo": write_yolo, "voc": write_voc, "labelme": write_labelme,
    "cvat": write_cvat, "labelstudio": write_labelstudio, "hf": write_hf,
}


@contextmanager
def workdir(factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh folder for one hypothesis example, removed afterwards."""
    with tempfile.TemporaryDirectory(dir=factory.getbasetemp()) as name:
        yield Path(name)


def boxes_match(got: list[list[float]], expected: tuple[Obj, ...]) -> bool:
    return len(got) == len(expected) and all(
        all(math.isclose(a, b, abs_tol=BOX_TOLERANCE) for a, b in zip(box, obj[1:], strict=True))
        for box, obj in zip(got, expected, strict=True))


# --- valid data round-trips ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@tuned(30)
@given(scene=scenes())
def test_valid_dataset_round_trips_through_the_cli(
    tmp_path_factory: pytest.TempPathFactory, fmt: str, scene: Scene
) -> None:
    with workdir(tmp_path_factory) as tmp:
        WRITERS[fmt](scene, tmp / "src")
        out = tmp / "out"
        command = [f"{fmt}-to-vqa"] if fmt in OWN_COMMAND else ["convert", "--from", fmt]
        result = run_cli(*command, tmp / "src", out, *ALL_TRAIN)
        if not any(p.objects for p in scene.pictures):  # nothing to count: refused
            assert isinstance(result.exception, EmptyResultError), result.output
            assert not out.exists()
            return
        assert result.exit_code == 0, result.output
        assert validate_dataset(out).ok
        rows = {Path(row["image"]["path"]).name: row for row in iter_rows(out)}
        assert set(rows) == {p.name for p in scene.pictures}
        for picture in scene.pictures:
            row = rows[picture.name]
            assert (row["width"], row["height"]) == (picture.width, picture.height)
            assert json.loads(row["answer"]) == dict(Counter(o[0] for o in picture.objects))
            assert row["objects"]["category"] == [o[0] for o in picture.objects]
            assert boxes_match(row["objects"]["bbox"], picture.objects), row["objects"]
        report = read_report(out)
        split = report["splits"]["train"]
        total = sum(len(p.objects) for p in scene.pictures)
        assert split["objects_kept"] + sum(split["objects_dropped"].values()) \
            == split["objects_total"] == total
        assert split["objects_kept"] == total and report["drops"] == []


def read_objects(fmt: str, src: Path) -> dict[str, tuple[int, int, list[Any]]]:
    """Each image's size and objects, keyed by file name, straight from the reader."""
    reader = get_reader(fmt)(src, Ledger(), ReaderOptions())
    samples: list[DetectionSample] = [s for split in reader.splits()
                                      for s in reader.samples(split)]
    return {Path(s.file_name).name: (s.width, s.height, [(o.category, *o.bbox) for o in s.objects])
            for s in samples}


@tuned(60)
@given(scene=scenes())
def test_one_scene_reads_the_same_in_every_format(
    tmp_path_factory: pytest.TempPathFactory, scene: Scene
) -> None:
    with workdir(tmp_path_factory) as tmp:
        found = {}
        for fmt in FORMATS:
            WRITERS[fmt](scene, tmp / fmt)
            found[fmt] = read_objects(fmt, tmp / fmt)
        coco = found["coco"]
        assert set(coco) == {p.name for p in scene.pictures}
        for fmt in FORMATS[1:]:
            assert set(found[fmt]) == set(coco), fmt
            for name, (width, height, objects) in coco.items():
                w, h, others = found[fmt][name]
                assert (w, h) == (width, height)
                assert [o[0] for o in others] == [o[0] for o in objects], (fmt, name)
                for mine, theirs in zip(others, objects, strict=True):
                    assert mine[1:] == pytest.approx(theirs[1:], abs=BOX_TOLERANCE), (fmt, name)


# --- corrupted annotation files -----------------------------------------------------------

HOSTILE_VALUES: list[Any] = [
    "x", "", "12", float("nan"), float("inf"), -float("inf"), 1e308, -1, 0, 10**30, None, True,
    [], {}, [1, 2], {"id": 1}, [[1, 2, 3, 4]],
]
KNOWN_KEYS = ("path", "train", "val", "nc", "names", "kpt_shape", "id", "image_id",
              "category_id", "bbox", "iscrowd", "width", "height", "file_name", "name",
              "supercategory", "images", "annotations", "categories")
HOSTILE_TEXTS = ["abc", "", "nan", "inf", "-inf", "1e400", "-5", "0", "9" * 400, "1.5", " 3 "]


def locations(tree: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key/index path in a JSON or YAML tree, the root's children first."""
    children = tree.items() if isinstance(tree, dict) else \
        enumerate(tree) if isinstance(tree, list) else ()
    for key, value in children:
        yield (*path, key)
        yield from locations(value, (*path, key))


def hostile_value(data: st.DataObject) -> Any:
    """A fresh copy: a later mutation must not edit the shared list of values."""
    return copy.deepcopy(data.draw(st.sampled_from(HOSTILE_VALUES)))


def mutate_tree(tree: Any, data: st.DataObject) -> Any:
    """Delete a key or item, replace a value with a wrong type, NaN or a huge number, or set
    a key the readers look for (`kpt_shape`, `iscrowd`…) to one."""
    places = list(locations(tree))
    if not places:
        return hostile_value(data)
    place = data.draw(st.sampled_from(places))
    parent = tree
    for key in place[:-1]:
        parent = parent[key]
    action = data.draw(st.sampled_from(["delete", "replace", "add"]))
    if action == "delete":
        del parent[place[-1]]
    elif action == "replace":
        parent[place[-1]] = hostile_value(data)
    else:
        dicts = [tree] + [value for value in _values(tree) if isinstance(value, dict)]
        target = data.draw(st.sampled_from(dicts)) if isinstance(tree, dict) else parent
        if isinstance(target, dict):
            target[data.draw(st.sampled_from(KNOWN_KEYS))] = hostile_value(data)
    return tree


def _values(tree: Any) -> Iterator[Any]:
    children = tree.values() if isinstance(tree, dict) else tree if isinstance(tree, list) \
        else ()
    for value in children:
        yield value
        yield from _values(value)


def mutate_xml(raw: bytes, data: st.DataObject) -> bytes:
    """Delete an element, or replace its text with a non-number, NaN or a huge number."""
    root = ET.fromstring(raw)
    parents = [(parent, child) for parent in root.iter() for child in parent]
    if not parents:
        return raw
    parent, child = data.draw(st.sampled_from(parents))
    action = data.draw(st.sampled_from(["delete", "text", "duplicate", "rename"]))
    if action == "delete":
        parent.remove(child)
    elif action == "text":
        child.text = data.draw(st.sampled_from(HOSTILE_TEXTS))
    elif action == "duplicate":
        parent.append(child)
    else:
        child.tag = data.draw(st.sampled_from(["object", "bndbox", "size", "name", "zz"]))
    return ET.tostring(root, encoding="utf-8")


def mutate_lines(raw: bytes, data: st.DataObject) -> bytes:
    """YOLO label lines: replace one field with a non-number, NaN, a huge or a negative value."""
    lines = raw.decode().splitlines()
    if not lines:
        return b"0 0.5 0.5 " + data.draw(st.sampled_from(HOSTILE_TEXTS)).encode() + b" 0.1\n"
    i = data.draw(st.integers(0, len(lines) - 1))
    fields = lines[i].split()
    j = data.draw(st.integers(0, len(fields)))
    value = data.draw(st.sampled_from(HOSTILE_TEXTS))
    fields[j:j + 1] = [value] if j < len(fields) else [value, value]
    lines[i] = " ".join(fields)
    return "\n".join(lines).encode()


def mutate_bytes(raw: bytes, data: st.DataObject) -> bytes:
    """Truncate, flip, insert or delete bytes: what a broken copy or download leaves."""
    action = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    i = data.draw(st.integers(0, max(len(raw) - 1, 0)))
    if action == "truncate":
        return raw[:i]
    if action == "flip":
        return raw[:i] + bytes([data.draw(st.integers(0, 255))]) + raw[i + 1:]
    if action == "insert":
        return raw[:i] + data.draw(st.binary(min_size=1, max_size=8)) + raw[i:]
    return raw[:i] + raw[i + data.draw(st.integers(1, 16)):]


def structured(file: Path, raw: bytes, data: st.DataObject) -> bytes:
    """A mutation that knows the file's format, so the file still parses afterwards."""
    if file.suffix == ".json":
        return json.dumps(mutate_tree(json.loads(raw), data)).encode()
    if file.suffix == ".jsonl":
        rows = mutate_tree([json.loads(line) for line in raw.splitlines()], data)
        rows = rows if isinstance(rows, list) else [rows]
        return "".join(json.dumps(row) + "\n" for row in rows).encode()
    if file.suffix == ".yaml":
        return yaml.safe_dump(mutate_tree(yaml.safe_load(raw), data)).encode()
    if file.suffix == ".xml":
        return mutate_xml(raw, data)
    return mutate_lines(raw, data)


def convert_in_process(fmt: str, src: Path, out: Path) -> ConversionReport:
    return dsconv.convert(src, out, format=fmt, tasks=CORRUPTION_TASKS,
                          split_ratios=(1.0, 0.0, 0.0))


FIXED_SCENE = Scene(("ant", "bee"), (
    Picture("a.png", 30, 20, (("ant", 1, 2, 5, 6), ("bee", 10, 4, 8, 9), ("ant", 0, 0, 30, 20))),
    Picture("b.jpg", 24, 32, (("bee", 3, 3, 4, 4),)),
))


def corruptible(fmt: str, root: Path, data: st.DataObject) -> Path:
    """Write the fixed scene and pick the file to corrupt (YOLO: data.yaml or a label)."""
    main = WRITERS[fmt](FIXED_SCENE, root)
    if fmt == "yolo" and data.draw(st.booleans()):
        return root / "labels" / "a.txt"
    return main


@pytest.mark.parametrize("fmt", FORMATS)
@tuned(150)
@given(data=st.data())
def test_corrupted_annotations_never_crash(
    tmp_path_factory: pytest.TempPathFactory, fmt: str, data: st.DataObject
) -> None:
    """Either a clean conversion whose report adds up, or one `DsconvError` naming the file."""
    with workdir(tmp_path_factory) as tmp:
        target = corruptible(fmt, tmp / "src", data)
        raw = target.read_bytes()
        for _ in range(data.draw(st.integers(1, 2))):
            raw = structured(target, raw, data) if data.draw(st.booleans()) \
                and _parses(target, raw) else mutate_bytes(raw, data)
        target.write_bytes(raw)
        try:
            report = convert_in_process(fmt, tmp / "src", tmp / "out")
        except DsconvError as exc:
            message = str(exc)
            assert "\n" not in message
            assert target.name in message or str(tmp / "src") in message, message
            assert not (tmp / "out").exists()
            return
        for split in report.splits.values():
            assert split.objects_kept + sum(split.objects_dropped.values()) \
                == split.objects_total
        result = validate_dataset(tmp / "out")
        assert result.ok, result.problems[:3]


def _parses(file: Path, raw: bytes) -> bool:
    """Structured mutations need a file that still parses; otherwise fall back to bytes."""
    try:
        if file.suffix == ".json":
            json.loads(raw)
        elif file.suffix == ".jsonl":
            for line in raw.splitlines():
                json.loads(line)
        elif file.suffix == ".yaml":
            yaml.safe_load(raw)
        elif file.suffix == ".xml":
            ET.fromstring(raw)
        else:
            raw.decode()
    except (ValueError, yaml.YAMLError, ET.ParseError):
        return False
    return True


def test_cli_reports_a_corrupted_file_in_one_line(tmp_path: Path) -> None:
    """Through a real process: exit 1, one `error:` line naming the file, no traceback."""
    file = write_coco(FIXED_SCENE, tmp_path / "src")
    file.write_bytes(file.read_bytes()[:150])
    proc = subprocess.run(
        [sys.executable, "-m", "dsconv", "coco-to-vqa", str(tmp_path / "src"),
         str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert str(file) in lines[0] and "invalid JSON" in lines[0]
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_cli_reports_drops_and_exits_zero(tmp_path: Path) -> None:
    """A broken label line is a reported drop: exit 0, the report says which line and why."""
    write_yolo(FIXED_SCENE, tmp_path / "src")
    label = tmp_path / "src" / "labels" / "a.txt"
    label.write_text(label.read_text() + "1 0.5 nan 0.1 0.1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "dsconv", "yolo-to-vqa", str(tmp_path / "src"),
         str(tmp_path / "out"), *ALL_TRAIN], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = read_report(tmp_path / "out")
    assert [(d["reason"], d["annotation"]) for d in report["drops"]] == [
        ("bad_label_line", "labels/a.txt:4")]
    assert report["splits"]["train"]["objects_kept"] == 4

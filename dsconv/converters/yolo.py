"""YOLO reader: the Ultralytics layout and the Darknet layout.

Ultralytics: a `data.yaml` (`path`, `train`, `val`, `test`, `names` as a list or an
`{id: name}` map) whose splits are folders, lists of folders or `.txt` lists of image paths;
an image's label is found by replacing the last `images` component of its path with
`labels`. Darknet: `obj.names` / `classes.txt` and one `.txt` beside each image, optionally
an `obj.data` naming split lists. Without either file, `images/{split}` or `{split}/`
folders are used as the splits.

The layout is resolved once into a list of images per split, as path strings (the `Path`
operations per image took longer than reading the image); a label file is read only when
its image is yielded, and image sizes come from file headers. A malformed label line is a
reported drop (label file and line number), never a crash.

The dataset root is `data.yaml`'s `path` (absolute there is normal), else the folder that
holds `data.yaml` or `obj.data`, else the folder given. An image that resolves outside it (an
absolute or `..` entry in a split list or `data.yaml`, a symlink) is dropped as `unsafe_path`
unless `allow_outside_root`; a label file outside it is not read, and a Darknet names file
outside it is an error.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from dsconv.converters.base import (
    IMAGE_SUFFIXES,
    SPLIT_ALIASES,
    DetectionObject,
    DetectionSample,
    IndexedReader,
    Ledger,
    ReaderOptions,
    Vocabulary,
    canonical_split,
    unique_ids,
)
from dsconv.converters.boxes import Box, check_box
from dsconv.converters.paths import check_inside, resolve_inside
from dsconv.errors import InputError
from dsconv.storage.images import read_image

if TYPE_CHECKING:
    import yaml

YAML_FILES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
NAMES_FILES = ("obj.names", "classes.txt", "classes.names", "names.txt", "_darknet.labels")
SPLIT_KEYS = ("train", "val", "valid", "validation", "test")
# .txt files that sit among labels but are not labels: split lists and class-name files
NOT_LABELS = frozenset({*NAMES_FILES, "train.txt", "val.txt", "valid.txt", "test.txt"})
TOLERANCE = 0.01  # normalised values this far outside 0–1 are rounding, clipped; beyond, dropped
BOX_FIELDS = ("x_center", "y_center", "width", "height")
MAX_NUMBERED_CLASSES = 10_000  # without names, class_0… are made up to nc; beyond, refused

Warn = Callable[[str], None]
Found = tuple[str, str, str]  # an image's path, its name relative to the root, its label's path


class _Item(NamedTuple):
    image: str
    name: str  # relative to the root, `/`-separated: what the path check is given
    label: str
    file_name: str
    image_id: str


@dataclass
class _Layout:
    root: Path
    sources: dict[str, list[Path]]  # split → image folders and/or .txt lists of image paths
    names: dict[int, str] | None
    nc: int | None = None
    keypoint_fields: int = 0  # pose datasets: values after the box on every line


class _BadLine(Exception):
    """A label line that cannot become an object: the drop reason and what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class YoloReader(IndexedReader):
    name: ClassVar[str] = "yolo"
    description: ClassVar[str] = (
        "YOLO: Ultralytics (data.yaml, images/ and labels/ trees) or Darknet "
        "(obj.names or classes.txt, one .txt label beside each image)"
    )

    def __init__(self, src: Path, ledger: Ledger, options: ReaderOptions | None = None) -> None:
        super().__init__(src, ledger, options)
        layout = _locate(self.src, ledger.warn, self.options.allow_outside_root)
        self.root = layout.root
        self._keypoint_fields = layout.keypoint_fields
        self._index = {split: self._collect(split, sources)
                       for split, sources in layout.sources.items()}
        self._names = self._class_names(layout)
        self._vocabulary = Vocabulary(_ordered_names(self._names, ledger.warn),
                                      self.options.noun or "object")

    def _collect(self, split: str, sources: list[Path]) -> list[_Item]:
        """The split's images in a stable order, each with its label path and a unique id."""
        self.ledger.split(split)
        found: list[Found] = []
        for source in sources:
            if source.is_dir():
                images = self._folder(source)
                if self._inside(source):
                    self._report_orphans(split, source, {label for _, _, label in images})
            else:
                images = [(str(image), _name_in(self.root, image), label_path(str(image)))
                          for image in _listed_images(source, self.root)]
            found.extend(images)
        unique = list({image[0]: image for image in found}.values())  # first-seen order
        if len(unique) < len(found):
            self.ledger.warn(f"{split}: {len(found) - len(unique)} images are listed "
                             "more than once; each is converted once")
        base = sources[0] if len(sources) == 1 and sources[0].is_dir() else self.root
        names = [_relative(image, base) for image, _, _ in unique]
        ids = unique_ids([_stem(n) for n in names], self.ledger.warn, split)
        return [_Item(image, name, label, file_name, image_id)
                for (image, name, label), file_name, image_id in zip(unique, names, ids,
                                                                       strict=True)]

    def _folder(self, folder: Path) -> list[Found]:
        """The images under a split folder; their names relative to the root share a prefix."""
        prefix = _name_in(self.root, folder)
        prefix = "" if prefix == "." else prefix + "/"
        top = os.fspath(folder)
        images = sorted(_files_under(folder, _is_image, skip_hidden=True), key=_path_order)
        below = [image[len(top):].lstrip(os.sep).replace(os.sep, "/") for image in images]
        return [(image, prefix + name, label_path(image))
                for image, name in zip(images, below, strict=True)]

    def _report_orphans(self, split: str, folder: Path, expected: set[str]) -> None:
        """Label files whose image is missing: each line is a reported drop, not a lost one."""
        labels_root = os.path.dirname(label_path(os.path.join(folder, "x")))
        if not os.path.isdir(labels_root):
            return
        orphans = [label for label in _files_under(labels_root, _is_text, skip_hidden=False)
                   if label not in expected and os.path.basename(label).lower() not in NOT_LABELS]
        for label in sorted(orphans, key=_path_order):
            if not _looks_like_labels(label):
                continue
            name = _relative(label, self.root)
            lines = _label_lines(label)
            self.ledger.drop_image(split, name, "missing_image", "label file without an image")
            self.ledger.seen_objects(split, len(lines))
            for number, _ in lines:
                self.ledger.drop_object(split, name, "missing_image", f"{name}:{number}")

    def _class_names(self, layout: _Layout) -> dict[int, str]:
        if layout.names is not None:
            return layout.names
        if self.options.classes:
            return dict(enumerate(self.options.classes))
        count = layout.nc if layout.nc is not None else self._scan_class_count()
        if not 0 <= count <= MAX_NUMBERED_CLASSES:
            raise InputError(self.src, f"no class names, and nc or the largest class id says "
                                       f"{count} classes; give the names (data.yaml names, "
                                       "classes.txt or --classes)")
        using = f"using class_0…class_{count - 1}" if count else "and no class ids in any label"
        self.ledger.warn(f"{self.src}: no class names (no names in data.yaml, no obj.names "
                         f"or classes.txt); {using}")
        return {i: f"class_{i}" for i in range(count)}

    def _scan_class_count(self) -> int:
        """One past the largest class id in any label file, when nothing names the classes."""
        largest = -1
        for items in self._index.values():
            for item in items:
                if not self._inside(item.label):
                    continue
                for _, text in _label_lines(item.label):
                    try:
                        largest = max(largest, _class_id(text.split()[0]))
                    except _BadLine:
                        continue
        return largest + 1

    def _sample(self, split: str, item: _Item) -> DetectionSample | None:
        try:
            image = resolve_inside(self.root, item.name, self.options.allow_outside_root)
        except ValueError as exc:
            return self._refuse(split, item, str(exc))
        lines = _label_lines(item.label)
        self.ledger.seen_objects(split, len(lines))
        try:
            data, width, height = read_image(image, self.options.max_image_bytes)
        except FileNotFoundError:
            return self._drop_image(split, item, lines, "missing_image",
                                    f"{item.image} does not exist")
        except (OSError, ValueError) as exc:
            return self._drop_image(split, item, lines, "unreadable_image", str(exc))
        objects = self._objects(split, item, lines, width, height)
        return DetectionSample(split, item.image_id, item.file_name, data, width, height, objects)

    def _objects(self, split: str, item: _Item, lines: list[tuple[int, str]], width: int,
                 height: int) -> list[DetectionObject]:
        """The label's lines as objects; each line that cannot be one is a reported drop.
        (One loop for all of an image's lines: a call per line was a fifth of the time.)"""
        names, keypoint_fields, policy = (
            self._names, self._keypoint_fields, self.options.box_policy)
        objects = []
        for number, text in lines:
            try:
                class_id, values = _parse_line(text, keypoint_fields)
                name = names.get(class_id)
                if name is None:
                    raise _BadLine("unknown_class", f"class id {class_id} is not in the class "
                                                    f"names ({len(names)} classes)")
                box, note = check_box(_pixel_box(values, width, height), width, height, policy)
            except _BadLine as bad:
                self._drop_line(split, item, number, bad.reason, bad.detail)
                continue
            if box is None:
                self._drop_line(split, item, number, note or "invalid_box")
                continue
            if note == "clipped":
                self.ledger.clipped(split)
            objects.append(DetectionObject(name, box))
        return objects

    def _drop_line(self, split: str, item: _Item, number: int, reason: str,
                   detail: str | None = None) -> None:
        label = _relative(item.label, self.root)
        self.ledger.drop_object(split, label, reason, f"{label}:{number}", detail)

    def _inside(self, path: str | Path) -> bool:
        try:
            check_inside(self.root, Path(path), self.options.allow_outside_root)
        except ValueError:
            return False
        return True

    def _refuse(self, split: str, item: _Item, detail: str) -> None:
        """An image outside the root: dropped as `unsafe_path` with its label's lines; a
        label file outside the root is not read at all."""
        lines = _label_lines(item.label) if self._inside(item.label) else []
        self.ledger.seen_objects(split, len(lines))
        self._drop_image(split, item, lines, "unsafe_path", detail)

    def _drop_image(
        self, split: str, item: _Item, lines: list[tuple[int, str]], reason: str, detail: str
    ) -> None:
        self.ledger.drop_image(split, item.file_name, reason, detail)
        for number, _ in lines:
            self._drop_line(split, item, number, reason)


def label_path(image: str) -> str:
    """Ultralytics' rule: the last `images` folder in the path becomes `labels`; else beside."""
    parts = image.split(os.sep)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return os.path.splitext(os.sep.join(parts))[0] + ".txt"


def _locate(src: Path, warn: Warn, allow_outside: bool = False) -> _Layout:
    if not src.exists():
        raise InputError(src, "no such file or folder")
    if src.is_file():
        if src.suffix.lower() in (".yaml", ".yml"):
            return _from_yaml(src, warn)
        if src.suffix.lower() == ".data":
            return _from_darknet_data(src, warn, allow_outside)
        raise InputError(src, "expected a dataset folder, a data.yaml or a Darknet .data file")
    for name in YAML_FILES:
        if (src / name).is_file():
            return _from_yaml(src / name, warn)
    if (src / "obj.data").is_file():
        return _from_darknet_data(src / "obj.data", warn, allow_outside)
    return _from_folders(src)


def _from_yaml(file: Path, warn: Warn) -> _Layout:
    data = _load_yaml(file)
    root = _yaml_root(file, data.get("path"), warn)
    sources: dict[str, list[Path]] = {}
    for key in SPLIT_KEYS:
        entries = data.get(key)
        if not entries:
            continue
        split = canonical_split(key)
        if split in sources:
            warn(f"{file.name}: {key!r} repeats the {split} split; ignored")
            continue
        paths = _resolve_all(file, key, entries if isinstance(entries, list) else [entries],
                             root, warn)
        if paths:
            sources[split] = paths
    if not sources:
        raise InputError(file, "no split found: train, val and test are missing or point "
                               "to nothing that exists")
    names, nc = _yaml_names(file, data)
    if names is not None and nc is not None and nc != len(names):
        warn(f"{file.name}: nc is {nc} but names has {len(names)} entries; using names")
    return _Layout(root, sources, names, nc, _keypoint_fields(file, data.get("kpt_shape")))


def _keypoint_fields(file: Path, shape: Any) -> int:
    """Values after the box on a pose line: `kpt_shape: [17, 3]` → 51."""
    if shape is None:
        return 0
    if not isinstance(shape, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape):
        raise InputError(file, f"kpt_shape must be a list of integers like [17, 3], "
                               f"not {shape!r}")
    return math.prod(shape)


def _resolve_all(file: Path, key: str, entries: list[Any], root: Path, warn: Warn) -> list[Path]:
    paths = []
    for entry in entries:
        path = _find(str(entry), (root,))
        if path is None:
            warn(f"{file.name}: {key}: {entry} not found under {root}; skipped")
        else:
            paths.append(path)
    return paths


def _load_yaml(file: Path) -> dict[str, Any]:
    import yaml  # here, not at the top: the VOC reader imports this module and needs no YAML

    try:
        text = file.read_text(encoding="utf-8-sig")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(file, f"invalid YAML: {_yaml_problem(exc)}",
                         _yaml_place(exc, text)) from None
    except UnicodeDecodeError as exc:
        raise InputError(file, f"not UTF-8 text ({exc.reason})") from None
    if not isinstance(data, dict):
        raise InputError(file, "top level is not a mapping")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's own text spans several lines; errors are printed on one."""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    return " ".join(str(problem).split())


def _yaml_place(exc: yaml.YAMLError, text: str) -> str | None:
    """line:col of the problem; a bad character (ReaderError) only knows its offset."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"{mark.line + 1}:{mark.column + 1}"
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        before = text[:position]
        return f"{before.count(chr(10)) + 1}:{position - before.rfind(chr(10))}"
    return None


def _yaml_root(file: Path, path: Any, warn: Warn) -> Path:
    """`path` is relative to the YAML's folder; one from another machine falls back to it."""
    if not path:
        return file.parent
    root = file.parent / str(path)
    if root.is_dir():
        return root
    warn(f"{file.name}: path {path!r} does not exist here; using {file.parent}")
    return file.parent


def _yaml_names(file: Path, data: dict[str, Any]) -> tuple[dict[int, str] | None, int | None]:
    names, nc = data.get("names"), data.get("nc")
    if nc is not None and not isinstance(nc, int):
        raise InputError(file, f"nc must be an integer, not {nc!r}")
    if names is None:
        return None, nc
    if isinstance(names, list):
        return {i: str(n) for i, n in enumerate(names)}, nc
    if isinstance(names, dict):
        try:
            return {int(k): str(v) for k, v in names.items()}, nc
        except (TypeError, ValueError):
            raise InputError(file, "names map keys must be integer class ids") from None
    raise InputError(file, f"names must be a list or an {{id: name}} map, not {names!r}")


def _from_darknet_data(file: Path, warn: Warn, allow_outside: bool = False) -> _Layout:
    """A Darknet / CVAT `obj.data`: `train = data/train.txt`, `names = data/obj.names`…

    The class names end up in every question, so a names file outside the folder is refused
    like an image would be."""
    root = file.parent
    values: dict[str, str] = {}
    for line in file.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[key.strip().lower()] = value.strip()
    sources: dict[str, list[Path]] = {}
    for key in SPLIT_KEYS:
        if values.get(key):
            sources.setdefault(canonical_split(key), []).extend(
                _resolve_all(file, key, [values[key]], root, warn))
    sources = {k: v for k, v in sources.items() if v}
    names_file = _find(values["names"], (root,)) if values.get("names") else None
    if names_file is not None:
        try:
            check_inside(root, names_file, allow_outside)
        except ValueError as exc:
            raise InputError(file, f"names: {exc}") from None
    names = _read_names(names_file) if names_file else _names_beside(root)
    if not sources:
        sources = _from_folders(root).sources
    nc = int(values["classes"]) if values.get("classes", "").isdigit() else None
    return _Layout(root, sources, names, nc)


def _from_folders(src: Path) -> _Layout:
    """No data.yaml: `images/{split}` or `{split}/[images]` folders, else all of it is train."""
    base = src / "images" if (src / "images").is_dir() else src
    sources: dict[str, list[Path]] = {}
    for child in sorted(p for p in base.iterdir() if p.is_dir()):
        if child.name.lower() in SPLIT_ALIASES:
            folder = child / "images" if (child / "images").is_dir() else child
            sources.setdefault(canonical_split(child.name), []).append(folder)
    names = _names_beside(src, *(f for fs in sources.values() for f in fs))
    return _Layout(src, sources or {"train": [base]}, names)


def _names_beside(*folders: Path) -> dict[int, str] | None:
    for folder in folders:
        for name in NAMES_FILES:
            if (folder / name).is_file():
                return _read_names(folder / name)
        for file in sorted(folder.glob("*.names")):
            return _read_names(file)
    return None


def _read_names(file: Path) -> dict[int, str]:
    lines = file.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    return dict(enumerate(line.strip() for line in lines if line.strip()))


def _ordered_names(names: dict[int, str], warn: Warn) -> list[str]:
    classes = [names[i] for i in sorted(names)]
    unique = list(dict.fromkeys(classes))
    if len(unique) < len(classes):
        warn(f"class names repeat ({', '.join(sorted(Counter(classes) - Counter(unique)))}); "
             "their ids are counted as one class")
    return unique


def _find(entry: str, bases: Iterable[Path], root: Path | None = None) -> Path | None:
    """An existing path for a split or list entry, tolerating the usual export mismatches.

    Tried in order: as written (relative to each base); without Ultralytics' leading `../`
    or Darknet's leading `data/`; for an absolute path written on another machine, its
    trailing components (at least two) under the first base. Each also with `val` and
    `valid` swapped. The first one inside `root` (default: the first base) wins; one
    outside is returned only when nothing inside exists, to be refused or allowed later.
    """
    path = Path(entry)
    bases = list(bases)
    candidates = [path] if path.is_absolute() else [b / path for b in bases]
    for prefix in ("../", "data/"):
        if entry.startswith(prefix):
            candidates += [b / entry[len(prefix):] for b in bases]
    if path.is_absolute():
        parts = path.parts[1:]
        candidates += [bases[0] / Path(*parts[i:]) for i in range(1, len(parts) - 1)]
    outside = None
    for candidate in candidates:
        for variant in (candidate, _swap_val(candidate)):
            if not variant.exists():
                continue
            try:
                return check_inside(root or bases[0], variant)
            except ValueError:
                outside = outside or variant
    return outside


def _swap_val(path: Path) -> Path:
    swap = {"val": "valid", "valid": "val"}
    return Path(*(swap.get(part, part) for part in path.parts))


def _files_under(folder: str | Path, wanted: Callable[[str], bool], skip_hidden: bool
                 ) -> list[str]:
    """The files under `folder` whose names are `wanted`, not entering symlinked folders (as
    `Path.rglob`), in no particular order."""
    found: list[str] = []
    pending = [os.fspath(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if skip_hidden and entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif wanted(entry.name) and entry.is_file():
                        found.append(entry.path)
        except PermissionError:  # an unreadable folder holds nothing we can read
            continue
    return found


def _path_order(path: str) -> list[str]:
    """The order of `Path`s: component by component (`a/b` before `a-b`)."""
    return os.path.normcase(path).split(os.sep)


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _is_text(name: str) -> bool:
    return name.endswith(".txt")


def _listed_images(listing: Path, root: Path) -> list[Path]:
    """A `.txt` of image paths: relative to the dataset root or to the list's folder."""
    images = []
    for line in listing.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        bases = (listing.parent, root) if entry.startswith("./") else (root, listing.parent)
        images.append(_find(entry, bases, root) or bases[0] / entry)
    return images


def _relative(path: str, base: Path) -> str:
    """Forward-slash name relative to `base` when the file is under it, else as given."""
    prefix = str(base).rstrip(os.sep) + os.sep
    name = path[len(prefix):] if path.startswith(prefix) else path
    return name.replace(os.sep, "/")


def _name_in(root: Path, path: str | Path) -> str:
    """`path` relative to the root as `resolve_inside` checks it: `../x` or a drive when it
    is outside (refused there unless allowed)."""
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:  # on another drive (Windows)
        return Path(path).as_posix()


def _stem(name: str) -> str:
    return os.path.splitext(name.rpartition("/")[2])[0]


def _label_lines(label: str) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; no label file means no objects."""
    try:
        with open(label, "rb", buffering=0) as handle:  # read whole: a buffer is extra work
            text = handle.read().decode("utf-8-sig", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return []
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _looks_like_labels(file: str) -> bool:
    """A stray README or list file is not a label file: its first line is not `int floats…`."""
    lines = _label_lines(file)
    if not lines:
        return False
    fields = lines[0][1].split()
    try:
        _class_id(fields[0])
        [float(v) for v in fields[1:]]
    except (_BadLine, ValueError):
        return False
    return len(fields) >= 5


def _class_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass  # `1.0` is a class id too
    try:
        value = float(text)
    except ValueError:
        raise _BadLine("bad_label_line", f"class id {text!r} is not a number") from None
    if not value.is_integer():
        raise _BadLine("bad_label_line", f"class id {text!r} is not an integer")
    return int(value)


def _parse_line(text: str, keypoint_fields: int) -> tuple[int, list[float]]:
    """`class cx cy w h [conf]`, `class x1 y1 x2 y2 … (polygon)` or a pose line → id, values."""
    fields = text.split()
    n = len(fields) - 1
    if keypoint_fields:
        if n != 4 + keypoint_fields:
            raise _BadLine("bad_label_line", f"{len(fields)} fields; a pose line has "
                                             f"{5 + keypoint_fields}")
    elif n not in (4, 5) and (n < 6 or n % 2):
        raise _BadLine("bad_label_line", f"{len(fields)} fields; expected 5 (class cx cy w h), "
                                         "6 (with a confidence) or an odd number ≥ 7 (polygon)")
    class_id = _class_id(fields[0])
    try:
        values = list(map(float, fields[1:]))
    except ValueError:
        raise _BadLine("bad_label_line", "non-numeric coordinate") from None
    if not all(map(math.isfinite, values)):
        raise _BadLine("bad_label_line", "non-finite coordinate")
    if keypoint_fields or n in (4, 5):
        del values[4:]
        _check_normalised(values, BOX_FIELDS)
        return class_id, values
    _check_normalised(values, ("x", "y") * (n // 2))
    return class_id, values


def _check_normalised(values: list[float], names: Iterable[str]) -> None:
    """Each value (finite by now) within the tolerance of 0–1, else which one is not."""
    if min(values) >= -TOLERANCE and max(values) <= 1 + TOLERANCE:
        return
    for name, value in zip(names, values, strict=True):
        if not -TOLERANCE <= value <= 1 + TOLERANCE:
            raise _BadLine("box_outside_image", f"{name} {value:g} is outside 0–1")


def _pixel_box(values: list[float], width: int, height: int) -> Box:
    """Normalised centre box or polygon → COCO `[x, y, w, h]` in pixels."""
    if len(values) == 4:
        cx, cy, w, h = values
        return ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)
    xs, ys = values[0::2], values[1::2]
    return (min(xs) * width, min(ys) * height,
            (max(xs) - min(xs)) * width, (max(ys) - min(ys)) * height)

"""YOLO reader: the Ultralytics layout and the Darknet layout.

Ultralytics: a `data.yaml` (`path`, `train`, `val`, `test`, `names` as a list or an
`{id: name}` map) whose splits are folders, image files, `.txt` lists of image paths, or lists
of those. Darknet: `obj.names` / `classes.txt`, optionally an `obj.data` naming split lists.
Without either file, `images/{split}` or `{split}/` folders are used as the splits. An image's
label is found by replacing the last images folder in its path below the root (`images`,
`Images`, `JPEGImages`) with the label folder beside it (`labels` or `annotations`, in any
capitalisation), else it is the `.txt` beside the image.

The layout is resolved once into a list of images per split, as path strings (the `Path`
operations per image took longer than reading the image); a label file is read only when
its image is yielded, and image sizes come from file headers. A malformed label line is a
reported drop (label file and line number), never a crash.

Containment: the dataset root is the folder given, or the folder holding the `data.yaml` /
`obj.data` given. Every file the reader opens (data.yaml, obj.data, names files, split lists,
labels, images) must resolve inside it unless `allow_outside_root`, and is opened only as a
regular file within its size bound (`dsconv.storage.files`). `data.yaml`'s `path:` may name a folder
inside the root. A split entry, list or names file outside the root, or one that cannot be
read, is a one-line error before anything is read from it; an image outside the root is
dropped as `unsafe_path`, and so is an image whose label file resolves outside it; an
unreadable label (a FIFO, over MAX_LABEL_BYTES, permission denied) drops its image as
`unreadable_label`.

Limits: a YAML document may hold at most MAX_YAML_NODES nodes, counting each alias as the
nodes it repeats (alias and merge-key bombs), nested at most MAX_YAML_DEPTH deep; at most
MAX_CLASSES class names (every question lists the classes). Numbers in label lines are ASCII
(Python's `int`/`float` also take other scripts' digits and `_`).

No label file for any image and nothing naming classes means the folder is not a YOLO
dataset (`NoAnnotationsError`), not an empty one; a split without any label file is warned
about; `.txt` files elsewhere under the root that look like labels but belong to no image
are named in a warning.
"""

from __future__ import annotations

import errno
import math
import os
import reprlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from dsconv.converters.base import (
    IMAGE_SUFFIXES,
    SPLIT_ALIASES,
    Candidate,
    DetectionSample,
    ImageProblem,
    IndexedReader,
    ReaderOptions,
    Vocabulary,
    canonical_split,
    unique_ids,
)
from dsconv.converters.boxes import Box
from dsconv.converters.paths import check_inside, resolve_inside
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.storage.files import (
    MAX_LABEL_BYTES,
    MAX_LIST_BYTES,
    FileTooLargeError,
    UnsafeFileError,
    excerpt,
    open_regular,
    read_text,
)

if TYPE_CHECKING:
    import yaml

    from dsconv.converters.detect import Detection

YAML_FILES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
NAMES_FILES = ("obj.names", "classes.txt", "classes.names", "names.txt", "_darknet.labels")
SPLIT_KEYS = ("train", "val", "valid", "validation", "test")
# .txt files that sit among labels but are not labels: split lists and class-name files
NOT_LABELS = frozenset({*NAMES_FILES, "train.txt", "val.txt", "valid.txt", "test.txt"})
IMAGE_FOLDERS = ("images", "jpegimages")  # lower-cased; an image path's last one of these…
LABEL_FOLDERS = ("labels", "annotations")  # …becomes the first of these beside it
TOLERANCE = 0.01  # normalised values this far outside 0–1 are rounding, clipped; beyond, dropped
BOX_FIELDS = ("x_center", "y_center", "width", "height")
MAX_CLASSES = 10_000  # every question lists the classes: 100k names made 7 GB of questions
MAX_YAML_NODES = 250_000  # each alias counted as the nodes it repeats; 10k names take 10k
MAX_YAML_DEPTH = 64
MAX_LIST_LINE = 4096  # PATH_MAX: a longer line in a split list is not a path
HEAD_BYTES = 4096  # what is read of a stray .txt to tell whether it is a label file
LINES_AT_ONCE = 1 << 20  # a label's text is split into lines this many characters at a time
_NO_FOLLOW = hasattr(os, "O_NOFOLLOW")  # else every label's path is checked before it is opened

Warn = Callable[[str], None]
Found = tuple[str, str, str]  # an image's path, its name relative to the root, its label's name

_show = reprlib.Repr()  # a value from a YAML file, quoted in an error: short whatever it is
_show.maxstring = _show.maxother = 60


class _Item(NamedTuple):
    image: str
    name: str  # relative to the root, `/`-separated: what the path check is given
    label: str  # the label file's name, the same way
    file_name: str
    image_id: str


@dataclass
class _Layout:
    root: Path
    sources: dict[str, list[Path]]  # split → image folders, image files or .txt image lists
    names: dict[int, str] | None
    nc: int | None = None
    keypoint_fields: int = 0  # pose datasets: values after the box on every line
    settings: list[Path] = field(default_factory=list)  # the lists and names files read


class _BadLine(Exception):
    """A label line that cannot become an object: the drop reason and what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _YamlLimit(Exception):
    """A YAML document over one of the limits; `place` is line:column."""

    def __init__(self, problem: str, place: str) -> None:
        super().__init__(problem)
        self.place = place


class YoloReader(IndexedReader[ReaderOptions]):
    name: ClassVar[str] = "yolo"
    description: ClassVar[str] = (
        "YOLO: Ultralytics (data.yaml, images/ and labels/ trees) or Darknet "
        "(obj.names or classes.txt, one .txt label beside each image or in Annotations/)"
    )

    def _index_source(self) -> None:
        layout = _locate(self.src, self.ledger.warn, self.options.allow_outside_root)
        self.root = layout.root
        self._keypoint_fields = layout.keypoint_fields
        self._labels = _LabelFolders(self.root)
        self._label_folders: dict[str, str | None] = {}  # folder → why it is refused, if it is
        self._scanned: list[str] = []  # label folders whose every .txt is accounted for
        self._orphans = 0  # label files found there without an image (reported as drops)
        self._index = {split: self._collect(split, sources)
                       for split, sources in layout.sources.items()}
        self._check_labelled(self._unread_labels(layout.settings),
                             layout.names is not None or layout.nc is not None)
        self._names = self._class_names(layout)
        self._vocabulary = Vocabulary(_ordered_names(self._names, self.ledger.warn),
                                      self.options.noun or "object")

    def _collect(self, split: str, sources: list[Path]) -> list[_Item]:
        """The split's images in a stable order, each with its label name and a unique id."""
        self.ledger.split(split)
        found: list[Found] = []
        for source in sources:
            if source.is_dir():
                images = self._folder(source)
                self._report_orphans(split, source, {label for _, _, label in images})
            elif _is_image(source.name):
                name = _name_in(self.root, source)
                images = [(str(source), name, self._labels.label(name))]
            else:
                images = self._listed(split, source)
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
        label = self._labels.label
        found = []
        for image in images:
            name = prefix + image[len(top):].lstrip(os.sep).replace(os.sep, "/")
            found.append((image, name, label(name)))
        return found

    def _listed(self, split: str, listing: Path) -> list[Found]:
        """A `.txt` of image paths, relative to the dataset root or to the list's folder; a
        line that is not an image path is a reported drop, quoted short."""
        text = _read_setting(listing, self.root, self.options.allow_outside_root)
        list_name = _relative(str(listing), self.root)
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            if not entry.isprintable():  # binary, or a file that is not a list: not quoted
                self.ledger.drop_image(split, list_name, "bad_list_line",
                                       f"line {number} has control characters: not a path")
                continue
            if len(entry) > MAX_LIST_LINE or not _is_image(entry):
                self.ledger.drop_image(split, list_name, "bad_list_line",
                                       f"line {number}: {excerpt(entry)} is not an image path")
                continue
            bases = ((listing.parent, self.root) if entry.startswith("./")
                     else (self.root, listing.parent))
            path = _find(entry, bases, self.root) or bases[0] / entry
            name = _name_in(self.root, path)
            found.append((str(path), name, self._labels.label(name)))
        return found

    def _report_orphans(self, split: str, folder: Path, expected: set[str]) -> None:
        """Label files whose image is missing: each line is a reported drop, not a lost one."""
        name = _name_in(self.root, folder)
        labels_name = self._labels.folder("" if name == "." else name)
        labels_root = os.path.join(self.root, labels_name).rstrip(os.sep) or os.sep
        if not os.path.isdir(labels_root) or not self._inside(labels_root):
            return
        self._scanned.append(labels_root)
        start = len(labels_root) + 1
        for label in sorted(_files_under(labels_root, _is_text, skip_hidden=False),
                            key=_path_order):
            name = labels_name + label[start:].replace(os.sep, "/")
            if name not in expected and os.path.basename(label).lower() not in NOT_LABELS:
                self._orphan(split, name)

    def _orphan(self, split: str, name: str) -> None:
        try:
            path = resolve_inside(self.root, name, self.options.allow_outside_root)
        except ValueError as exc:
            self.ledger.drop_image(split, name, "unsafe_path",
                                   f"label file without an image: {exc}")
            return
        try:
            if not _looks_like_labels(_head(path)):
                return
            text = _label_text(path)
        except (OSError, UnsafeFileError) as exc:
            self.ledger.drop_image(split, name, "unreadable_label",
                                   f"label file without an image: {_why(exc, path)}")
            return
        self._orphans += 1
        self.ledger.drop_image(split, name, "missing_image", "label file without an image")
        numbers = _numbered(text)
        self.ledger.seen_objects(split, len(numbers))
        for number in numbers:
            self.ledger.drop_object(split, name, "missing_image", f"{name}:{number}")

    def _unread_labels(self, settings: list[Path]) -> list[str]:
        """`.txt` files under the root that look like labels but that no image uses and no
        orphan scan saw (a label folder the layout does not name): they must not vanish."""
        root = os.fspath(self.root)
        if root.rstrip(os.sep) in self._scanned:  # labels beside the images from the root down
            return []
        known = {item.label for items in self._index.values() for item in items}
        known.update(_relative(os.fspath(path), self.root) for path in settings)
        unread = []
        for path in sorted(_files_under(root, _is_text, skip_hidden=True,
                                        skip=frozenset(self._scanned)), key=_path_order):
            name = _relative(path, self.root)
            if name in known or os.path.basename(path).lower() in NOT_LABELS:
                continue
            try:
                if _looks_like_labels(_head(path)):
                    unread.append(name)
            except (OSError, UnsafeFileError):
                continue  # not a file that can be read: not one that could be a label
        return unread

    def _check_labelled(self, unread: list[str], has_classes: bool) -> None:
        """No label file at all (for an image or without one) and nothing naming classes:
        not a YOLO dataset, whatever else the folder holds (a background image without a
        label is normal; a folder of them is another format, such as COCO or VOC). A split
        without any label is said."""
        root = os.fspath(self.root)
        labelled = {split: any(os.path.lexists(os.path.join(root, item.label))
                               for item in items)
                    for split, items in self._index.items()}
        shown = (", ".join(excerpt(name, 120) for name in unread[:5])
                 + (", …" if unread[5:] else ""))
        if not any(labelled.values()) and not self._orphans and not has_classes:
            images = sum(map(len, self._index.values()))
            looked_for = (f"a .txt label for any of the {images:,} images, in a labels/ or "
                          "Annotations/ folder beside images/, else beside the image")
            if unread:
                looked_for += (f"; {len(unread):,} .txt files that look like labels belong "
                               f"to no image: {shown}")
            raise NoAnnotationsError(self.src, "YOLO", looked_for)
        for split, has_labels in labelled.items():
            if not has_labels and self._index[split]:  # a test split exported without labels
                self.ledger.warn(f"{split}: none of its {len(self._index[split]):,} images "
                                 "has a label file; they are converted without objects")
        if unread:
            self.ledger.warn(f"{len(unread):,} .txt files look like YOLO labels but belong "
                             f"to no image found, so they were not read: {shown}")

    def _class_names(self, layout: _Layout) -> dict[int, str]:
        if layout.names is not None:
            return layout.names
        if self.options.classes:
            return dict(enumerate(self.options.classes))
        count = layout.nc if layout.nc is not None else self._scan_class_count()
        if not 0 <= count <= MAX_CLASSES:
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
                try:
                    text = self._label(item.label)
                except (OSError, ValueError):
                    continue  # dropped with a reason when its image is read
                for line in _lines(text):
                    fields = line.split()
                    if not fields or not line.isascii() or "_" in line:
                        continue
                    try:
                        largest = max(largest, _class_id(fields[0]))
                    except _BadLine:
                        continue
        return largest + 1

    def _sample(self, split: str, item: _Item) -> DetectionSample | None:
        image = self._resolve_image(self.root, item.name)
        if isinstance(image, ImageProblem):
            return self._refuse(split, item, image.detail)
        try:
            text = self._label(item.label)
        except (OSError, UnsafeFileError) as exc:
            self.ledger.drop_image(split, item.file_name, "unreadable_label",
                                   f"{item.label} {_why(exc, os.path.join(self.root, item.label))}")
            return None
        except ValueError as exc:
            self.ledger.drop_image(split, item.file_name, "unsafe_path", f"its label: {exc}")
            return None
        loaded = self._read_image(image)
        if isinstance(loaded, ImageProblem):
            return self._drop_image(split, item, text, loaded.reason, loaded.detail)
        data, width, height = loaded
        label = item.label
        objects = self._checked_objects(split, label, width, height,
                                        self._candidates(split, text, width, height),
                                        lambda number: f"{label}:{number}")
        return DetectionSample(split, item.image_id, item.file_name, data, width, height, objects)

    def _label(self, name: str) -> str:
        """A label file's text ("" when there is none). Its folder is checked once to be
        inside the root, the file opened without following a symlink; a symlinked label is
        read only once where it leads is checked (no `lstat` before every label).
        ValueError when it is outside the root; UnsafeFileError or OSError when unreadable."""
        folder = name.rpartition("/")[0]
        if folder not in self._label_folders:
            try:
                resolve_inside(self.root, folder or ".", self.options.allow_outside_root)
                self._label_folders[folder] = None
            except ValueError as exc:
                self._label_folders[folder] = str(exc)
        problem = self._label_folders[folder]
        if problem is not None:
            raise ValueError(problem)
        if _NO_FOLLOW:
            try:
                return _label_text(os.path.join(self.root, name), follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.EMLINK):
                    raise
        return _label_text(resolve_inside(self.root, name, self.options.allow_outside_root))

    def _candidates(self, split: str, text: str, width: int, height: int
                    ) -> Iterator[Candidate]:
        """The label's lines as objects in pixels, each line that cannot be one with its
        reason; the lines read are counted once all are."""
        names, keypoint_fields = self._names, self._keypoint_fields
        # int() and float() also read `٣`, `０.5` and `1_0`: a label with any non-ASCII
        # character or `_` (almost never) is checked line by line
        check_ascii = not text.isascii() or "_" in text
        seen = 0
        for number, line in enumerate(_lines(text), 1):
            fields = line.split()
            if not fields:
                continue
            seen += 1
            try:
                if check_ascii and (not line.isascii() or "_" in line):
                    raise _BadLine("bad_label_line", f"{excerpt(line)}: numbers must be ASCII "
                                                     "decimal digits")
                class_id, values = _parse_line(fields, keypoint_fields)
                name = names.get(class_id)
                if name is None:
                    raise _BadLine("unknown_class", f"class id {class_id} is not in the class "
                                                    f"names ({len(names)} classes)")
                box = _pixel_box(values, width, height)
            except _BadLine as bad:
                yield "", None, bad.reason, bad.detail, number
                continue
            yield name, box, None, None, number
        self.ledger.seen_objects(split, seen)

    def _drop_line(self, split: str, item: _Item, number: int, reason: str,
                   detail: str | None = None) -> None:
        self.ledger.drop_object(split, item.label, reason, f"{item.label}:{number}", detail)

    def _inside(self, path: str | Path) -> bool:
        try:
            check_inside(self.root, Path(path), self.options.allow_outside_root)
        except ValueError:
            return False
        return True

    def _refuse(self, split: str, item: _Item, detail: str) -> None:
        """An image outside the root: dropped as `unsafe_path` with its label's lines; a
        label file outside the root is not read at all."""
        try:
            text = self._label(item.label)
        except (OSError, ValueError):
            text = ""
        self._drop_image(split, item, text, "unsafe_path", detail)

    def _drop_image(self, split: str, item: _Item, text: str, reason: str, detail: str
                    ) -> None:
        numbers = _numbered(text)
        self.ledger.seen_objects(split, len(numbers))
        label = item.label
        self._drop_with_objects(split, item.file_name, reason, detail,
                                ((label, f"{label}:{number}") for number in numbers))

    @staticmethod
    def detect(src: Path) -> Detection | None:
        """`--from auto`: how sure we are that `src` is YOLO, and why."""
        from dsconv.converters.detect import detect_yolo

        return detect_yolo(src)


class _LabelFolders:
    """Where an image folder's labels are: its last images folder (`images`, `Images`,
    `JPEGImages`) replaced with the label folder beside it (`labels`, `annotations`, any
    capitalisation), else the folder itself. Names relative to the root, worked out once per
    folder (a per-image `split` of the path took longer than the rest of the lookup)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[str, str] = {}

    def label(self, image: str) -> str:
        """The label file's name for an image's name."""
        folder, _, file = image.rpartition("/")
        labels = self._folders.get(folder)
        if labels is None:
            labels = self.folder(folder)
        return labels + file.rpartition(".")[0] + ".txt"  # an image's name has a suffix

    def folder(self, folder: str) -> str:
        """The label folder's name for an image folder's name, with a trailing `/` ("" for
        the root)."""
        labels = self._folders.get(folder)
        if labels is not None:
            return labels
        parts = folder.split("/") if folder else []
        for i in range(len(parts) - 1, -1, -1):
            if parts[i].lower() in IMAGE_FOLDERS:
                sibling = self._sibling("/".join(parts[:i]))
                if sibling is not None:
                    parts[i] = sibling
                break
        labels = self._folders[folder] = "".join(part + "/" for part in parts)
        return labels

    def _sibling(self, parent: str) -> str | None:
        try:
            with os.scandir(os.path.join(self.root, parent)) as entries:
                folders = [e.name for e in entries
                           if e.name.lower() in LABEL_FOLDERS and e.is_dir()]
        except OSError:
            return None
        return _preferred(folders, LABEL_FOLDERS)


def _preferred(names: list[str], wanted: tuple[str, ...]) -> str | None:
    """The first of `wanted` (lower-case) among `names`, the exact spelling first."""
    for choice in wanted:
        matches = sorted(n for n in names if n.lower() == choice)
        if matches:
            return choice if choice in matches else matches[0]
    return None


def _locate(src: Path, warn: Warn, allow_outside: bool = False) -> _Layout:
    if not src.exists():
        raise InputError(src, "no such file or folder")
    if src.is_file():  # named by the user: its own folder is the root, it is read as named
        if src.suffix.lower() in (".yaml", ".yml"):
            return _from_yaml(src, src.parent, warn, allow_outside, trusted=True)
        if src.suffix.lower() == ".data":
            return _from_darknet_data(src, src.parent, warn, allow_outside, trusted=True)
    if not src.is_dir():
        raise InputError(src, "expected a dataset folder, a data.yaml or a Darknet .data file")
    for name in YAML_FILES:
        if os.path.lexists(src / name):
            return _from_yaml(src / name, src, warn, allow_outside)
    if os.path.lexists(src / "obj.data"):
        return _from_darknet_data(src / "obj.data", src, warn, allow_outside)
    return _from_folders(src, allow_outside)


def _read_setting(file: Path, root: Path, allow_outside: bool, errors: str = "strict") -> str:
    """A data.yaml, obj.data, names file or split list: inside the root, a regular file,
    at most MAX_LIST_BYTES; a one-line error naming it otherwise."""
    try:
        path = check_inside(root, file, allow_outside)
    except ValueError:
        raise InputError(file, f"resolves outside the dataset folder {root} "
                               "(use --allow-outside-root)") from None
    try:
        return read_text(path, MAX_LIST_BYTES, errors=errors)
    except UnicodeDecodeError as exc:
        raise InputError(file, f"not UTF-8 text ({exc.reason})") from None
    except (OSError, UnsafeFileError) as exc:
        raise InputError(file, _why(exc, path)) from None


def _why(exc: OSError | ValueError, path: str | Path) -> str:
    """Why a file could not be read, without repeating its name."""
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or exc.__class__.__name__})"
    return str(exc).removeprefix(f"{path} ")


def _from_yaml(file: Path, root: Path, warn: Warn, allow_outside: bool,
               trusted: bool = False) -> _Layout:
    data = _load_yaml(file, _read_setting(file, root, allow_outside or trusted))
    base, root = _yaml_base(file, root, data.get("path"), warn, allow_outside)
    sources: dict[str, list[Path]] = {}
    for key in SPLIT_KEYS:
        entries = data.get(key)
        if not entries:
            continue
        split = canonical_split(key)
        if split in sources:
            warn(f"{file.name}: {key!r} repeats the {split} split; ignored")
            continue
        entries = entries if isinstance(entries, list) else [entries]
        for entry in entries:
            if isinstance(entry, list | dict):
                raise InputError(file, f"{key}: entries must be paths (folders, images or "
                                       f".txt lists), not {_show.repr(entry)}")
        paths = _resolve_all(file, key, entries, base, root, warn, allow_outside)
        if paths:
            sources[split] = paths
    if not sources:
        raise InputError(file, "no split found: train, val and test are missing or point "
                               "to nothing that exists")
    names, nc = _yaml_names(file, data)
    if names is not None and nc is not None and nc != len(names):
        warn(f"{file.name}: nc is {nc} but names has {len(names)} entries; using names")
    lists = [path for paths in sources.values() for path in paths if path.is_file()]
    return _Layout(root, sources, names, nc, _keypoint_fields(file, data.get("kpt_shape")),
                   [file, *lists])


def _keypoint_fields(file: Path, shape: Any) -> int:
    """Values after the box on a pose line: `kpt_shape: [17, 3]` → 51."""
    if shape is None:
        return 0
    if not isinstance(shape, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape):
        raise InputError(file, f"kpt_shape must be a list of integers like [17, 3], "
                               f"not {_show.repr(shape)}")
    return math.prod(shape)


def _resolve_all(file: Path, key: str, entries: list[Any], base: Path, root: Path, warn: Warn,
                 allow_outside: bool) -> list[Path]:
    """Split entries as paths inside the root; one outside is an error before anything is
    read from it (`train: /` used to walk the whole filesystem)."""
    paths = []
    for entry in entries:
        text = str(entry)
        if len(text) > MAX_LIST_LINE or not text.isprintable():
            raise InputError(file, f"{key}: {excerpt(text)} is not a path")
        path = _find(text, (base,), root)
        if path is None:
            warn(f"{file.name}: {key}: {excerpt(text)} not found under {base}; skipped")
            continue
        try:
            paths.append(check_inside(root, path, allow_outside))
        except ValueError:
            raise InputError(file, f"{key}: {excerpt(text)} is outside the dataset folder "
                                   f"{root} (use --allow-outside-root)") from None
    return paths


@lru_cache(maxsize=1)
def _bounded_loader() -> type[yaml.SafeLoader]:
    """PyYAML's SafeLoader, refusing a document whose aliases expand past MAX_YAML_NODES
    nodes or that nests past MAX_YAML_DEPTH: `safe_load` shares an aliased list, but merge
    keys copy it and anything that walks the result (`str`, a name per entry) expands it.
    The counting is done while composing, in Python; with libyaml the events come from C
    (100k names: 1.4 s, against 7.9 s all in Python)."""
    import yaml
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    base: type = yaml.SafeLoader
    if yaml.__with_libyaml__:
        from yaml._yaml import CParser

        class CEventLoader(Composer, CParser, SafeConstructor, Resolver):  # type: ignore[misc]
            def __init__(self, stream: str) -> None:
                CParser.__init__(self, stream)
                SafeConstructor.__init__(self)
                Resolver.__init__(self)
                Composer.__init__(self)

        base = CEventLoader

    class BoundedLoader(base):  # type: ignore[misc,valid-type]
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.nodes = 0
            self.depth = 0
            self.sizes: dict[str, int] = {}  # anchor → nodes under it, itself included

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                self.grow(self.sizes.get(event.anchor, 1), event)
                return super().compose_node(parent, index)
            self.grow(1, event)
            start = self.nodes
            self.depth += 1
            if self.depth > MAX_YAML_DEPTH:
                raise _YamlLimit(f"nested more than {MAX_YAML_DEPTH} levels deep",
                                 _mark_place(event.start_mark))
            try:
                node = super().compose_node(parent, index)
            finally:
                self.depth -= 1
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                self.sizes[anchor] = self.nodes - start + 1
            return node

        def grow(self, count: int, event: Any) -> None:
            self.nodes += count
            if self.nodes > MAX_YAML_NODES:
                raise _YamlLimit(f"more than {MAX_YAML_NODES:,} YAML nodes once aliases "
                                 "(*name) are expanded", _mark_place(event.start_mark))

    return BoundedLoader


def _mark_place(mark: Any) -> str:
    return f"{mark.line + 1}:{mark.column + 1}"


def _load_yaml(file: Path, text: str) -> dict[str, Any]:
    import yaml  # here, not at the top: the VOC reader imports this module and needs no YAML

    loader = _bounded_loader()(text)
    try:
        data = loader.get_single_data()
    except _YamlLimit as exc:
        raise InputError(file, str(exc), exc.place) from None
    except yaml.YAMLError as exc:
        raise InputError(file, f"invalid YAML: {_yaml_problem(exc)}",
                         _yaml_place(exc, text)) from None
    except (ValueError, OverflowError) as exc:  # an int of 5,000 digits, a date that is not
        raise InputError(file, f"invalid YAML value: {excerpt(str(exc), 120)}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InputError(file, "top level is not a mapping")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's own text spans several lines; errors are printed on one."""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    problem = " ".join(str(problem).split())
    return problem if len(problem) <= 200 else problem[:200] + "…"


def _yaml_place(exc: yaml.YAMLError, text: str) -> str | None:
    """line:col of the problem; a bad character (ReaderError) only knows its offset."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return _mark_place(mark)
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        before = text[:position]
        return f"{before.count(chr(10)) + 1}:{position - before.rfind(chr(10))}"
    return None


def _yaml_base(file: Path, root: Path, path: Any, warn: Warn, allow_outside: bool
               ) -> tuple[Path, Path]:
    """The folder split entries are relative to, and the root. `path` is relative to the
    YAML's folder and may only name a folder inside the root (else it would move the root:
    `path: /` and every image on the machine is inside); one from another machine falls
    back to the YAML's folder. With `allow_outside_root` a folder elsewhere is the root."""
    if path is None or path == "":
        return file.parent, root
    text = str(path)
    if isinstance(path, list | dict) or len(text) > MAX_LIST_LINE or not text.isprintable():
        raise InputError(file, f"path must be a folder, not {_show.repr(path)}")
    folder = file.parent / text
    if not folder.is_dir():
        warn(f"{file.name}: path {excerpt(text)} does not exist here; using {file.parent}")
        return file.parent, root
    try:
        check_inside(root, folder)
    except ValueError:
        if not allow_outside:
            raise InputError(file, f"path: {excerpt(text)} is outside the dataset folder "
                                   f"{root} (use --allow-outside-root)") from None
        return folder, folder
    return folder, root


def _yaml_names(file: Path, data: dict[str, Any]) -> tuple[dict[int, str] | None, int | None]:
    names, nc = data.get("names"), data.get("nc")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool)):
        raise InputError(file, f"nc must be an integer, not {_show.repr(nc)}")
    if names is None:
        return None, nc
    if isinstance(names, list):
        pairs: Iterable[tuple[Any, Any]] = enumerate(names)
    elif isinstance(names, dict):
        pairs = names.items()
    else:
        raise InputError(file, f"names must be a list or an {{id: name}} map, not "
                               f"{_show.repr(names)}")
    _check_class_count(file, len(names))
    out = {}
    for key, name in pairs:
        if isinstance(name, list | dict):
            raise InputError(file, f"names: {_show.repr(key)} must be a class name, not "
                                   f"{_show.repr(name)}")
        out[_name_id(file, key)] = str(name)
    return out, nc


def _name_id(file: Path, key: Any) -> int:
    """A names map key: an integer, or ASCII digits (`int` also reads `٣` and `1_0`)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 10:
        return int(key)
    raise InputError(file, f"names map keys must be integer class ids, not {_show.repr(key)}")


def _check_class_count(file: Path, count: int) -> None:
    if count > MAX_CLASSES:
        raise InputError(file, f"{count:,} class names; at most {MAX_CLASSES:,} are "
                               "supported (every question lists the classes)")


def _from_darknet_data(file: Path, root: Path, warn: Warn, allow_outside: bool = False,
                       trusted: bool = False) -> _Layout:
    """A Darknet / CVAT `obj.data`: `train = data/train.txt`, `names = data/obj.names`…

    The class names end up in every question, so a names file outside the folder is refused
    like an image would be."""
    values: dict[str, str] = {}
    text = _read_setting(file, root, allow_outside or trusted, errors="replace")
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[key.strip().lower()] = value.strip()
    sources: dict[str, list[Path]] = {}
    for key in SPLIT_KEYS:
        if values.get(key):
            sources.setdefault(canonical_split(key), []).extend(
                _resolve_all(file, key, [values[key]], root, root, warn, allow_outside))
    sources = {k: v for k, v in sources.items() if v}
    names_file = _find(values["names"], (root,)) if values.get("names") else None
    if names_file is not None:
        try:
            check_inside(root, names_file, allow_outside)
        except ValueError as exc:
            raise InputError(file, f"names: {exc}") from None
    names = (_read_names(names_file, root, allow_outside) if names_file
             else _names_beside(root, allow_outside, root))
    settings = [file, *(p for paths in sources.values() for p in paths if p.is_file())]
    if names_file is not None:
        settings.append(names_file)
    if not sources:
        sources = _from_folders(root, allow_outside).sources
    classes = values.get("classes", "")
    nc = int(classes) if classes.isascii() and classes.isdigit() and len(classes) < 10 else None
    return _Layout(root, sources, names, nc, settings=settings)


def _from_folders(src: Path, allow_outside: bool) -> _Layout:
    """No data.yaml: `images/{split}` or `{split}/[images]` folders, else all of it is train.
    Folder names in any capitalisation (`Images/`, `JPEGImages/`)."""
    base = _child_folder(src, IMAGE_FOLDERS) or src
    sources: dict[str, list[Path]] = {}
    for child in _folders_in(base):
        if child.name.lower() in SPLIT_ALIASES:
            folder = _child_folder(child, IMAGE_FOLDERS) or child
            sources.setdefault(canonical_split(child.name), []).append(folder)
    sources = sources or {"train": [base]}
    for folder in (f for folders in sources.values() for f in folders):
        try:
            check_inside(src, folder, allow_outside)
        except ValueError:
            raise InputError(folder, f"resolves outside the dataset folder {src} "
                                     "(use --allow-outside-root)") from None
    beside = [f for f in (_child_folder(src, LABEL_FOLDERS),) if f is not None]
    names = _names_beside(src, allow_outside, src, *beside,
                          *(f for folders in sources.values() for f in folders))
    return _Layout(src, sources, names)


def _folders_in(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError as exc:
        raise InputError(folder, _why(exc, folder)) from None


def _child_folder(folder: Path, wanted: tuple[str, ...]) -> Path | None:
    """`folder`'s sub-folder named one of `wanted` (lower-case) in any capitalisation."""
    choice = _preferred([p.name for p in _folders_in(folder)], wanted)
    return folder / choice if choice else None


def _names_beside(root: Path, allow_outside: bool, *folders: Path) -> dict[int, str] | None:
    for folder in folders:
        for name in NAMES_FILES:
            if os.path.lexists(folder / name):
                return _read_names(folder / name, root, allow_outside)
        for file in sorted(folder.glob("*.names")):
            return _read_names(file, root, allow_outside)
    return None


def _read_names(file: Path, root: Path, allow_outside: bool) -> dict[int, str]:
    lines = _read_setting(file, root, allow_outside, errors="replace").splitlines()
    names = [line.strip() for line in lines if line.strip()]
    _check_class_count(file, len(names))
    return dict(enumerate(names))


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


def _files_under(folder: str | Path, wanted: Callable[[str], bool], skip_hidden: bool,
                 skip: frozenset[str] = frozenset()) -> list[str]:
    """The files under `folder` whose names are `wanted`, not entering symlinked folders (as
    `Path.rglob`) nor those in `skip`, in no particular order."""
    found: list[str] = []
    pending = [os.fspath(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if skip_hidden and entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if entry.path not in skip:
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


def _label_text(path: str, follow_symlinks: bool = True) -> str:
    """A label file's text; "" when there is none (no label file means no objects).
    UnsafeFileError for a FIFO or a file over MAX_LABEL_BYTES, OSError when unreadable."""
    try:
        handle = open_regular(path, MAX_LABEL_BYTES, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        return ""
    with handle:
        data = handle.read()  # whole: the size was checked, a bounded read costs 6× more
    if len(data) > MAX_LABEL_BYTES:
        raise FileTooLargeError(f"{path} grew over the {MAX_LABEL_BYTES:,}-byte limit "
                                "while read")
    return data.decode("utf-8-sig", errors="replace")


def _head(path: str) -> str:
    """The start of a `.txt` file: enough to tell a label file from notes or a list."""
    with open_regular(path, MAX_LABEL_BYTES) as handle:
        return handle.read(HEAD_BYTES).decode("utf-8-sig", errors="replace")


def _lines(text: str) -> Iterable[str]:
    """A label's lines as `str.splitlines` gives them, a megabyte at a time (cut after a
    `\n`, so the lines and their numbers are the same): a big label's lines as one list took
    2.5 times the file, on top of the objects made from them."""
    if len(text) <= LINES_AT_ONCE:
        return text.splitlines()
    return _lines_in_parts(text)


def _lines_in_parts(text: str) -> Iterator[str]:
    start = 0
    while start < len(text):
        end = text.find("\n", start + LINES_AT_ONCE)
        end = len(text) if end < 0 else end + 1
        yield from text[start:end].splitlines()
        start = end


def _numbered(text: str) -> list[int]:
    """The line numbers (1-based) of a label's non-blank lines: its annotations."""
    return [n for n, line in enumerate(_lines(text), 1) if line and not line.isspace()]


def _looks_like_labels(head: str) -> bool:
    """A stray README or list file is not a label file: its first line is not `int floats…`
    (five or more fields, ASCII)."""
    for line in head.splitlines():
        fields = line.split()
        if not fields:
            continue
        try:
            _class_id(fields[0])
            [float(v) for v in fields[1:]]
        except (_BadLine, ValueError):
            return False
        return len(fields) >= 5 and line.isascii() and "_" not in line
    return False


def _class_id(text: str) -> int:
    """An ASCII class id (checked by the caller); `1.0` is one too."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise _BadLine("bad_label_line", f"class id {excerpt(text)} is not a number") from None
    if not value.is_integer():
        raise _BadLine("bad_label_line", f"class id {excerpt(text)} is not an integer")
    return int(value)


def _parse_line(fields: list[str], keypoint_fields: int) -> tuple[int, list[float]]:
    """`class cx cy w h [conf]`, `class x1 y1 x2 y2 … (polygon)` or a pose line → id, values.
    The line is ASCII without `_` (checked by the caller)."""
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

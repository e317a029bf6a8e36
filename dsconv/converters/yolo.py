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
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from dsconv.converters.base import (
    Candidate,
    DetectionSample,
    ImageProblem,
    IndexedReader,
    ReaderOptions,
    Vocabulary,
    unique_ids,
)
from dsconv.converters.paths import check_inside, resolve_inside
from dsconv.converters.yolo_files import (
    MAX_LIST_LINE,
    Found,
    LabelFolders,
    file_stem,
    files_under,
    find_file,
    is_image,
    is_text,
    name_in,
    path_order,
    relative_path,
)
from dsconv.converters.yolo_labels import (
    NO_FOLLOW,
    BadLine,
    label_head,
    label_lines,
    label_text,
    looks_like_labels,
    numbered,
    parse_class_id,
    parse_line,
    pixel_box,
    unread_labels,
)
from dsconv.converters.yolo_layout import (
    MAX_CLASSES,
    NOT_LABELS,
    Layout,
    locate,
    ordered_names,
    read_setting,
    why_unreadable,
)
from dsconv.converters.yolo_yaml import yaml_repr
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.storage.files import (
    UnsafeFileError,
    excerpt,
)

if TYPE_CHECKING:

    from dsconv.converters.probe import Detection


yaml_repr.maxstring = yaml_repr.maxother = 60


class _Item(NamedTuple):
    image: str
    name: str  # relative to the root, `/`-separated: what the path check is given
    label: str  # the label file's name, the same way
    file_name: str
    image_id: str


class YoloReader(IndexedReader[ReaderOptions]):
    name: ClassVar[str] = "yolo"
    description: ClassVar[str] = (
        "YOLO: Ultralytics (data.yaml, images/ and labels/ trees) or Darknet "
        "(obj.names or classes.txt, one .txt label beside each image or in Annotations/)"
    )

    def _index_source(self) -> None:
        layout = locate(self.src, self.ledger.warn, self.options.allow_outside_root)
        self.root = layout.root
        self._keypoint_fields = layout.keypoint_fields
        self._labels = LabelFolders(self.root)
        self._label_folders: dict[str, str | None] = {}  # folder → why it is refused, if it is
        self._scanned: list[str] = []  # label folders whose every .txt is accounted for
        self._orphans = 0  # label files found there without an image (reported as drops)
        self._index = {split: self._collect(split, sources)
                       for split, sources in layout.sources.items()}
        self._check_labelled(self._unread_labels(layout.settings),
                             layout.names is not None or layout.nc is not None)
        self._names = self._class_names(layout)
        self._vocabulary = Vocabulary(ordered_names(self._names, self.ledger.warn),
                                      self.options.noun or "object")

    def _collect(self, split: str, sources: list[Path]) -> list[_Item]:
        """The split's images in a stable order, each with its label name and a unique id."""
        self.ledger.split(split)
        found: list[Found] = []
        for source in sources:
            if source.is_dir():
                images = self._folder(source)
                self._report_orphans(split, source, {label for _, _, label in images})
            elif is_image(source.name):
                name = name_in(self.root, source)
                images = [(str(source), name, self._labels.label(name))]
            else:
                images = self._listed(split, source)
            found.extend(images)
        unique = list({image[0]: image for image in found}.values())  # first-seen order
        if len(unique) < len(found):
            self.ledger.warn(f"{split}: {len(found) - len(unique)} images are listed "
                             "more than once; each is converted once")
        base = sources[0] if len(sources) == 1 and sources[0].is_dir() else self.root
        names = [relative_path(image, base) for image, _, _ in unique]
        ids = unique_ids([file_stem(n) for n in names], self.ledger.warn, split)
        return [_Item(image, name, label, file_name, image_id)
                for (image, name, label), file_name, image_id in zip(unique, names, ids,
                                                                       strict=True)]

    def _folder(self, folder: Path) -> list[Found]:
        """The images under a split folder; their names relative to the root share a prefix."""
        prefix = name_in(self.root, folder)
        prefix = "" if prefix == "." else prefix + "/"
        top = os.fspath(folder)
        images = sorted(files_under(folder, is_image, skip_hidden=True), key=path_order)
        label = self._labels.label
        found = []
        for image in images:
            name = prefix + image[len(top):].lstrip(os.sep).replace(os.sep, "/")
            found.append((image, name, label(name)))
        return found

    def _listed(self, split: str, listing: Path) -> list[Found]:
        """A `.txt` of image paths, relative to the dataset root or to the list's folder; a
        line that is not an image path is a reported drop, quoted short."""
        text = read_setting(listing, self.root, self.options.allow_outside_root)
        list_name = relative_path(str(listing), self.root)
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            if not entry.isprintable():  # binary, or a file that is not a list: not quoted
                self.ledger.drop_image(split, list_name, "bad_list_line",
                                       f"line {number} has control characters: not a path")
                continue
            if len(entry) > MAX_LIST_LINE or not is_image(entry):
                self.ledger.drop_image(split, list_name, "bad_list_line",
                                       f"line {number}: {excerpt(entry)} is not an image path")
                continue
            bases = ((listing.parent, self.root) if entry.startswith("./")
                     else (self.root, listing.parent))
            path = find_file(entry, bases, self.root) or bases[0] / entry
            name = name_in(self.root, path)
            found.append((str(path), name, self._labels.label(name)))
        return found

    def _report_orphans(self, split: str, folder: Path, expected: set[str]) -> None:
        """Label files whose image is missing: each line is a reported drop, not a lost one."""
        name = name_in(self.root, folder)
        labels_name = self._labels.folder("" if name == "." else name)
        labels_root = os.path.join(self.root, labels_name).rstrip(os.sep) or os.sep
        if not os.path.isdir(labels_root) or not self._inside(labels_root):
            return
        self._scanned.append(labels_root)
        start = len(labels_root) + 1
        for label in sorted(files_under(labels_root, is_text, skip_hidden=False),
                            key=path_order):
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
            if not looks_like_labels(label_head(path)):
                return
            text = label_text(path)
        except (OSError, UnsafeFileError) as exc:
            self.ledger.drop_image(split, name, "unreadable_label",
                                   f"label file without an image: {why_unreadable(exc, path)}")
            return
        self._orphans += 1
        self.ledger.drop_image(split, name, "missing_image", "label file without an image")
        numbers = numbered(text)
        self.ledger.seen_objects(split, len(numbers))
        for number in numbers:
            self.ledger.drop_object(split, name, "missing_image", f"{name}:{number}")

    def _unread_labels(self, settings: list[Path]) -> list[str]:
        """`.txt` files under the root that look like labels but that no image uses and no
        orphan scan saw (a label folder the layout does not name): they must not vanish."""
        known = {item.label for items in self._index.values() for item in items}
        known.update(relative_path(os.fspath(path), self.root) for path in settings)
        return unread_labels(self.root, self._scanned, known)

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

    def _class_names(self, layout: Layout) -> dict[int, str]:
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
                for line in label_lines(text):
                    fields = line.split()
                    if not fields or not line.isascii() or "_" in line:
                        continue
                    try:
                        largest = max(largest, parse_class_id(fields[0]))
                    except BadLine:
                        continue
        return largest + 1

    def _sample(self, split: str, item: _Item) -> DetectionSample | None:
        image = self._resolve_image(self.root, item.name)
        if isinstance(image, ImageProblem):
            return self._refuse(split, item, image.detail)
        try:
            text = self._label(item.label)
        except (OSError, UnsafeFileError) as exc:
            why = why_unreadable(exc, os.path.join(self.root, item.label))
            self.ledger.drop_image(split, item.file_name, "unreadable_label",
                                   f"{item.label} {why}")
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
        if NO_FOLLOW:
            try:
                return label_text(os.path.join(self.root, name), follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.EMLINK):
                    raise
        return label_text(resolve_inside(self.root, name, self.options.allow_outside_root))

    def _candidates(self, split: str, text: str, width: int, height: int
                    ) -> Iterator[Candidate]:
        """The label's lines as objects in pixels, each line that cannot be one with its
        reason; the lines read are counted once all are."""
        names, keypoint_fields = self._names, self._keypoint_fields
        # int() and float() also read `٣`, `０.5` and `1_0`: a label with any non-ASCII
        # character or `_` (almost never) is checked line by line
        check_ascii = not text.isascii() or "_" in text
        seen = 0
        for number, line in enumerate(label_lines(text), 1):
            fields = line.split()
            if not fields:
                continue
            seen += 1
            try:
                if check_ascii and (not line.isascii() or "_" in line):
                    raise BadLine("bad_label_line", f"{excerpt(line)}: numbers must be ASCII "
                                                     "decimal digits")
                class_id, values = parse_line(fields, keypoint_fields)
                name = names.get(class_id)
                if name is None:
                    raise BadLine("unknown_class", f"class id {class_id} is not in the class "
                                                    f"names ({len(names)} classes)")
                box = pixel_box(values, width, height)
            except BadLine as bad:
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
        numbers = numbered(text)
        self.ledger.seen_objects(split, len(numbers))
        label = item.label
        self._drop_with_objects(split, item.file_name, reason, detail,
                                ((label, f"{label}:{number}") for number in numbers))

    @staticmethod
    def detect(src: Path) -> Detection | None:
        """`--from auto`: how sure we are that `src` is YOLO, and why."""
        from dsconv.converters.sniffers import detect_yolo

        return detect_yolo(src)

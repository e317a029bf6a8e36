"""Pascal VOC reader: one XML per image.

Layouts: a devkit folder (`Annotations/`, `JPEGImages/`, and `ImageSets/Main/{train,val,
test}.txt` when present; without them everything is `train`), found directly or one or two
levels down (`VOCdevkit/VOC2012`); or XML files next to their images, in split folders
(`train/`, `valid/`, `test/`) or in one folder.

Every XML is parsed once, up front, into a compact per-image index (the vocabulary needs
every class name); image bytes are read one image at a time as samples are yielded, and
sizes come from image headers. Parsing uses defusedxml with DTDs forbidden, so entity bombs
and external entities are refused before they expand. A broken or refused XML file does not
stop the dataset: its image is dropped with reason `bad_annotation` and the parser's
line:col in the report's detail. An image or XML file that resolves outside the dataset
folder (a symlink, an ImageSets stem with `..`) is dropped as `unsafe_path` unless
`allow_outside_root`; `<filename>` is only ever looked up by its base name.

VOC corners are 1-based and inclusive: x = xmin − 1, w = xmax − xmin + 1 (and the same for
y), the exact inverse of what `dsconv.samples.coins` writes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from dsconv.converters.base import (
    SPLIT_ALIASES,
    DetectionObject,
    DetectionSample,
    IndexedReader,
    Ledger,
    ReaderOptions,
    Vocabulary,
    canonical_split,
)
from dsconv.converters.boxes import Box, check_box
from dsconv.converters.paths import check_inside
from dsconv.converters.yolo import IMAGE_SUFFIXES, unique_ids
from dsconv.errors import InputError
from dsconv.io.images import read_image

IMAGE_DIRS = ("JPEGImages", "images", "Images")
SET_FILES = ("train", "val", "valid", "validation", "test")
CORNERS = ("xmin", "ymin", "xmax", "ymax")


@dataclass(slots=True)
class _Object:
    number: int  # 1-based position among the file's objects, for the report
    name: str
    box: Box | None
    difficult: bool
    problem: tuple[str, str] | None = None  # (reason, detail) when the object is unusable


@dataclass(slots=True)
class _Image:
    image_id: str
    file_name: str  # relative to the image folder; what rows and the report name
    image: Path | None  # None: no such image file
    xml: str | None  # relative to the dataset root, for the report
    size: tuple[int, int] | None = None
    objects: list[_Object] = field(default_factory=list)
    error: str | None = None  # the XML could not be read: the image is dropped
    refused: str | None = None  # the XML leaves the dataset folder: dropped as unsafe_path


@dataclass(slots=True)
class _Xml:
    """What one annotation file says: the first `<filename>` and `<size>`, every object."""

    filename: str = ""
    size: tuple[int, int] | None = None
    objects: list[_Object] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def add(self, element: ET.Element) -> None:
        """Take in one child of `<annotation>`, complete with its own children."""
        if element.tag == "object":
            self.objects.append(_object(len(self.objects) + 1, element))
        elif element.tag == "filename" and element.tag not in self._seen:
            self.filename = (element.text or "").strip()
        elif element.tag == "size" and element.tag not in self._seen:
            self.size = _size(element)
        self._seen.add(element.tag)


@dataclass(frozen=True)
class _Source:
    """Where one split's annotations and images are, and which stems it has (None: all)."""

    annotations: Path
    images: Path
    stems: list[str] | None = None


class _ImageFolder:
    """An image folder's files by name and by stem, listed once."""

    def __init__(self, folder: Path) -> None:
        files = sorted(p for p in folder.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) \
            if folder.is_dir() else []
        self.files = files
        self.by_name = {p.name: p for p in files}
        self.by_lower = {p.name.lower(): p for p in files}
        self.by_stem: dict[str, Path] = {}
        for p in files:
            self.by_stem.setdefault(p.stem, p)

    def find(self, stem: str, filename: str | None) -> Path | None:
        """The XML's `<filename>` when it exists here, else an image with the XML's stem."""
        if filename:
            name = Path(filename.replace("\\", "/")).name
            found = self.by_name.get(name) or self.by_lower.get(name.lower()) \
                or self.by_stem.get(name)
            if found:
                return found
        return self.by_stem.get(stem)


class VocReader(IndexedReader):
    name: ClassVar[str] = "voc"
    description: ClassVar[str] = (
        "Pascal VOC XML: Annotations/, JPEGImages/, ImageSets/Main/*.txt, "
        "or XML files next to their images"
    )

    def __init__(self, src: Path, ledger: Ledger, options: ReaderOptions | None = None) -> None:
        super().__init__(src, ledger, options)
        self.root, sources = _locate(self.src, ledger)
        self._index = {split: self._build(split, source) for split, source in sources.items()}
        self._vocabulary = self._build_vocabulary()

    def _build(self, split: str, source: _Source) -> list[_Image]:
        """Parse the split's XML files; pair each with its image; add images without XML."""
        self.ledger.split(split)
        folder = _ImageFolder(source.images)
        if source.stems is None:
            xmls = sorted(p for p in source.annotations.glob("*")
                          if p.suffix.lower() == ".xml" and p.is_file())
            units = [(p.stem, p) for p in xmls]
        else:
            units = [(stem, _xml_for(source.annotations, stem)) for stem in source.stems]
        images = [self._parse(stem, xml, folder) for stem, xml in units]
        if source.stems is None:
            claimed = {image.image for image in images}
            images += [_Image(p.stem, p.name, p, None) for p in folder.files if p not in claimed]
        # An ImageSets line may name a nested XML (`sub/b`); a row id cannot hold the '/',
        # so the id is the file stem, as for images without a list.
        ids = unique_ids([PurePosixPath(image.image_id).name or image.image_id
                          for image in images], self.ledger.warn, split)
        for image, image_id in zip(images, ids, strict=True):
            image.image_id = image_id
        return images

    def _parse(self, stem: str, xml: Path | None, folder: _ImageFolder) -> _Image:
        if xml is None:
            path = folder.find(stem, None)
            return _Image(stem, path.name if path else stem, path, None)
        name = xml.relative_to(self.root).as_posix()
        try:
            check_inside(self.src, xml, self.options.allow_outside_root)
        except ValueError as exc:
            return _Image(stem, stem, None, name, refused=str(exc))
        parsed, error = _read_xml(xml)
        if parsed is None:
            path = folder.find(stem, None)
            return _Image(stem, path.name if path else stem, path, name, error=error)
        path = folder.find(stem, parsed.filename)
        file_name = path.name if path else (Path(parsed.filename).name or stem)
        return _Image(stem, file_name, path, name, parsed.size, parsed.objects)

    def _build_vocabulary(self) -> Vocabulary:
        """`ReaderOptions.classes` in its order, else every class name in the XML, sorted."""
        noun = self.options.noun or "object"
        if self.options.classes:
            return Vocabulary(list(dict.fromkeys(self.options.classes)), noun)
        names = {obj.name for images in self._index.values() for image in images
                 for obj in image.objects if obj.name}
        return Vocabulary(sorted(names), noun)

    def _sample(self, split: str, image: _Image) -> DetectionSample | None:
        self.ledger.seen_objects(split, len(image.objects))
        report_name = image.xml or image.file_name
        if image.error is not None or image.refused is not None:
            reason = "bad_annotation" if image.error is not None else "unsafe_path"
            self.ledger.drop_image(split, report_name, reason, image.error or image.refused)
            return None
        if image.image is None:
            return self._drop_image(split, image, report_name, "missing_image",
                                    f"no image {image.file_name!r} found")
        try:
            path = check_inside(self.src, image.image, self.options.allow_outside_root)
        except ValueError as exc:
            return self._drop_image(split, image, image.file_name, "unsafe_path", str(exc))
        try:
            data, width, height = read_image(path)
        except FileNotFoundError:
            return self._drop_image(split, image, report_name, "missing_image",
                                    f"{image.image} does not exist")
        except (OSError, ValueError) as exc:
            return self._drop_image(split, image, image.file_name, "unreadable_image", str(exc))
        if image.size not in (None, (width, height)):
            self.ledger.warn(f"{report_name}: <size> says {image.size[0]}x{image.size[1]} but "
                             f"the image is {width}x{height}; using the image's size")
        objects = [kept for obj in image.objects
                   if (kept := self._object(split, image, obj, width, height))]
        return DetectionSample(split, image.image_id, image.file_name, data, width, height,
                               objects)

    def _object(
        self, split: str, image: _Image, obj: _Object, width: int, height: int
    ) -> DetectionObject | None:
        reason, detail = obj.problem or (self._excluded(obj), None)
        box, note = (None, reason) if reason else check_box(
            obj.box, width, height, self.options.box_policy)
        if box is None:
            self.ledger.drop_object(split, image.xml or image.file_name, note or "invalid_box",
                                    f"object {obj.number} ({obj.name})", detail)
            return None
        if note == "clipped":
            self.ledger.clipped(split)
        return DetectionObject(obj.name, box)

    def _excluded(self, obj: _Object) -> str | None:
        if obj.name not in self._vocabulary.classes:
            return "unknown_class"
        if obj.difficult and not self.options.keep_difficult:
            return "difficult"
        return None

    def _drop_image(
        self, split: str, image: _Image, file: str, reason: str, detail: str
    ) -> None:
        self.ledger.drop_image(split, file, reason, detail)
        for obj in image.objects:
            self.ledger.drop_object(split, image.xml or image.file_name, reason,
                                    f"object {obj.number} ({obj.name})")


def _locate(src: Path, ledger: Ledger) -> tuple[Path, dict[str, _Source]]:
    if not src.exists():
        raise InputError(src, "no such file or folder")
    if not src.is_dir():
        raise InputError(src, "expected a VOC dataset folder")
    if (src / "Annotations").is_dir():
        return src, _devkit(src, ledger)
    nested = sorted({p.parent for p in (*src.glob("*/Annotations"), *src.glob("*/*/Annotations"))
                     if p.is_dir()})
    if len(nested) > 1:
        raise InputError(src, "several VOC datasets inside ("
                              f"{', '.join(p.relative_to(src).as_posix() for p in nested)}); "
                              "pass one of them")
    if nested:
        return nested[0], _devkit(nested[0], ledger)
    return src, _flat(src)


def _devkit(root: Path, ledger: Ledger) -> dict[str, _Source]:
    annotations = root / "Annotations"
    images = next((root / d for d in IMAGE_DIRS if (root / d).is_dir()), None)
    if images is None:
        raise InputError(root, f"no image folder next to Annotations/ (looked for "
                               f"{', '.join(IMAGE_DIRS)})")
    lists = _image_sets(root / "ImageSets" / "Main")
    if not lists:
        return {"train": _Source(annotations, images)}
    listed = {stem for stems in lists.values() for stem in stems}
    unlisted = sum(1 for p in annotations.glob("*.xml") if p.stem not in listed)
    if unlisted:
        ledger.warn(f"{annotations}: {unlisted} XML files are in no ImageSets/Main list "
                    "and were not converted")
    return {split: _Source(annotations, images, stems) for split, stems in lists.items()}


def _image_sets(folder: Path) -> dict[str, list[str]]:
    """Split lists: one stem a line (a second column is ignored); `#` comments, blanks skipped."""
    found: dict[str, list[str]] = {}
    names = SET_FILES if any((folder / f"{n}.txt").is_file() for n in SET_FILES) \
        else ("trainval",)
    for name in names:
        file = folder / f"{name}.txt"
        if not file.is_file():
            continue
        stems = [line.split()[0] for line in
                 file.read_text(encoding="utf-8-sig", errors="replace").splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
        split = "train" if name == "trainval" else canonical_split(name)
        found.setdefault(split, []).extend(dict.fromkeys(stems))
    return found


def _flat(src: Path) -> dict[str, _Source]:
    """XML beside images: in split folders (a Roboflow VOC export) or in one folder."""
    found: dict[str, _Source] = {}
    for child in sorted(p for p in src.iterdir() if p.is_dir()):
        if child.name.lower() in SPLIT_ALIASES and _has_voc_files(child):
            found.setdefault(canonical_split(child.name), _Source(child, child))
    if found:
        return found
    if _has_voc_files(src):
        return {"train": _Source(src, src)}
    raise InputError(src, "no VOC annotations found (looked for Annotations/, "
                          "split folders and *.xml beside images)")


def _has_voc_files(folder: Path) -> bool:
    return any(p.suffix.lower() == ".xml" for p in folder.iterdir())


def _xml_for(annotations: Path, stem: str) -> Path | None:
    path = annotations / f"{stem}.xml"
    return path if path.is_file() else None


STREAM_ABOVE = 1 << 20  # bytes; smaller files parse faster as a whole tree


def _read_xml(path: Path) -> tuple[_Xml | None, str | None]:
    """What the file says, or why it cannot be used (with line:col).

    A large file is streamed: each child of `<annotation>` is read when it closes and then
    freed, so memory follows the objects kept, not the element tree (a 100 MB file of 400,000
    objects took 1 GB as a tree). A usual one-image file is parsed whole, which is faster.
    """
    try:
        if path.stat().st_size > STREAM_ABOVE:
            return _stream_xml(path)
        root = SafeET.fromstring(path.read_bytes(), forbid_dtd=True)
        if root.tag != "annotation":
            return None, f"root element is <{root.tag}>, not <annotation>"
        parsed = _Xml()
        for child in root:
            parsed.add(child)
        return parsed, None
    except ET.ParseError as exc:
        line, column = exc.position
        message = re.sub(r": line \d+, column \d+$", "", str(exc))
        return None, f"{line}:{column}: {message}"
    except DefusedXmlException as exc:
        return None, f"refused: {exc} (DTDs and entities are not allowed)"
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"


def _stream_xml(path: Path) -> tuple[_Xml | None, str | None]:
    parsed = _Xml()
    root: ET.Element | None = None
    depth = 0
    with path.open("rb") as handle:
        for event, element in SafeET.iterparse(handle, ("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                if root is None:
                    if element.tag != "annotation":
                        return None, f"root element is <{element.tag}>, not <annotation>"
                    root = element
                continue
            depth -= 1
            if depth == 1 and root is not None:
                parsed.add(element)
                root.clear()
    return parsed, None


def _size(element: ET.Element) -> tuple[int, int] | None:
    """`<size>` when it holds positive numbers; otherwise the image header decides."""
    try:
        width = int(float(element.findtext("width") or 0))
        height = int(float(element.findtext("height") or 0))
    except (ValueError, OverflowError):
        return None
    return (width, height) if width > 0 and height > 0 else None


def _object(number: int, element: ET.Element) -> _Object:
    """One `<object>` (its `<part>` children are parts of it, not objects)."""
    name = (element.findtext("name") or "").strip()
    difficult = (element.findtext("difficult") or "0").strip().lower() in ("1", "true", "1.0")
    obj = _Object(number, name, None, difficult)
    if not name:
        obj.problem = ("no_name", "<object> has no <name>")
        return obj
    bndbox = element.find("bndbox")
    if bndbox is None:
        obj.problem = ("no_bbox", "<object> has no <bndbox>")
        return obj
    values = {child.tag: (child.text or "").strip() for child in bndbox}
    try:
        xmin, ymin, xmax, ymax = (float(values[tag]) for tag in CORNERS)
    except KeyError as exc:
        obj.problem = ("invalid_box", f"<bndbox> has no <{exc.args[0]}>")
        return obj
    except ValueError as exc:
        obj.problem = ("invalid_box", f"<bndbox>: {exc}")
        return obj
    obj.box = (xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1)
    return obj

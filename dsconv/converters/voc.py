"""Pascal VOC reader: one XML per image.

Layouts: a devkit folder (`Annotations/`, `JPEGImages/`, and `ImageSets/Main/{train,val,
test}.txt` when present; without them everything is `train`), found directly or one or two
levels down (`VOCdevkit/VOC2012`), also spelt `annotations/` + `images/` (the usual Kaggle
layout); or XML files next to their images, in split folders (`train/`, `valid/`, `test/`)
or in one folder. A folder with no VOC XML at all is `NoAnnotationsError`.

Every XML is parsed once, up front, into a compact per-image index (the vocabulary needs
every class name); image bytes are read one image at a time as samples are yielded, and
sizes come from image headers. A file with a DOCTYPE is refused before anything in it
expands (`dsconv.converters.safe_xml`), so entity bombs and external entities never run. A broken or
refused XML file does not stop the dataset: its image is dropped with reason
`bad_annotation` and the parser's line:col in the report's detail. An image or XML file
that resolves outside the dataset folder (a symlink, an ImageSets stem with `..`) is
dropped as `unsafe_path` unless `allow_outside_root`; `<filename>` is only ever looked up
by its base name. Files are opened through `dsconv.storage.files`: an XML that is not a regular
file or is over `MAX_LABEL_BYTES` drops its image (`bad_annotation`, saying why); a split
list that is not, or is over `MAX_LIST_BYTES`, or leads out of the folder, is an error.

VOC has an XML for every image, one without objects included: an image with none is dropped
as `missing_annotation`, never counted as an image with no objects.

VOC corners are 1-based and inclusive: x = xmin − 1, w = xmax − xmin + 1 (and the same for
y), the exact inverse of what `dsconv.samples.coins` writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from dsconv.converters.base import (
    IMAGE_SUFFIXES,
    SPLIT_ALIASES,
    Candidate,
    DetectionSample,
    DifficultOptions,
    ImageProblem,
    IndexedReader,
    Ledger,
    Vocabulary,
    canonical_split,
    collector_paused,
    unique_ids,
)
from dsconv.converters.paths import check_inside, resolve_inside
from dsconv.converters.voc_xml import VocObject, read_xml
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.storage.files import (
    MAX_LIST_BYTES,
    UnsafeFileError,
    read_text,
)

if TYPE_CHECKING:
    from dsconv.converters.probe import Detection


ANNOTATION_DIRS = ("Annotations", "annotations")
IMAGE_DIRS = ("JPEGImages", "images", "Images")
SET_FILES = ("train", "val", "valid", "validation", "test")


@dataclass(slots=True)
class _Image:
    image_id: str
    file_name: str  # relative to the image folder; what rows and the report name
    image: str | None  # relative to the dataset folder given; None: no such image file
    xml: str | None  # relative to the dataset root, for the report
    size: tuple[int, int] | None = None
    objects: list[VocObject] = field(default_factory=list)
    error: str | None = None  # the XML could not be read: the image is dropped
    refused: str | None = None  # the XML leaves the dataset folder: dropped as unsafe_path


@dataclass(frozen=True)
class _Source:
    """Where one split's annotations and images are, and which stems it has (None: all)."""

    annotations: Path
    images: Path
    stems: list[str] | None = None


class _ImageFolder:
    """An image folder's file names, by name and by stem, listed once (names rather than
    `Path`s: making and comparing a `Path` per file was a tenth of the indexing time)."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.prefix = prefix  # the folder relative to the dataset folder given, `/`-terminated
        self.files = _image_names(folder)
        self.names = set(self.files)
        self.by_lower = {name.lower(): name for name in self.files}
        self.by_stem: dict[str, str] = {}
        for name in self.files:
            self.by_stem.setdefault(os.path.splitext(name)[0], name)

    def find(self, stem: str, filename: str | None) -> str | None:
        """The XML's `<filename>` when it exists here, else an image with the XML's stem."""
        if filename:
            name = _base_name(filename.replace("\\", "/"))
            found = name if name in self.names else (
                self.by_lower.get(name.lower()) or self.by_stem.get(name))
            if found:
                return found
        return self.by_stem.get(stem)

    def path(self, name: str | None) -> str | None:
        """A file of this folder by its name relative to the dataset folder given."""
        return None if name is None else self.prefix + name


def _image_names(folder: Path) -> list[str]:
    """Files named like images directly in `folder`, sorted; none when there is no such
    folder. Anything but a folder counts, so that a FIFO named `x.jpg` is reported as what it
    is when read, not as a missing image."""
    try:
        with os.scandir(folder) as entries:
            return sorted(entry.name for entry in entries
                          if os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES
                          and not entry.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


class VocOptions(DifficultOptions):
    """Pascal VOC's options: `keep_difficult`."""


class VocReader(IndexedReader[VocOptions]):
    name: ClassVar[str] = "voc"
    description: ClassVar[str] = (
        "Pascal VOC XML: Annotations/, JPEGImages/, ImageSets/Main/*.txt, "
        "or XML files next to their images"
    )

    def _index_source(self) -> None:
        self.root, sources = _locate(self.src, self.ledger, self.options.allow_outside_root)
        self._root_prefix = _prefix(self.root, self.src)
        with collector_paused():
            self._index = {split: self._build(split, source)
                           for split, source in sources.items()}
        if not any(image.xml for images in self._index.values() for image in images):
            looked_for = ", ".join(sorted({_prefix(source.annotations, self.src) + "*.xml"
                                           for source in sources.values()}))
            raise NoAnnotationsError(self.src, "VOC", looked_for)
        self._vocabulary = self._build_vocabulary()
        self._classes = frozenset(self._vocabulary.classes)

    def _build(self, split: str, source: _Source) -> list[_Image]:
        """Parse the split's XML files; pair each with its image; add images without XML."""
        self.ledger.split(split)
        folder = _ImageFolder(source.images, _prefix(source.images, self.src))
        annotations = _prefix(source.annotations, self.root)
        units: list[tuple[str, str | None]]
        if source.stems is None:
            units = [(os.path.splitext(name)[0], annotations + name)
                     for name in _xml_names(source.annotations)]
        else:
            units = [(stem, self._listed_xml(annotations + stem + ".xml"))
                     for stem in source.stems]
        images = [self._parse(stem, xml, folder) for stem, xml in units]
        if source.stems is None:
            claimed = {image.image for image in images}
            images += [_Image(os.path.splitext(name)[0], name, folder.path(name), None)
                       for name in folder.files if folder.path(name) not in claimed]
        # An ImageSets line may name a nested XML (`sub/b`); a row id cannot hold the '/',
        # so the id is the file stem, as for images without a list.
        ids = unique_ids([_base_name(image.image_id) or image.image_id
                          for image in images], self.ledger.warn, split)
        for image, image_id in zip(images, ids, strict=True):
            image.image_id = image_id
        return images

    def _listed_xml(self, name: str) -> str | None:
        """An ImageSets entry's XML (relative to the root) when that file exists."""
        path = os.path.join(self.src, self._root_prefix + name)
        return name if os.path.lexists(path) else None  # one that is no file says so when read

    def _parse(self, stem: str, xml: str | None, folder: _ImageFolder) -> _Image:
        """One image: its XML (named relative to the root) read and paired with its file. An
        XML that cannot be used still claims the image of its stem, dropped with it."""
        found = folder.find(stem, None)
        image = _Image(stem, found or stem, folder.path(found), xml)
        if xml is None:
            return image
        try:
            path = resolve_inside(self.src, self._root_prefix + xml,
                                  self.options.allow_outside_root)
        except ValueError as exc:
            image.refused = str(exc)
            return image
        parsed, image.error = read_xml(path)
        if parsed is not None:
            found = folder.find(stem, parsed.filename)
            image.file_name = found or Path(parsed.filename).name or stem
            image.image = folder.path(found)
            image.size, image.objects = parsed.size, parsed.objects
        return image

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
        if image.xml is None:
            return self._drop_image(split, image, image.file_name, "missing_annotation",
                                    f"no {image.image_id}.xml (VOC has one for every image, "
                                    "even one without objects)")
        if image.image is None:
            return self._drop_image(split, image, report_name, "missing_image",
                                    f"no image {image.file_name!r} found")
        loaded = self._load_image(self.src, image.image)
        if isinstance(loaded, ImageProblem):
            file = report_name if loaded.reason == "missing_image" else image.file_name
            return self._drop_image(split, image, file, loaded.reason, loaded.detail)
        data, width, height = loaded
        if image.size not in (None, (width, height)):
            self.ledger.warn(f"{report_name}: <size> says {image.size[0]}x{image.size[1]} but "
                             f"the image is {width}x{height}; using the image's size")
        objects = self._checked_objects(split, report_name, width, height,
                                        self._candidates(image), _described)
        return DetectionSample(split, image.image_id, image.file_name, data, width, height,
                               objects)

    def _candidates(self, image: _Image) -> Iterator[Candidate]:
        """The image's objects, the unusable ones with their reason."""
        classes, drop_difficult = self._classes, not self.options.keep_difficult
        for obj in image.objects:
            if obj.problem is not None:
                yield obj.name, None, *obj.problem, obj
            elif obj.name not in classes:
                yield obj.name, None, "unknown_class", None, obj
            elif obj.difficult and drop_difficult:
                yield obj.name, None, "difficult", None, obj
            else:
                yield obj.name, obj.box, None, None, obj

    def _drop_image(
        self, split: str, image: _Image, file: str, reason: str, detail: str
    ) -> None:
        source = image.xml or image.file_name
        self._drop_with_objects(split, file, reason, detail,
                                ((source, _described(obj)) for obj in image.objects))

    @staticmethod
    def detect(src: Path) -> Detection | None:
        """`--from auto`: how sure we are that `src` is VOC, and why."""
        from dsconv.converters.sniffers import detect_voc

        return detect_voc(src)


def _described(obj: VocObject) -> str:
    """An object as the report names it."""
    return f"object {obj.number} ({obj.name})"


def _locate(src: Path, ledger: Ledger, allow_outside: bool) -> tuple[Path, dict[str, _Source]]:
    if not src.exists():
        raise InputError(src, "no such file or folder")
    if not src.is_dir():
        raise InputError(src, "expected a VOC dataset folder")
    if _annotation_dir(src):
        return src, _devkit(src, ledger, allow_outside)
    nested = sorted({p.parent for name in ANNOTATION_DIRS
                     for p in (*src.glob(f"*/{name}"), *src.glob(f"*/*/{name}")) if p.is_dir()})
    if len(nested) > 1:
        raise InputError(src, "several VOC datasets inside ("
                              f"{', '.join(p.relative_to(src).as_posix() for p in nested)}); "
                              "pass one of them")
    if nested:
        return nested[0], _devkit(nested[0], ledger, allow_outside)
    return src, _flat(src)


def _annotation_dir(root: Path) -> Path | None:
    """`Annotations/`, or `annotations/` as Kaggle's VOC sets spell it."""
    return next((root / d for d in ANNOTATION_DIRS if (root / d).is_dir()), None)


def _devkit(root: Path, ledger: Ledger, allow_outside: bool) -> dict[str, _Source]:
    annotations = _annotation_dir(root)
    assert annotations is not None
    images = next((root / d for d in IMAGE_DIRS if (root / d).is_dir()), None)
    if images is None:
        raise InputError(root, f"no image folder next to {annotations.name}/ (looked for "
                               f"{', '.join(IMAGE_DIRS)})")
    lists = _image_sets(root, root / "ImageSets" / "Main", allow_outside)
    if not lists:
        return {"train": _Source(annotations, images)}
    listed = {stem for stems in lists.values() for stem in stems}
    unlisted = sum(1 for name in os.listdir(annotations)
                   if name.endswith(".xml") and name[:-4] not in listed)
    if unlisted:
        ledger.warn(f"{annotations}: {unlisted} XML files are in no ImageSets/Main list "
                    "and were not converted")
    return {split: _Source(annotations, images, stems) for split, stems in lists.items()}


def _image_sets(root: Path, folder: Path, allow_outside: bool) -> dict[str, list[str]]:
    """Split lists: one stem a line (a second column is ignored); `#` comments, blanks skipped.
    A list that is there but cannot be read is an error, never a split left out."""
    found: dict[str, list[str]] = {}
    names = SET_FILES if any(os.path.lexists(folder / f"{n}.txt") for n in SET_FILES) \
        else ("trainval",)
    for name in names:
        file = folder / f"{name}.txt"
        if not os.path.lexists(file):
            continue
        stems = [line.split()[0] for line in _read_list(root, file, allow_outside).splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
        split = "train" if name == "trainval" else canonical_split(name)
        found.setdefault(split, []).extend(dict.fromkeys(stems))
    return found


def _read_list(root: Path, file: Path, allow_outside: bool) -> str:
    try:
        return read_text(check_inside(root, file, allow_outside), MAX_LIST_BYTES,
                         errors="replace")
    except UnsafeFileError as exc:  # its message starts with the path, which InputError adds
        raise InputError(file, str(exc).removeprefix(f"{file} ")) from None
    except ValueError:
        raise InputError(file, f"resolves outside {root} (use --allow-outside-root)") from None
    except OSError as exc:
        raise InputError(file, f"cannot read: {exc.strerror or exc}") from None


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
    raise NoAnnotationsError(src, "VOC", "Annotations/*.xml, annotations/*.xml, "
                                         "split folders and *.xml beside images")


def _has_voc_files(folder: Path) -> bool:
    return any(p.suffix.lower() == ".xml" for p in folder.iterdir())


def _xml_names(folder: Path) -> list[str]:
    """What is named `.xml` (any case) directly in `folder` and is not a folder, sorted: a FIFO
    or device among them is reported when read, not taken for a missing file."""
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries
                      if os.path.splitext(entry.name)[1].lower() == ".xml"
                      and not entry.is_dir())


def _base_name(path: str) -> str:
    """The last component of a `/`-separated path, as `PurePosixPath(path).name` (one `Path`
    per XML file is a tenth of the time an XML takes to parse)."""
    return next((part for part in reversed(path.split("/")) if part not in ("", ".")), "")


def _prefix(folder: Path, base: Path) -> str:
    """`folder` relative to `base` as a prefix for the names of its files: `a/b/`, or ''."""
    relative = Path(os.path.relpath(folder, base)).as_posix()
    return "" if relative == "." else relative + "/"

"""Canonical samples every reader yields, and the ledger readers record drops in.

Readers turn a source format into `DetectionSample`s (or `DocumentSample`s), one image at
a time. They never decode pixels: the encoded bytes travel to the output untouched.
"""

from __future__ import annotations

import gc
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar, get_args

from dsconv.converters.boxes import OUTSIDE_REASONS, Box, BoxPolicy, check_box
from dsconv.converters.paths import resolve_inside
from dsconv.errors import InputError
from dsconv.schemas.report import Drop, SplitReport
from dsconv.schemas.samples import (
    DetectionObject,
    DetectionSample,
    DocumentSample,
    Vocabulary,
)
from dsconv.storage.files import MAX_IMAGE_BYTES
from dsconv.storage.images import image_problem, read_image
from dsconv.storage.layout import split_sort_key

Key = tuple[int, int]  # (split position, item position): where in the source a record was made
BEFORE_ITEMS: Key = (-1, 0)  # while indexing the source and checking options
AFTER_ITEMS: Key = (1 << 62, 0)  # findings over the whole output (leakage)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
SPLIT_ALIASES = {"train": "train", "valid": "validation", "val": "validation",
                 "validation": "validation", "test": "test"}


def canonical_split(name: str) -> str:
    """Map a source's split name to train/validation/test (others are kept as they are)."""
    return SPLIT_ALIASES.get(name.lower(), name.lower())


class Ledger:
    """Counts what a conversion reads, keeps and drops, per split; the source of the report.

    With `box_policy="error"` a box outside its image stops the conversion with an
    `InputError` naming the file and annotation, instead of being dropped.
    """

    def __init__(self, box_policy: BoxPolicy = "clip") -> None:
        self.box_policy = box_policy
        self._splits: dict[str, SplitReport] = defaultdict(SplitReport)
        self._per_class: dict[str, Counter[str]] = defaultdict(Counter)
        self._seen: Counter[str] = Counter()  # plain counters: bumped once per annotation
        self._clipped: Counter[str] = Counter()
        self.drops: list[Drop] = []
        self.warnings: list[str] = []
        # Where in the source each drop and warning was found, so that drops recorded late (by
        # a worker process) and the parts of a sharded run can be put back in reading order.
        # The pipeline tells the ledger (`at`) which item it reads; nothing else sets it.
        self._position: Key = BEFORE_ITEMS
        self.drop_keys: list[Key] = []
        self.warning_keys: list[Key] = []

    def split(self, split: str) -> SplitReport:
        return self._splits[split]

    def seen_objects(self, split: str, n: int = 1) -> None:
        self._seen[split] += n

    def drop_object(
        self, split: str, file: str, reason: str, annotation: str | None = None,
        detail: str | None = None,
    ) -> None:
        if self.box_policy == "error" and reason in OUTSIDE_REASONS:
            raise InputError(file, f"{reason.replace('_', ' ')} (--box-policy error)",
                             f"annotation {annotation}" if annotation else None)
        report = self._splits[split]
        report.objects_dropped[reason] = report.objects_dropped.get(reason, 0) + 1
        self.record_drop(Drop(split=split, file=file, reason=reason,
                              annotation=annotation, detail=detail))

    def drop_image(self, split: str, file: str, reason: str, detail: str | None = None) -> None:
        report = self._splits[split]
        report.images_dropped[reason] = report.images_dropped.get(reason, 0) + 1
        self.record_drop(Drop(split=split, file=file, reason=reason, detail=detail))

    def drop_sample(self, sample: DetectionSample | DocumentSample, reason: str, detail: str,
                    key: Key) -> None:
        """A sample the reader yielded that cannot be used after all (an image that fails to
        decode when resized): the image and its objects are dropped where it was read."""
        name = sample.file_name or sample.image_id
        with self.found_at(key):
            self.drop_image(sample.split, name, reason, detail)
            for obj in getattr(sample, "objects", ()):
                self.drop_object(sample.split, name, reason, detail=f"class {obj.category!r}")

    def at(self, key: Key) -> None:
        """What is recorded from now on was found at `key` (split position, item position)."""
        self._position = key

    @contextmanager
    def found_at(self, key: Key) -> Iterator[None]:
        """Record what happens inside at `key`, then go back to where reading is."""
        position, self._position = self._position, key
        try:
            yield
        finally:
            self._position = position

    def record_drop(self, drop: Drop) -> None:
        self.drops.append(drop)
        self.drop_keys.append(self._position)

    def clipped(self, split: str) -> None:
        self._clipped[split] += 1

    def kept(self, sample: DetectionSample | DocumentSample, rows: int) -> None:
        report = self._splits[sample.split]
        report.images += 1
        report.rows += rows
        if isinstance(sample, DetectionSample):
            report.objects_kept += len(sample.objects)
            self._per_class[sample.split].update(o.category for o in sample.objects)

    def warn(self, message: str, key: Key | None = None) -> None:
        self.warnings.append(message)
        self.warning_keys.append(self._position if key is None else key)

    def in_reading_order(self) -> tuple[list[Drop], list[str]]:
        """Drops and warnings sorted (stably) by where they were found: what a one-process run
        that reads, resizes and writes each image in turn records."""
        return _by_key(self.drops, self.drop_keys), _by_key(self.warnings, self.warning_keys)

    def clear(self) -> None:
        """Forget everything recorded so far but the split names: the parts of a sharded run
        other than the first leave what indexing the source found to part 0, so that the
        parts' reports add up to one run's."""
        names = self._splits.keys() | self._seen.keys()
        self._splits = defaultdict(SplitReport, {name: SplitReport() for name in names})
        self._per_class.clear()
        self._seen.clear()
        self._clipped.clear()
        for records in (self.drops, self.warnings, self.drop_keys, self.warning_keys):
            records.clear()

    def objects_seen(self) -> dict[str, int]:
        """Objects read per split (`objects_total` of a report), whatever became of them."""
        return {name: self._seen[name] for name in sorted(self._seen, key=split_sort_key)}

    def split_reports(self, classes: list[str], *, settled: bool = False
                      ) -> dict[str, SplitReport]:
        """Per-split reports, per-class counts in vocabulary order, splits in canonical order.

        `settled` (a part of a sharded run): the objects counted are those kept or dropped
        here; objects read while indexing are settled by whichever part reads their image.
        """
        out: dict[str, SplitReport] = {}
        for name in sorted(self._splits.keys() | self._seen.keys(), key=split_sort_key):
            report = self._splits[name]
            report.objects_total = self._seen[name]
            if settled:
                report.objects_total = report.objects_kept + sum(report.objects_dropped.values())
            report.objects_clipped = self._clipped[name]
            counts = self._per_class[name]
            report.per_class = {c: counts[c] for c in classes if counts[c]}
            report.objects_dropped = dict(sorted(report.objects_dropped.items()))
            report.images_dropped = dict(sorted(report.images_dropped.items()))
            out[name] = SplitReport.model_validate(report.model_dump())
        return out


def _by_key(records: list[Any], keys: list[Key]) -> list[Any]:
    order = sorted(range(len(records)), key=keys.__getitem__)
    return [records[i] for i in order]


@contextmanager
def collector_paused() -> Iterator[None]:
    """For indexing: it creates many objects that all stay alive, and without a pause the
    cyclic collector rescans them again and again (a tenth of VOC's indexing time; more for
    a large COCO file)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class ReaderOptions:
    """Options every detection reader understands. A format with options of its own
    subclasses this and names the subclass in its reader's `options_class`, so that an
    option given for a format that lacks it is an error, never silently ignored."""

    classes: tuple[str, ...] | None = None  # vocabulary order (VOC), when the source has none
    noun: str | None = None  # the prompt's word for the classes ("currency")
    allow_outside_root: bool = False  # image paths may leave the dataset folder
    box_policy: BoxPolicy = "clip"  # boxes partly outside the image: clip, drop or error
    max_image_bytes: int = MAX_IMAGE_BYTES  # an image file larger than this is dropped


@dataclass(frozen=True)
class DifficultOptions(ReaderOptions):
    """Options of the formats that mark objects difficult (VOC, DOTA)."""

    keep_difficult: bool = field(default=False, metadata={
        "help": "Count difficult=1 objects (left out by default, as VOC's own scoring does)."})


OptionsT = TypeVar("OptionsT", bound=ReaderOptions)


class IndexedReader(ABC, Generic[OptionsT]):
    """A reader that indexes each split up front (annotations only, no pixels), then reads
    the images one at a time as samples are asked for.

    A subclass names its options class as the type argument (`IndexedReader[VocOptions]`),
    which becomes its `options_class`; it sets `self._index` (split → items) and
    `self._vocabulary` in `_index_source`, and turns one item into a sample in `_sample`
    (None when the image is dropped), with the per-image steps below.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    options_class: ClassVar[type[ReaderOptions]] = ReaderOptions
    options: OptionsT
    _index: dict[str, Sequence[Any]]
    _vocabulary: Vocabulary

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "options_class" in cls.__dict__:  # named in the class body: that one
            return
        for base in cls.__dict__.get("__orig_bases__", ()):
            for arg in get_args(base):
                if isinstance(arg, type) and issubclass(arg, ReaderOptions):
                    cls.options_class = arg

    def __init__(self, src: Path, ledger: Ledger, options: ReaderOptions | None = None) -> None:
        self.src = Path(src)
        self.ledger = ledger
        self.options = coerce_options(self.options_class, options)  # type: ignore[assignment]
        self._index_source()

    @abstractmethod
    def _index_source(self) -> None:
        """Find the splits and index their items (annotations only); set the vocabulary."""

    def vocabulary(self) -> Vocabulary:
        return self._vocabulary

    def splits(self) -> list[str]:
        return list(self._index)

    def count(self, split: str) -> int:
        return len(self._index[split])

    def samples(self, split: str) -> Iterator[DetectionSample]:
        for item in self.items(split):
            sample = self.read(split, item)
            if sample is not None:
                yield sample

    def items(self, split: str) -> Sequence[Any]:
        """The split's index entries in reading order: a part of a sharded conversion reads
        every n-th one, without touching the others' images."""
        return self._index[split]

    def read(self, split: str, item: Any) -> DetectionSample | None:
        """One index entry's sample, or None when it is dropped (the ledger says why)."""
        return self._sample(split, item)

    @abstractmethod
    def _sample(self, split: str, item: Any) -> DetectionSample | None: ...

    # The per-image steps every reader takes, in the order it takes them.

    def _load_image(self, root: Path | str, name: str) -> tuple[bytes, int, int] | ImageProblem:
        """The image `name` (relative to `root`) resolved inside the dataset folder and read:
        its bytes and upright size, or why it cannot be used."""
        path = self._resolve_image(root, name)
        return path if isinstance(path, ImageProblem) else self._read_image(path)

    def _resolve_image(self, root: Path | str, name: str) -> str | ImageProblem:
        """The path to read `name` (relative to `root`) at, checked to stay inside the dataset
        folder unless `allow_outside_root` (`unsafe_path` otherwise)."""
        try:
            return resolve_inside(root, name, self.options.allow_outside_root)
        except ValueError as exc:
            return ImageProblem("unsafe_path", str(exc))

    def _read_image(self, path: str) -> tuple[bytes, int, int] | ImageProblem:
        """A resolved image's bytes and upright size, read bounded (`max_image_bytes`), or why
        not: `missing_image`, `image_too_large` (over the byte or pixel bound) or
        `unreadable_image` (not a regular file, not a whole image)."""
        try:
            return read_image(path, self.options.max_image_bytes)
        except FileNotFoundError:
            return ImageProblem("missing_image", f"{path} does not exist")
        except (OSError, ValueError) as exc:
            return ImageProblem(image_problem(exc), str(exc))

    def _drop_with_objects(self, split: str, file: str, reason: str, detail: str | None,
                           objects: Iterable[tuple[str, str | None]]) -> None:
        """An image that cannot be used: dropped, and each of its objects (`(file the object
        is in, annotation)`) with it, for the same reason: no object goes unreported."""
        self.ledger.drop_image(split, file, reason, detail)
        for source, annotation in objects:
            self.ledger.drop_object(split, source, reason, annotation)

    def _checked_objects(self, split: str, file: str, width: int, height: int,
                         candidates: Iterable[Candidate], describe: Callable[[Any], str | None]
                         ) -> list[DetectionObject]:
        """The objects whose box holds in a `width` x `height` image under the box policy;
        every other candidate (one the reader already found unusable, or a box outside the
        image) is a reported drop in `file`, its annotation named by `describe(reference)`.
        One loop for all of an image's objects: a call per object was a tenth of the time."""
        policy, ledger = self.options.box_policy, self.ledger
        objects = []
        for name, box, reason, detail, reference in candidates:
            if reason is None and box is not None:
                kept, reason = check_box(box, width, height, policy)
                if kept is not None:
                    if reason == "clipped":
                        ledger.clipped(split)
                    objects.append(DetectionObject(name, kept))
                    continue
            ledger.drop_object(split, file, reason or "invalid_box", describe(reference), detail)
        return objects


Sample = DetectionSample | DocumentSample
# An object as a reader found it: class name, box (x, y, w, h pixels), why it is unusable and
# a detail (None, None when it is usable), and what the report names it by (`describe`).
Candidate = tuple[str, Box | None, str | None, str | None, Any]


class ImageProblem(NamedTuple):
    """Why an image cannot be used: the drop reason and its detail."""

    reason: str
    detail: str


class Reader(Protocol):
    """A source format. Registered by name; third parties add one via the
    `dsconv.converters` entry-point group. Detection readers yield `DetectionSample`s, the
    document reader `DocumentSample`s."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    def vocabulary(self) -> Vocabulary: ...

    def splits(self) -> list[str]: ...

    def count(self, split: str) -> int | None:
        """Images in a split, for progress bars; None when unknown without a full pass."""
        ...

    def samples(self, split: str) -> Iterator[Any]: ...


class AddressableReader(Reader, Protocol):
    """A reader that indexes its entries up front and reads one on request, so that a part
    of a sharded conversion can skip the other parts' images (`IndexedReader` is one)."""

    def items(self, split: str) -> Sequence[Any]: ...

    def read(self, split: str, item: Any) -> Any: ...


def unique_ids(stems: list[str], warn: Callable[[str], None], split: str) -> list[str]:
    """File stems as image ids; a repeated stem gets `-2`, `-3`… so no row overwrites another."""
    counts = Counter(stems)
    taken = set(stems)
    seen: Counter[str] = Counter()
    ids = []
    for stem in stems:
        seen[stem] += 1
        if seen[stem] == 1:
            ids.append(stem)
            continue
        k = seen[stem]
        while f"{stem}-{k}" in taken:
            k += 1
        taken.add(f"{stem}-{k}")
        ids.append(f"{stem}-{k}")
    repeated = sorted(s for s, n in counts.items() if n > 1)
    if repeated:
        warn(f"{split}: {len(repeated)} file stems are shared by several images "
             f"(e.g. {repeated[0]!r}); later ones get ids with a -2, -3… suffix")
    return ids


def relative_name(path: Path, root: Path) -> str:
    """A file's name relative to its root, with forward slashes, as rows record it."""
    return path.relative_to(root).as_posix()


def coerce_options(options_class: type[OptionsT], given: ReaderOptions | None) -> OptionsT:
    """The reader's own options: the common ones of a plain `ReaderOptions` carried over."""
    if given is None:
        return options_class()
    if isinstance(given, options_class):
        return given
    return options_class(**{f.name: getattr(given, f.name) for f in fields(given)
                            if f.name in {g.name for g in fields(options_class)}})

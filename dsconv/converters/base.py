"""Canonical samples every reader yields, and the ledger readers record drops in.

Readers turn a source format into `DetectionSample`s (or `DocumentSample`s), one image at
a time. They never decode pixels: the encoded bytes travel to the output untouched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from dsconv.converters.boxes import OUTSIDE_REASONS, BoxPolicy
from dsconv.errors import InputError
from dsconv.io.layout import split_sort_key
from dsconv.schemas.report import Drop, SplitReport

SPLIT_ALIASES = {"train": "train", "valid": "validation", "val": "validation",
                 "validation": "validation", "test": "test"}


def canonical_split(name: str) -> str:
    """Map a source's split name to train/validation/test (others are kept as they are)."""
    return SPLIT_ALIASES.get(name.lower(), name.lower())


@dataclass(frozen=True, slots=True)
class DetectionObject:
    category: str
    bbox: tuple[float, float, float, float]  # COCO [x, y, w, h] in pixels


@dataclass(slots=True)
class DetectionSample:
    split: str
    image_id: str
    file_name: str  # relative to the split or dataset root; becomes image.path
    image_bytes: bytes
    width: int
    height: int
    objects: list[DetectionObject] = field(default_factory=list)


@dataclass(slots=True)
class DocumentSample:
    split: str
    image_id: str
    question_id: str
    file_name: str | None
    image_bytes: bytes
    width: int
    height: int
    question: str
    answers: list[str]


@dataclass
class Vocabulary:
    """The dataset's classes in their answer order, and the noun the prompt uses for them."""

    classes: list[str]
    noun: str = "object"


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
        self.drops.append(Drop(split=split, file=file, reason=reason,
                               annotation=annotation, detail=detail))

    def drop_image(self, split: str, file: str, reason: str, detail: str | None = None) -> None:
        report = self._splits[split]
        report.images_dropped[reason] = report.images_dropped.get(reason, 0) + 1
        self.drops.append(Drop(split=split, file=file, reason=reason, detail=detail))

    def clipped(self, split: str) -> None:
        self._clipped[split] += 1

    def kept(self, sample: DetectionSample | DocumentSample, rows: int) -> None:
        report = self._splits[sample.split]
        report.images += 1
        report.rows += rows
        if isinstance(sample, DetectionSample):
            report.objects_kept += len(sample.objects)
            self._per_class[sample.split].update(o.category for o in sample.objects)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def split_reports(self, classes: list[str]) -> dict[str, SplitReport]:
        """Per-split reports, per-class counts in vocabulary order, splits in canonical order."""
        out: dict[str, SplitReport] = {}
        for name in sorted(self._splits.keys() | self._seen.keys(), key=split_sort_key):
            report = self._splits[name]
            report.objects_total = self._seen[name]
            report.objects_clipped = self._clipped[name]
            counts = self._per_class[name]
            report.per_class = {c: counts[c] for c in classes if counts[c]}
            report.objects_dropped = dict(sorted(report.objects_dropped.items()))
            report.images_dropped = dict(sorted(report.images_dropped.items()))
            out[name] = SplitReport.model_validate(report.model_dump())
        return out


class IndexedReader(ABC):
    """A reader that indexes each split up front (annotations only, no pixels), then reads
    the images one at a time as samples are asked for.

    Subclasses set `self._index` (split → items) and `self._vocabulary` in `__init__`, and
    turn one item into a sample in `_sample` (None when the image is dropped).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    _index: dict[str, list[Any]]
    _vocabulary: Vocabulary

    def __init__(self, src: Path, ledger: Ledger, options: ReaderOptions | None = None) -> None:
        self.src = Path(src)
        self.ledger = ledger
        self.options = options or ReaderOptions()

    def vocabulary(self) -> Vocabulary:
        return self._vocabulary

    def splits(self) -> list[str]:
        return list(self._index)

    def count(self, split: str) -> int:
        return len(self._index[split])

    def samples(self, split: str) -> Iterator[DetectionSample]:
        for item in self._index[split]:
            sample = self._sample(split, item)
            if sample is not None:
                yield sample

    @abstractmethod
    def _sample(self, split: str, item: Any) -> DetectionSample | None: ...


class Reader(Protocol):
    """A source format. Registered by name; third parties add one via the
    `dsconv.converters` entry-point group."""

    name: ClassVar[str]
    description: ClassVar[str]

    def vocabulary(self) -> Vocabulary: ...

    def splits(self) -> list[str]: ...

    def count(self, split: str) -> int | None:
        """Images in a split, for progress bars; None when unknown without a full pass."""
        ...

    def samples(self, split: str) -> Iterator[DetectionSample]: ...


def relative_name(path: Path, root: Path) -> str:
    """A file's name relative to its root, with forward slashes, as rows record it."""
    return path.relative_to(root).as_posix()


@dataclass(frozen=True)
class ReaderOptions:
    """Options every detection reader understands; a reader ignores those its format lacks."""

    images_dir: Path | None = None  # plain COCO: where file_name is resolved
    keep_crowd: bool = False  # COCO iscrowd=1 regions are not countable objects
    keep_difficult: bool = False  # VOC difficult=1 objects are excluded from counts
    classes: tuple[str, ...] | None = None  # vocabulary order (VOC), when the source has none
    noun: str | None = None  # the prompt's word for the classes ("currency")
    allow_outside_root: bool = False  # image paths may leave the dataset folder
    box_policy: BoxPolicy = "clip"  # boxes partly outside the image: clip, drop or error

"""Split assignment by image content (leakage, the same image in two splits, is found by
`dsconv.storage.leaks`).

A source's own splits are used when it has them. Otherwise (or with `--split-ratios`) each
image goes to the split its SHA-256 falls in: the same bytes always land in the same split,
whatever the seed, the file name or the order of reading, so re-running a conversion gives
the same split and a duplicated image can never straddle train and test.

Image ids are only unique within a source split (a Roboflow export numbers each split from 0),
so when a source with several splits is re-split, each image id gets its source split as a
prefix ("validation-0") to keep row ids unique.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dsconv.converters.base import Ledger, Reader
from dsconv.errors import DsconvError

SPLIT_NAMES = ("train", "validation", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
_TOLERANCE = 1e-6


def parse_ratios(text: str) -> tuple[float, ...]:
    """ "0.8,0.1,0.1" → (0.8, 0.1, 0.1): train, validation[, test]; they must sum to 1."""
    try:
        ratios = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise DsconvError(f"--split-ratios {text!r}: expected numbers like 0.8,0.1,0.1") from None
    if not 1 <= len(ratios) <= len(SPLIT_NAMES):
        raise DsconvError(f"--split-ratios {text!r}: give 1 to 3 ratios (train, validation, test)")
    if any(r < 0 for r in ratios) or ratios[0] <= 0:
        raise DsconvError(f"--split-ratios {text!r}: ratios must be ≥ 0 and train's > 0")
    if abs(sum(ratios) - 1) > _TOLERANCE:
        raise DsconvError(f"--split-ratios {text!r}: ratios sum to {sum(ratios):g}, not 1")
    return ratios


def source_has_splits(reader: Reader | Any) -> bool:
    """Whether the source defines its splits: a reader may say so with `has_splits`; else a
    lone `train` split is taken to be "no splits" (a plain annotation file, one folder)."""
    declared = getattr(reader, "has_splits", None)
    return bool(declared) if declared is not None else reader.splits() != ["train"]


def resolve_ratios(
    reader: Reader | Any, given: tuple[float, ...] | None
) -> tuple[float, ...] | None:
    """The ratios to re-split by (given ones always win), or None to keep the source's splits."""
    if given is not None:
        return given
    return None if source_has_splits(reader) else DEFAULT_RATIOS


def hash_split(digest: str, ratios: tuple[float, ...]) -> str:
    """The split a SHA-256 hex digest falls in: its first 64 bits as a fraction of 2^64,
    against the cumulative ratios."""
    fraction = int(digest[:16], 16) / 2**64
    edge = 0.0
    for name, ratio in zip(SPLIT_NAMES, ratios, strict=False):
        edge += ratio
        if fraction < edge:
            return name
    return next(n for n, r in reversed(list(zip(SPLIT_NAMES, ratios, strict=False))) if r > 0)


@dataclass
class SplitAssigner:
    """Moves each sample to its hash split (a no-op without ratios), keeping the ledger whole:
    a moved image's kept objects move with it, while what the reader dropped stays in the
    source split it was found in, so kept + dropped = total holds in every split."""

    ratios: tuple[float, ...] | None
    ledger: Ledger
    prefix_ids: bool = False  # the source has several splits whose image ids may collide

    def assign(self, sample: Any, digest: str) -> None:
        if self.ratios is None:
            return
        if self.prefix_ids:
            sample.image_id = f"{sample.split}-{sample.image_id}"
        target = hash_split(digest, self.ratios)
        if target != sample.split:
            n = len(getattr(sample, "objects", ()))
            self.ledger.seen_objects(sample.split, -n)
            self.ledger.seen_objects(target, n)
            sample.split = target

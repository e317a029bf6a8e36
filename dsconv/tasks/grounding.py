"""What the box tasks share: class names as answers spell them, a tolerant parse result that
counts what it skipped, and one scorer (parse rate, supervision's mAP, counts from boxes).

Every grounding task scores the same way, so a model trained on any of them is compared on the
same numbers, and a grounding model is also scored as a counter: the boxes it gives per class
are its counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dsconv.metrics.boxes import Box, match_rate, mean_average_precision
from dsconv.tasks.base import TaskScore, mean

_SPACES = re.compile(r"\s+")


@dataclass
class ParsedBoxes:
    """Boxes read from an answer, and how many items looked like boxes but could not be read
    (a truncated tail, a bin out of range, a JSON object without `bbox_2d`…)."""

    boxes: list[Box] = field(default_factory=list)
    skipped: int = 0


def unique_names(classes: Sequence[str], clean: Callable[[str], str]) -> dict[str, str]:
    """Each class → `clean(name)`, unique across the vocabulary: in vocabulary order, a later
    class whose name collides gets " 2", " 3"…, an empty one becomes "class N"."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for index, name in enumerate(classes):
        base = clean(name) or f"class {index}"
        candidate, n = base, 1
        while label_key(candidate) in used:
            n += 1
            candidate = f"{base} {n}"
        used.add(label_key(candidate))
        out[name] = candidate
    return out


def plain_name(name: str) -> str:
    """A name without control characters, with single spaces (for text answers)."""
    printable = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in name)
    return _SPACES.sub(" ", printable).strip()


def label_key(label: str) -> str:
    """How labels are compared: case and runs of whitespace do not matter."""
    return _SPACES.sub(" ", label.casefold()).strip()


def sort_key(box: Box) -> tuple[float, float, float, float, str]:
    """Top-to-bottom, then left-to-right, so a target does not depend on the source's order."""
    label, (x1, y1, x2, y2) = box
    return (y1, x1, y2, x2, label)


def score_boxes(
    rows: list[dict[str, Any]], preds: list[str | None],
    parse: Callable[[str | None, dict[str, Any]], ParsedBoxes | None],
    reference: Callable[[dict[str, Any]], list[Box]],
) -> TaskScore:
    """Parse rate (answers read whole), unparsed items per row, mAP@0.5 and mAP@0.5:0.95
    (supervision), AP per class, and counting from the boxes: `count_accuracy` (rows whose box
    count is right for every class) and `count_mae` (mean absolute count error per class,
    over the classes of the row and its answer). Labels match whatever their case. A row
    scores its one-to-one box match rate."""
    refs = [reference(row) for row in rows]
    parsed = [parse(pred, row) for row, pred in zip(rows, preds, strict=True)]
    # Spelled as the references spell them anywhere, so that a false "DIME" in a row without
    # dimes still counts against the dime class.
    canon = {label_key(label): label for ref in refs for label, _ in ref}
    got: list[list[Box] | None] = [
        None if found is None else
        [(canon.get(label_key(label), label), xyxy) for label, xyxy in found.boxes]
        for found in parsed]
    right, errors = [], []
    for boxes, ref in zip(got, refs, strict=True):
        expected = Counter(label for label, _ in ref)
        stated = Counter(label for label, _ in boxes or [])
        classes = expected.keys() | stated.keys()
        row_errors = [abs(expected[c] - stated[c]) for c in classes]
        right.append(boxes is not None and not any(row_errors))
        errors.append(mean(row_errors))
    found_map = mean_average_precision(got, refs)
    metrics = {
        "parse_rate": mean([p is not None and p.skipped == 0 for p in parsed]),
        "unparsed_items": mean([p.skipped if p is not None else 1 for p in parsed]),
        "map50": found_map.get("map50", 0.0),
        "map50_95": found_map.get("map50_95", 0.0),
        "count_accuracy": mean(right),
        "count_mae": mean(errors),
    }
    if not any(refs):
        # No reference box anywhere: mAP is undefined, so it is left out rather than reported 0.
        del metrics["map50"], metrics["map50_95"]
    return TaskScore(
        metrics,
        [match_rate(g, r) for g, r in zip(got, refs, strict=True)],
        per_class=found_map.get("per_class", {}),
    )

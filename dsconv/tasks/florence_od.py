"""florence-od: detection targets in Florence-2's `<OD>` form, and the parser back to boxes.

The answer is `name<loc_x1><loc_y1><loc_x2><loc_y2>` per object, quantised exactly as
Florence-2's own processor does (transformers' `Florence2PostProcessor.quantize`): 1000 bins
per axis, bin = floor(x / (W / 1000)) clamped to 0–999, decoded as the bin centre
(bin + 0.5) · W / 1000. A plain round() would emit `<loc_1000>` for a box touching the right
or bottom edge, a token the model does not have.

Choices:
- Objects are sorted top-to-bottom, then left-to-right (by their quantised top-left corner),
  so the target does not depend on the order the source happened to list them in.
- Every box carries its own name (Florence-2 also accepts `name<box><box>`; the parser reads
  both), which keeps each object readable on its own and matches `dsconv score`'s parser.
- Names are reduced to ASCII letters, digits and single spaces ("us-dime" → "us dime"):
  Florence-2's parser drops non-ASCII characters and its task tokens use `<`; names that would
  collide get a number ("us dime 2"). The mapping is the report's
  `task_extras["florence-od"]["names"]`.
- An image without objects is answered with the empty string.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from dsconv.metrics.boxes import Box, coco_to_boxes
from dsconv.schemas.samples import DetectionSample, Vocabulary
from dsconv.tasks.base import FLORENCE_LOCATIONS, QA, TaskContext, TaskScore, register
from dsconv.tasks.grounding import ParsedBoxes, score_boxes

NAME = "florence-od"
TOKEN = "<OD>"
BINS = 1000
_WRAPPERS = re.compile(r"</?s>|<pad>")
_ITEM = re.compile(r"([^<]+)((?:<loc_\d+>){4})")
_BOX = re.compile(r"<loc_(\d+)>")
_MORE_BOXES = re.compile(r"(?:<loc_\d+>){4}")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")

Bins = tuple[int, int, int, int]
ParsedBox = tuple[str, list[float]]


def quantize(value: float, size: int) -> int:
    """Florence-2's bin for a pixel coordinate: floor(value / (size / 1000)) in 0–999."""
    return min(max(math.floor(value / (size / BINS)), 0), BINS - 1)


def dequantize(q: int, size: int) -> float:
    """The centre of bin q in pixels, as Florence-2 decodes it."""
    return (q + 0.5) * (size / BINS)


def box_bins(bbox: Sequence[float], width: int, height: int) -> Bins:
    """COCO [x, y, w, h] in pixels → (x1, y1, x2, y2) bins."""
    x, y, w, h = bbox
    return (quantize(x, width), quantize(y, height),
            quantize(x + w, width), quantize(y + h, height))


def florence_name(name: str) -> str:
    """A class name in letters, digits and single spaces ("us-dime" → "us dime")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _NOT_ALNUM.sub(" ", ascii_name).strip()


def florence_names(classes: Sequence[str]) -> dict[str, str]:
    """Each class → its Florence-2 name, unique across the vocabulary (in vocabulary order, a
    later class whose name collides gets " 2", " 3"…; an empty one becomes "class N")."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for index, name in enumerate(classes):
        base = florence_name(name) or f"class {index}"
        candidate, n = base, 1
        while candidate in used:
            n += 1
            candidate = f"{base} {n}"
        used.add(candidate)
        out[name] = candidate
    return out


_florence_names = cache(florence_names)


def answer(boxes: Sequence[tuple[str, Bins]]) -> str:
    """`name<loc_…>×4` per box, top-to-bottom then left-to-right."""
    ordered = sorted(boxes, key=lambda item: (item[1][1], item[1][0], item[1][3], item[1][2],
                                              item[0]))
    return "".join(name + "".join(f"<loc_{q}>" for q in bins) for name, bins in ordered)


def parse_florence_od(text: str, width: int, height: int) -> list[ParsedBox]:
    """`name<loc_x1><loc_y1><loc_x2><loc_y2>…` → [(name, [x, y, w, h])] in pixels, bins decoded
    to their centres. `<s>`, `</s>` and `<pad>` are ignored, and a name may be followed by
    several boxes. Raises ValueError unless the whole text parses with bins in 0–999."""
    return [(name, _xywh(bins, width, height)) for name, bins in parse_bins(text)]


def parse_bins(text: str) -> list[tuple[str, Bins]]:
    """The answer as (name, bins) pairs, without decoding to pixels."""
    text = _WRAPPERS.sub("", text).strip()
    found: list[tuple[str, Bins]] = []
    pos = 0
    while pos < len(text):
        match = _ITEM.match(text, pos)
        if match is None:
            raise ValueError(f"not `name<loc_…>×4` at character {pos} of {text!r}")
        name = match.group(1).strip()
        bins = [int(q) for q in _BOX.findall(match.group(2))]
        pos = match.end()
        while (more := _MORE_BOXES.match(text, pos)) is not None:
            bins += [int(q) for q in _BOX.findall(more.group(0))]
            pos = more.end()
        if not name:
            raise ValueError(f"box without a name at character {match.start()} of {text!r}")
        if max(bins) >= BINS:
            raise ValueError(f"bin {max(bins)} is out of range 0–{BINS - 1} in {text!r}")
        # four bins a box: the patterns match `<loc_…>` four at a time
        found += [(name, (bins[i], bins[i + 1], bins[i + 2], bins[i + 3]))
                  for i in range(0, len(bins), 4)]
    return found


def _xywh(bins: Bins, width: int, height: int) -> list[float]:
    x1, y1, x2, y2 = (dequantize(q, s) for q, s in zip(bins, (width, height) * 2, strict=True))
    return [x1, y1, x2 - x1, y2 - y1]


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """The answer parses, and its boxes are the row's objects, each corner within one bin."""
    try:
        stated = parse_bins(row["answer"])
    except ValueError as exc:
        return str(exc)
    objects = row["objects"]
    names = florence_names(vocabulary.classes if vocabulary else
                           list(dict.fromkeys(objects["category"])))
    expected = [(names.get(c, florence_name(c)), box_bins(b, row["width"], row["height"]))
                for b, c in zip(objects["bbox"], objects["category"], strict=True)]
    if len(stated) != len(expected):
        return f"answer has {len(stated)} boxes, the row has {len(expected)} objects"
    unmatched = list(expected)
    for name, bins in stated:
        hit = next((i for i, (n, b) in enumerate(unmatched) if n == name and _near(bins, b)),
                   None)
        if hit is None:
            counts = Counter(n for n, _ in expected)
            return f"box {name}{list(bins)} matches none of the row's objects ({dict(counts)})"
        unmatched.pop(hit)
    return None


def _near(a: Bins, b: Bins) -> bool:
    return all(abs(p - q) <= 1 for p, q in zip(a, b, strict=True))


def parse_boxes(text: str | None, width: int, height: int) -> list[Box] | None:
    """The answer as (label, pixel xyxy) pairs for scoring; None if it is malformed.

    The whole string must parse; a truncated or chatty answer is unparseable, not partly read.
    """
    if text is None:
        return None
    try:
        found = parse_bins(text)
    except ValueError:
        return None
    sizes = (width, height) * 2
    return [(name, (dequantize(bins[0], sizes[0]), dequantize(bins[1], sizes[1]),
                    dequantize(bins[2], sizes[2]), dequantize(bins[3], sizes[3])))
            for name, bins in found]


def _parsed(text: str | None, row: dict[str, Any]) -> ParsedBoxes | None:
    boxes = parse_boxes(text, row["width"], row["height"])
    return None if boxes is None else ParsedBoxes(boxes)


def row_boxes(text: str | None, row: dict[str, Any]) -> list[Box] | None:
    """The descriptor's `parse_boxes`: the answer as boxes in the row's image."""
    return parse_boxes(text, row["width"], row["height"])


def reference_boxes(row: dict[str, Any]) -> list[Box]:
    """The row's objects as (name as answers spell it, pixel xyxy)."""
    return coco_to_boxes(row["objects"]["bbox"], row["objects"]["category"], florence_name)


def score(rows: list[dict[str, Any]], preds: list[str | None]) -> TaskScore:
    """Parse rate, mAP@0.5 and mAP@0.5:0.95 (supervision), AP per class, counts from the
    boxes (`dsconv.tasks.grounding.score_boxes`); a row scores its one-to-one box match rate.
    The whole answer must parse: a truncated or chatty one predicts nothing."""
    return score_boxes(rows, preds, _parsed, reference_boxes)


def report_extras(vocabulary: Vocabulary) -> dict[str, Any]:
    """Each class → the name its answers use (letters, digits and spaces)."""
    return {"names": florence_names(vocabulary.classes)}


@register(NAME, "Florence-2 detection target: '<OD>' → name<loc_x1><loc_y1><loc_x2><loc_y2>…",
          check, (TOKEN,), score=score, answer_syntax=FLORENCE_LOCATIONS,
          report_extras=report_extras, parse_boxes=row_boxes, reference_boxes=reference_boxes)
def florence_od(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    """Always asks the bare `<OD>` token: Florence-2's processor rejects anything beside it,
    so `--prompt` and paraphrases do not apply."""
    names = _florence_names(tuple(ctx.vocabulary.classes))
    boxes = [(names.get(o.category, florence_name(o.category)),
              box_bins(o.bbox, sample.width, sample.height)) for o in sample.objects]
    yield QA(TOKEN, answer(boxes))

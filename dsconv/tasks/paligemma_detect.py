"""paligemma-detect: PaliGemma's detection prefix and suffix.

`detect dime ; nickel ; penny` is answered `<loc0012><loc0034><loc0567><loc0890> dime ; …`:
four location tokens per box in PaliGemma's order (y_min, x_min, y_max, x_max), then the name,
boxes separated by " ; ".

Binning follows big_vision, which trained PaliGemma: its RefCOCO op
(`big_vision/pp/proj/paligemma/segmentation.py`, `refcoco_mask2str`) writes
`clip(round(bbox * 1023), 0, 1023)` for a box normalised to 0–1 in (y_min, x_min, y_max,
x_max) order, and its evaluator (`big_vision/evaluators/proj/paligemma/transfers/
segmentation.py`) decodes `tokens / 1023`. So 1024 tokens on a grid whose last token is the
far edge: round, 1023 steps. Python's `round`, like `tf.round`, takes halves to the even
neighbour.

Choices:
- The question lists every class of the vocabulary, in its order, whatever the image shows:
  at inference the classes present are unknown, so asking for the present ones only would
  teach the model from a hint it never gets (and inflate its scores).
- Boxes top-to-bottom, then left-to-right; an image without objects is answered "".
- Names keep their letters, case and punctuation; `;`, `<`, `>` and control characters (which
  the answer syntax uses) become spaces, and names that would collide get a number. The mapping
  is the report's `task_extras["paligemma-detect"]["names"]`.
- The parser reads every box it can: it ignores `<eos>`, `<pad>`, newlines and `<seg…>`
  tokens, accepts a missing final separator, and counts a run of fewer than four location
  tokens, a box without a name and stray text as unparsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from dsconv.metrics.boxes import Box
from dsconv.schemas.samples import DetectionSample, Vocabulary
from dsconv.tasks.base import PALIGEMMA_LOCATIONS, QA, TaskContext, TaskScore, register
from dsconv.tasks.grounding import ParsedBoxes, plain_name, score_boxes, unique_names

NAME = "paligemma-detect"
PREFIX = "detect"
STEPS = 1023  # tokens <loc0000>…<loc1023>
SEPARATOR = " ; "
_SYNTAX = re.compile(r"[;<>]")
_IGNORED = re.compile(r"<eos>|<bos>|<pad>|</?s>|<seg\d{3}>")
_BOX = re.compile(r"((?:<loc\d{4}>){4})")
_LOC = re.compile(r"<loc(\d{4})>")

Bins = tuple[int, int, int, int]  # y_min, x_min, y_max, x_max


def quantize(value: float, size: int) -> int:
    """big_vision's bin for a pixel coordinate: round(value / size · 1023) in 0–1023."""
    return min(max(round(value / size * STEPS), 0), STEPS)


def dequantize(q: int, size: int) -> float:
    """The pixel a bin stands for: q / 1023 · size."""
    return q / STEPS * size


def box_bins(bbox: Sequence[float], width: int, height: int) -> Bins:
    """COCO [x, y, w, h] in pixels → (y_min, x_min, y_max, x_max) bins."""
    x, y, w, h = bbox
    return (quantize(y, height), quantize(x, width),
            quantize(y + h, height), quantize(x + w, width))


def paligemma_name(name: str) -> str:
    """A class name without the characters the answer syntax uses."""
    return plain_name(_SYNTAX.sub(" ", name))


@cache
def paligemma_names(classes: tuple[str, ...]) -> dict[str, str]:
    return unique_names(classes, paligemma_name)


def question(classes: Sequence[str]) -> str:
    names = paligemma_names(tuple(classes))
    return f"{PREFIX} {SEPARATOR.join(names[c] for c in classes)}"


def answer(boxes: Sequence[tuple[str, Bins]]) -> str:
    ordered = sorted(boxes, key=lambda item: (item[1], item[0]))
    return SEPARATOR.join("".join(f"<loc{q:04d}>" for q in bins) + f" {name}"
                          for name, bins in ordered)


def parse_bins(text: str | None) -> tuple[list[tuple[str, Bins]], int] | None:
    """(name, bins) per box the answer holds, and how many pieces could not be read."""
    if text is None:
        return None
    text = _IGNORED.sub("", text)
    found: list[tuple[str, Bins]] = []
    skipped = 0
    pieces = _BOX.split(text)  # [before, box, after, box, after…]
    if pieces[0].replace(";", "").strip():
        skipped += 1  # text before the first box: a cut-off box or chatter
    for box, after in zip(pieces[1::2], pieces[2::2], strict=True):
        name, _, rest = after.partition(";")
        name = name.strip()
        if "<" in name:  # a run of fewer than four tokens after the box
            skipped += 1
            name = name.split("<", 1)[0].strip()
        if rest.replace(";", "").strip():
            skipped += 1  # text between two items that is not a box
        y1, x1, y2, x2 = (int(q) for q in _LOC.findall(box))
        if not name:
            skipped += 1
            continue
        found.append((name, (y1, x1, y2, x2)))
    return found, skipped


def parse_detect(text: str | None, width: int, height: int) -> ParsedBoxes | None:
    """The answer as (name, pixel xyxy) boxes, with the count of unread pieces."""
    read = parse_bins(text)
    if read is None:
        return None
    found, skipped = read
    boxes: list[Box] = [(name, (dequantize(x1, width), dequantize(y1, height),
                                dequantize(x2, width), dequantize(y2, height)))
                        for name, (y1, x1, y2, x2) in found]
    return ParsedBoxes(boxes, skipped)


def _parsed(text: str | None, row: dict[str, Any]) -> ParsedBoxes | None:
    return parse_detect(text, row["width"], row["height"])


def row_boxes(text: str | None, row: dict[str, Any]) -> list[Box] | None:
    """The descriptor's `parse_boxes`."""
    parsed = _parsed(text, row)
    return None if parsed is None else parsed.boxes


def reference_boxes(row: dict[str, Any]) -> list[Box]:
    """The row's objects as (name as answers spell it, pixel xyxy)."""
    return [(paligemma_name(c), (x, y, x + w, y + h))
            for (x, y, w, h), c in zip(row["objects"]["bbox"], row["objects"]["category"],
                                       strict=True)]


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """The question asks for the vocabulary; the answer reads whole and boxes exactly the
    row's objects, each coordinate within one bin."""
    categories = row["objects"]["category"]
    classes = vocabulary.classes if vocabulary else list(dict.fromkeys(categories))
    if vocabulary is not None and row["question"] != question(classes):
        return f"question {row['question']!r} is not {question(classes)!r}"
    read = parse_bins(row["answer"])
    assert read is not None
    stated, skipped = read
    if skipped:
        return f"answer {row['answer'][:80]!r} does not read as `<loc…>×4 name ; …`"
    names = paligemma_names(tuple(classes))
    expected = [(names.get(c, paligemma_name(c)), box_bins(b, row["width"], row["height"]))
                for b, c in zip(row["objects"]["bbox"], categories, strict=True)]
    if len(stated) != len(expected):
        return f"answer has {len(stated)} boxes, the row has {len(expected)} objects"
    unmatched = list(expected)
    for name, bins in stated:
        hit = next((i for i, (n, b) in enumerate(unmatched) if n == name and all(
            abs(p - q) <= 1 for p, q in zip(bins, b, strict=True))), None)
        if hit is None:
            return f"box {list(bins)} {name} matches none of the row's objects"
        unmatched.pop(hit)
    return None


def score(rows: list[dict[str, Any]], preds: list[str | None]) -> TaskScore:
    """`dsconv.tasks.grounding.score_boxes`: parse rate, mAP, AP per class, counts from the
    boxes; a row scores its box match rate."""
    return score_boxes(rows, preds, _parsed, reference_boxes)


def report_extras(vocabulary: Vocabulary) -> dict[str, Any]:
    """Each class → the name questions and answers use."""
    return {"names": paligemma_names(tuple(vocabulary.classes))}


@register(NAME, "PaliGemma detection: 'detect dime ; penny' → "
          "<locY1><locX1><locY2><locX2> dime ; …", check, (PREFIX,), score=score,
          answer_syntax=PALIGEMMA_LOCATIONS, report_extras=report_extras,
          parse_boxes=row_boxes, reference_boxes=reference_boxes)
def paligemma_detect(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    """Always PaliGemma's own prefix: `--prompt` and paraphrases do not apply."""
    classes = ctx.vocabulary.classes
    names = paligemma_names(tuple(classes))
    boxes = [(names.get(o.category, paligemma_name(o.category)),
              box_bins(o.bbox, sample.width, sample.height)) for o in sample.objects]
    yield QA(question(classes), answer(boxes))

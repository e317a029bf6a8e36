"""florence-grounding and florence-ovd: Florence-2's phrase grounding and open-vocabulary
detection with the class name as the phrase.

`<CAPTION_TO_PHRASE_GROUNDING>dime` (or `<OPEN_VOCABULARY_DETECTION>dime`) is answered
`dime<loc_x1><loc_y1><loc_x2><loc_y2>` per box of that class, quantised, named and ordered
exactly as `florence-od` (its functions are reused). Florence-2's processor turns the question
into "Locate the phrases in the caption: dime" (or "Locate dime in the image.").

Choices:
- One row per class present, in vocabulary order. Florence-2 boxes whatever phrase it is given,
  so a class absent from the image is asked too with chance `--absent-rate` (all of them with
  `--include-zero`) and answered with the empty string: the model learns to box nothing rather
  than the nearest look-alike.
- The phrase is the class's Florence-2 name (`us-dime` → `us dime`), the name its boxes carry.
- The scorer's parser is tolerant, unlike florence-od's: it reads every `name<loc_…>×4` it
  finds, lets a name be followed by several boxes (or none: the asked phrase), and counts as
  unparsed a truncated tail, text that is neither a name nor a box, and bins out of range.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from dsconv.metrics.boxes import Box
from dsconv.schemas.samples import DetectionSample, Vocabulary
from dsconv.tasks.base import (
    FLORENCE_LOCATIONS,
    QA,
    TaskContext,
    TaskScore,
    class_counts,
    register,
)
from dsconv.tasks.florence_od import (
    BINS,
    _florence_names,
    answer,
    box_bins,
    dequantize,
    florence_name,
    florence_names,
    parse_bins,
)
from dsconv.tasks.grounding import ParsedBoxes, score_boxes

GROUNDING = "florence-grounding"
OVD = "florence-ovd"
TOKENS = {GROUNDING: "<CAPTION_TO_PHRASE_GROUNDING>", OVD: "<OPEN_VOCABULARY_DETECTION>"}
_WRAPPERS = re.compile(r"</?s>|<pad>")
_FOUR = re.compile(r"((?:<loc_\d+>){4})")
_BIN = re.compile(r"<loc_(\d+)>")


def asked(sample: DetectionSample, ctx: TaskContext, task: str) -> list[str]:
    """Classes to ask about: those present, plus absent ones drawn at the absent rate."""
    rate = 1.0 if ctx.include_zero else ctx.absent_rate
    rng = ctx.rng(sample, f"{task}/absent")
    return [name for name, count in class_counts(sample, ctx.vocabulary.classes).items()
            if count or (rate > 0 and rng.random() < rate)]


def phrase_of(question: str) -> str:
    """The phrase after the task token."""
    for token in TOKENS.values():
        if question.startswith(token):
            return question[len(token):].strip()
    return question.strip()


def parse_grounding(text: str | None, width: int, height: int, phrase: str = ""
                    ) -> ParsedBoxes | None:
    """Every `name<loc_x1><loc_y1><loc_x2><loc_y2>` in the answer as (name, pixel xyxy); a box
    without a name of its own takes the previous name (or `phrase`). Counts what it skips: a
    run of fewer than four `<loc_*>`, stray text after the last box, bins beyond 999."""
    if text is None:
        return None
    text = _WRAPPERS.sub("", text)
    found = ParsedBoxes()
    name, pos = phrase, 0
    for match in _FOUR.finditer(text):
        gap = text[pos:match.start()]
        if "<" in gap:  # an incomplete box before this one
            found.skipped += 1
            gap = gap.rsplit(">", 1)[-1]
        if gap.strip():
            name = gap.strip()
        pos = match.end()
        bins = [int(q) for q in _BIN.findall(match.group(1))]
        if max(bins) >= BINS:
            found.skipped += 1
            continue
        x1, y1, x2, y2 = (dequantize(q, s) for q, s in zip(bins, (width, height) * 2,
                                                            strict=True))
        found.boxes.append((name, (x1, y1, x2, y2)))
    if text[pos:].strip():
        found.skipped += 1
    return found


def _parsed(text: str | None, row: dict[str, Any]) -> ParsedBoxes | None:
    return parse_grounding(text, row["width"], row["height"], phrase_of(row["question"]))


def row_boxes(text: str | None, row: dict[str, Any]) -> list[Box] | None:
    """The descriptor's `parse_boxes`."""
    parsed = _parsed(text, row)
    return None if parsed is None else parsed.boxes


def reference_boxes(row: dict[str, Any]) -> list[Box]:
    """The row's objects of the asked class, labelled with the phrase."""
    phrase = phrase_of(row["question"])
    return [(phrase, (x, y, x + w, y + h))
            for (x, y, w, h), c in zip(row["objects"]["bbox"], row["objects"]["category"],
                                       strict=True)
            if florence_name(c) == phrase or c == phrase]


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """The question is a task token and a class; the answer boxes exactly that class's
    objects, each corner within one bin, every box named by the phrase."""
    token = next((t for t in TOKENS.values() if row["question"].startswith(t)), None)
    if token is None:
        return f"question {row['question']!r} does not start with a Florence-2 grounding token"
    phrase = phrase_of(row["question"])
    categories = row["objects"]["category"]
    names = florence_names(vocabulary.classes if vocabulary else list(dict.fromkeys(categories)))
    if vocabulary is not None and phrase not in names.values():
        return f"phrase {phrase!r} names none of the dataset's classes"
    try:
        stated = parse_bins(row["answer"])
    except ValueError as exc:
        return str(exc)
    wrong = next((n for n, _ in stated if n != phrase), None)
    if wrong is not None:
        return f"answer names {wrong!r}, the question asks for {phrase!r}"
    expected = [box_bins(b, row["width"], row["height"])
                for b, c in zip(row["objects"]["bbox"], categories, strict=True)
                if names.get(c, florence_name(c)) == phrase]
    if len(stated) != len(expected):
        return f"answer has {len(stated)} boxes, the row has {len(expected)} {phrase}"
    unmatched = list(expected)
    for _, bins in stated:
        hit = next((i for i, b in enumerate(unmatched)
                    if all(abs(p - q) <= 1 for p, q in zip(bins, b, strict=True))), None)
        if hit is None:
            return f"box {phrase}{list(bins)} matches none of the row's {phrase}"
        unmatched.pop(hit)
    return None


def score(rows: list[dict[str, Any]], preds: list[str | None]) -> TaskScore:
    """`dsconv.tasks.grounding.score_boxes` with the tolerant parser: parse rate, mAP, AP per
    class, counts from the boxes; a row scores its box match rate."""
    return score_boxes(rows, preds, _parsed, reference_boxes)


def report_extras(vocabulary: Vocabulary) -> dict[str, Any]:
    """Each class → the phrase its questions and answers use."""
    return {"names": florence_names(vocabulary.classes)}


def _rows(sample: DetectionSample, ctx: TaskContext, task: str) -> Iterator[QA]:
    names = _florence_names(tuple(ctx.vocabulary.classes))
    for name in asked(sample, ctx, task):
        phrase = names.get(name, florence_name(name))
        boxes = [(phrase, box_bins(o.bbox, sample.width, sample.height))
                 for o in sample.objects if o.category == name]
        yield QA(f"{TOKENS[task]}{phrase}", answer(boxes))


_FIELDS: dict[str, Any] = {
    "score": score, "answer_syntax": FLORENCE_LOCATIONS, "report_extras": report_extras,
    "parse_boxes": row_boxes, "reference_boxes": reference_boxes,
}


@register(GROUNDING, "Florence-2 phrase grounding: '<CAPTION_TO_PHRASE_GROUNDING>dime' → "
          "dime<loc_x1><loc_y1><loc_x2><loc_y2>… per class", check,
          (TOKENS[GROUNDING],), **_FIELDS)
def florence_grounding(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    """Always the task token and the phrase: Florence-2's processor builds the prompt, so
    `--prompt` and paraphrases do not apply."""
    yield from _rows(sample, ctx, GROUNDING)


@register(OVD, "Florence-2 open-vocabulary detection: '<OPEN_VOCABULARY_DETECTION>dime' → "
          "dime<loc_x1><loc_y1><loc_x2><loc_y2>… per class", check, (TOKENS[OVD],), **_FIELDS)
def florence_ovd(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    """As florence-grounding, with Florence-2's open-vocabulary detection token."""
    yield from _rows(sample, ctx, OVD)

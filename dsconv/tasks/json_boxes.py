"""json-boxes: the JSON grounding answer of Qwen-style chat models.

The answer is a JSON list with one object per box, `{"bbox_2d": [x1, y1, x2, y2], "label":
"dime"}`, top-to-bottom then left-to-right, one object a line; `[]` for an empty image. Labels
are the class names as they are.

Where the coordinates live depends on the family (`dsconv.tasks.base.BoxConvention`):
- `relative-1000` (Qwen3-VL, Qwen2-VL): integers on a 0–1000 grid over the image,
  round(x / W · 1000), read back as q / 1000 · W. Stored answers use this one (the report's
  `task_extras["json-boxes"]["convention"]`), since it does not depend on the model.
- `resized-pixels` (Qwen2.5-VL): integer pixels of the image as the processor resized it
  (transformers' `smart_resize`: each side a multiple of 28, the area within the processor's
  min/max pixels), round(x · W' / W) for a W'-wide input. That size is known only to the
  model's processor, so these answers are rendered at training time from the row's `objects`,
  `width` and `height` (`render_answer`), and a model's answers are rewritten in the stored
  convention before scoring (`restore_answer`).

The parser tolerates what chat models emit: a ```json fence, text before or after the JSON, a
single object instead of a list, a list cut off mid-object; it counts every object it cannot
read (no `bbox_2d` of four numbers, no string label, truncated).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dsconv.errors import DsconvError
from dsconv.metrics.boxes import Box
from dsconv.schemas.samples import DetectionSample, Vocabulary
from dsconv.tasks.base import (
    JSON_BOXES,
    QA,
    BoxConvention,
    TaskContext,
    TaskScore,
    register,
)
from dsconv.tasks.grounding import ParsedBoxes, score_boxes, sort_key
from dsconv.tasks.paraphrase import choose, prompt_rng, render

NAME = "json-boxes"
RELATIVE_1000 = "relative-1000"
RESIZED_PIXELS = "resized-pixels"
CONVENTIONS = (RELATIVE_1000, RESIZED_PIXELS)
STORED = BoxConvention(RELATIVE_1000)
GRID = 1000
PROMPTS = (
    "Locate every {noun} in the image ({classes}) and output their bounding boxes and labels "
    "in JSON.",
    "Detect each {noun} ({classes}) in the image. Answer with a JSON list of "
    '{{"bbox_2d": [x1, y1, x2, y2], "label": ...}} objects.',
    "Find all {noun} of the types {classes} and give their bounding boxes in JSON format.",
    "Outline the position of each {noun} ({classes}) and output all the coordinates in JSON.",
    "Where is each {noun} ({classes}) in the image? Report bbox_2d and label for each in JSON.",
)
_DECODER = json.JSONDecoder()
_OPEN = re.compile(r"[\[{]")

# Qwen2.5-VL's processor defaults (transformers' Qwen2VLImageProcessor): the patch grid it
# resizes to, and the area bounds.
FACTOR = 28
MIN_PIXELS = 56 * 56
MAX_PIXELS = 28 * 28 * 1280


def smart_resize(width: int, height: int, factor: int = FACTOR, min_pixels: int = MIN_PIXELS,
                 max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """The (width, height) Qwen2-VL/Qwen2.5-VL's processor resizes an image to, as
    transformers' `qwen2_vl.image_processing_qwen2_vl.smart_resize` computes it: each side
    rounded to a multiple of `factor`, then scaled to keep the area within the bounds. Note
    the order: transformers takes and returns (height, width)."""
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


@dataclass(frozen=True)
class ResizeRule:
    """A Qwen2-VL-style processor's resize settings (`smart_resize`'s factor and pixel bounds):
    enough to know the `resized-pixels` convention of any image without the processor, and
    small and picklable, so DataLoader workers render training targets with it."""

    factor: int = FACTOR
    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS

    def convention(self, width: int, height: int) -> BoxConvention:
        """`resized-pixels` for a `width` × `height` image."""
        resized = smart_resize(width, height, self.factor, self.min_pixels, self.max_pixels)
        return BoxConvention(RESIZED_PIXELS, resized)


def _scales(width: int, height: int, convention: BoxConvention) -> tuple[float, float]:
    """Units of the convention per image pixel, along x and y."""
    if convention.name == RELATIVE_1000:
        return GRID / width, GRID / height
    if convention.name == RESIZED_PIXELS:
        if convention.resized is None:
            raise DsconvError("the resized-pixels box convention needs the resized image size")
        return convention.resized[0] / width, convention.resized[1] / height
    raise DsconvError(f"unknown box convention {convention.name!r} (choose from "
                      f"{', '.join(CONVENTIONS)})")


def _limits(width: int, height: int, convention: BoxConvention) -> tuple[int, int]:
    if convention.name == RESIZED_PIXELS and convention.resized is not None:
        return convention.resized
    return GRID, GRID


def to_units(xyxy: Sequence[float], width: int, height: int, convention: BoxConvention
             ) -> list[int]:
    """A pixel box (x1, y1, x2, y2) as the convention's integers, rounded and clamped."""
    sx, sy = _scales(width, height, convention)
    lx, ly = _limits(width, height, convention)
    return [min(max(round(v * s), 0), limit)
            for v, s, limit in zip(xyxy, (sx, sy, sx, sy), (lx, ly, lx, ly), strict=True)]


def to_pixels(units: Sequence[float], width: int, height: int, convention: BoxConvention
              ) -> tuple[float, float, float, float]:
    sx, sy = _scales(width, height, convention)
    x1, y1, x2, y2 = units
    return (x1 / sx, y1 / sy, x2 / sx, y2 / sy)


def render_json_boxes(objects: dict[str, Any], width: int, height: int,
                      convention: BoxConvention | str = STORED,
                      resized: tuple[int, int] | None = None) -> str:
    """A row's `objects` (COCO [x, y, w, h] pixels, category names) as the JSON answer in
    `convention` (a `BoxConvention` or its name, with `resized` for resized-pixels)."""
    if isinstance(convention, str):
        convention = BoxConvention(convention, resized)
    boxes: list[Box] = [(c, (x, y, x + w, y + h))
                        for (x, y, w, h), c in zip(objects["bbox"], objects["category"],
                                                   strict=True)]
    items = [{"bbox_2d": to_units(xyxy, width, height, convention), "label": label}
             for label, xyxy in sorted(boxes, key=sort_key)]
    return _dump(items)


def _dump(items: list[Any]) -> str:
    if not items:
        return "[]"
    lines = ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in items)
    return f"[\n{lines}\n]"


def _items(text: str) -> tuple[list[Any], int] | None:
    """The JSON values of the answer's objects, and how many objects would not decode; None
    when the text holds no JSON list or object at all."""
    start = _OPEN.search(text)
    if start is None:
        return None
    try:
        value, _ = _DECODER.raw_decode(text, start.start())
    except ValueError:
        value = None
    if isinstance(value, list):
        return value, 0
    if isinstance(value, dict):
        return [value], 0
    # Cut off or broken: read object by object.
    items: list[Any] = []
    failed = 0
    pos = start.start()
    while (brace := text.find("{", pos)) != -1:
        try:
            item, pos = _DECODER.raw_decode(text, brace)
        except ValueError:
            failed += 1
            pos = brace + 1
            continue
        items.append(item)
    return items, failed


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
        value)


def parse_json_boxes(text: str | None, width: int, height: int,
                     convention: BoxConvention = STORED, key: str = "bbox_2d"
                     ) -> ParsedBoxes | None:
    """The answer as (label, pixel xyxy) boxes; None when it holds no JSON at all."""
    if text is None:
        return None
    read = _items(text)
    if read is None:
        return None
    items, failed = read
    found = ParsedBoxes(skipped=failed)
    size = 4 if key == "bbox_2d" else 2
    for item in items:
        coords = item.get(key) if isinstance(item, dict) else None
        label = item.get("label") if isinstance(item, dict) else None
        if not (isinstance(coords, list) and len(coords) == size and all(map(_number, coords))
                and isinstance(label, str)):
            found.skipped += 1
            continue
        if size == 2:
            coords = [*coords, *coords]
        found.boxes.append((label, to_pixels(coords, width, height, convention)))
    return found


def restore_answer(text: str, row: dict[str, Any], convention: BoxConvention,
                   key: str = "bbox_2d") -> str:
    """A model's answer in `convention` with each readable box rewritten in the stored one, so
    `dsconv score` reads it against the rows; objects it cannot read are kept as they are
    (still counted as unparsed), and text without JSON is returned unchanged."""
    if convention == STORED:
        return text
    read = _items(text)
    if read is None:
        return text
    items, _ = read
    width, height = row["width"], row["height"]
    out = []
    for item in items:
        coords = item.get(key) if isinstance(item, dict) else None
        if isinstance(coords, list) and len(coords) in (2, 4) and all(map(_number, coords)):
            pixels = to_pixels([*coords, *coords][:4], width, height, convention)
            item = {**item, key: to_units(pixels, width, height, STORED)[:len(coords)]}
        out.append(item)
    return _dump(out)


def render_answer(row: dict[str, Any], convention: BoxConvention) -> str:
    """The descriptor's `render_answer`: the row's answer in `convention`."""
    return render_json_boxes(row["objects"], row["width"], row["height"], convention)


def _parsed(text: str | None, row: dict[str, Any]) -> ParsedBoxes | None:
    return parse_json_boxes(text, row["width"], row["height"])


def row_boxes(text: str | None, row: dict[str, Any]) -> list[Box] | None:
    """The descriptor's `parse_boxes` (answers in the stored convention)."""
    parsed = _parsed(text, row)
    return None if parsed is None else parsed.boxes


def reference_boxes(row: dict[str, Any]) -> list[Box]:
    return [(c, (x, y, x + w, y + h))
            for (x, y, w, h), c in zip(row["objects"]["bbox"], row["objects"]["category"],
                                       strict=True)]


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """The answer is a JSON list of `{"bbox_2d", "label"}` objects boxing exactly the row's
    objects on the 0–1000 grid, each coordinate within one step."""
    try:
        value = json.loads(row["answer"])
    except ValueError as exc:
        return f"answer is not JSON ({exc})"
    if not isinstance(value, list):
        return "answer is not a JSON list"
    parsed = parse_json_boxes(row["answer"], row["width"], row["height"])
    assert parsed is not None
    if parsed.skipped:
        return f"{parsed.skipped} item(s) are not {{\"bbox_2d\": [x1, y1, x2, y2], \"label\": …}}"
    width, height = row["width"], row["height"]
    stated = [(item["label"], item["bbox_2d"]) for item in value]
    expected = [(label, to_units(xyxy, width, height, STORED))
                for label, xyxy in reference_boxes(row)]
    if len(stated) != len(expected):
        return f"answer has {len(stated)} boxes, the row has {len(expected)} objects"
    unmatched = list(expected)
    for label, units in stated:
        hit = next((i for i, (n, u) in enumerate(unmatched) if n == label and all(
            abs(p - q) <= 1 for p, q in zip(units, u, strict=True))), None)
        if hit is None:
            return f"box {units} {label!r} matches none of the row's objects"
        unmatched.pop(hit)
    return None


def score(rows: list[dict[str, Any]], preds: list[str | None]) -> TaskScore:
    """`dsconv.tasks.grounding.score_boxes` on answers in the stored convention: parse rate,
    mAP, AP per class, counts from the boxes; a row scores its box match rate."""
    return score_boxes(rows, preds, _parsed, reference_boxes)


def report_extras(vocabulary: Vocabulary) -> dict[str, Any]:
    """The convention stored answers use."""
    return {"convention": STORED.name}


@register(NAME, 'Qwen-style JSON grounding: a list of {"bbox_2d": x1 y1 x2 y2, "label": "dime"} '
          "on a 0–1000 grid (other conventions rendered per family)", check, PROMPTS, score=score,
          answer_syntax=JSON_BOXES, report_extras=report_extras, parse_boxes=row_boxes,
          reference_boxes=reference_boxes, render_answer=render_answer,
          restore_answer=restore_answer)
def json_boxes(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    vocabulary = ctx.vocabulary
    template = choose(PROMPTS, ctx, prompt_rng(sample, ctx, NAME))
    question = render(template, noun=vocabulary.noun, classes=", ".join(vocabulary.classes))
    objects = {"bbox": [o.bbox for o in sample.objects],
               "category": [o.category for o in sample.objects]}
    yield QA(question, render_json_boxes(objects, sample.width, sample.height))

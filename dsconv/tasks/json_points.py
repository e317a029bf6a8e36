"""json-points: counting by pointing, one `{"point_2d": [x, y], "label": "dime"}` per object at
its box centre, in the JSON form and coordinate conventions of `json-boxes` (stored on the
0–1000 grid; other conventions rendered per family with `render_answer`/`restore_answer`).

A point says where each counted object is, so a count can be checked by eye. Scored as a
counter (count accuracy and MAE from the points per class) and by where the points fall: a
point hits when it lies inside a reference box of its class, each box taken once
(`point_precision`, `point_recall`; a row scores hits over the larger of points and boxes).
mAP does not apply to points.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from dsconv.metrics.boxes import Box
from dsconv.schemas.samples import DetectionSample, Vocabulary
from dsconv.tasks.base import (
    JSON_BOXES,
    QA,
    BoxConvention,
    TaskContext,
    TaskScore,
    mean,
    register,
)
from dsconv.tasks.grounding import ParsedBoxes, label_key, sort_key
from dsconv.tasks.json_boxes import (
    STORED,
    _dump,
    parse_json_boxes,
    reference_boxes,
    restore_answer,
    to_units,
)
from dsconv.tasks.paraphrase import choose, prompt_rng, render

NAME = "json-points"
KEY = "point_2d"
PROMPTS = (
    "Point to every {noun} in the image ({classes}) and output the points and labels in JSON.",
    "Locate each {noun} ({classes}) with one point. Answer with a JSON list of "
    '{{"point_2d": [x, y], "label": ...}} objects.',
    "Count the {noun} of the types {classes} by pointing at each one, in JSON format.",
)


def render_json_points(objects: dict[str, Any], width: int, height: int,
                       convention: BoxConvention | str = STORED,
                       resized: tuple[int, int] | None = None) -> str:
    """A row's `objects` as one point per box centre, in `convention`."""
    if isinstance(convention, str):
        convention = BoxConvention(convention, resized)
    boxes: list[Box] = [(c, (x, y, x + w, y + h))
                        for (x, y, w, h), c in zip(objects["bbox"], objects["category"],
                                                   strict=True)]
    items = []
    for label, (x1, y1, x2, y2) in sorted(boxes, key=sort_key):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        items.append({KEY: to_units((cx, cy, cx, cy), width, height, convention)[:2],
                      "label": label})
    return _dump(items)


def parse_points(text: str | None, row: dict[str, Any],
                 convention: BoxConvention = STORED) -> ParsedBoxes | None:
    """The answer's points as zero-size boxes (label, (x, y, x, y)) in pixels."""
    return parse_json_boxes(text, row["width"], row["height"], convention, key=KEY)


def row_boxes(text: str | None, row: dict[str, Any]) -> list[Box] | None:
    """The descriptor's `parse_boxes`: each point as a small square, so it can be drawn."""
    parsed = parse_points(text, row)
    if parsed is None:
        return None
    r = max(2.0, 0.01 * max(row["width"], row["height"]))
    return [(label, (x - r, y - r, x + r, y + r)) for label, (x, y, _, _) in parsed.boxes]


def hits(points: list[Box], boxes: list[Box]) -> int:
    """Points inside a box of their class, each box taken once (the box whose centre is
    nearest)."""
    free = list(boxes)
    found = 0
    for label, (x, y, _, _) in points:
        inside = [i for i, (name, (x1, y1, x2, y2)) in enumerate(free)
                  if label_key(name) == label_key(label) and x1 <= x <= x2 and y1 <= y <= y2]
        if inside:
            best = min(inside, key=lambda i: (x - (free[i][1][0] + free[i][1][2]) / 2) ** 2
                       + (y - (free[i][1][1] + free[i][1][3]) / 2) ** 2)
            free.pop(best)
            found += 1
    return found


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """A JSON list of `{"point_2d", "label"}` objects, one per object, each within one grid
    step of its box centre."""
    try:
        value = json.loads(row["answer"])
    except ValueError as exc:
        return f"answer is not JSON ({exc})"
    parsed = parse_points(row["answer"], row)
    if not isinstance(value, list) or parsed is None or parsed.skipped:
        return 'answer is not a JSON list of {"point_2d": [x, y], "label": …} objects'
    width, height = row["width"], row["height"]
    expected = [(label, to_units(((x1 + x2) / 2, (y1 + y2) / 2) * 2, width, height, STORED)[:2])
                for label, (x1, y1, x2, y2) in reference_boxes(row)]
    stated = [(item["label"], item[KEY]) for item in value]
    if len(stated) != len(expected):
        return f"answer has {len(stated)} points, the row has {len(expected)} objects"
    unmatched = list(expected)
    for label, units in stated:
        hit = next((i for i, (n, u) in enumerate(unmatched) if n == label and all(
            abs(p - q) <= 1 for p, q in zip(units, u, strict=True))), None)
        if hit is None:
            return f"point {units} {label!r} is at none of the row's objects"
        unmatched.pop(hit)
    return None


def score(rows: list[dict[str, Any]], preds: list[str | None]) -> TaskScore:
    """Parse rate, unparsed items per row, counts from the points (`count_accuracy`,
    `count_mae`), `point_precision` and `point_recall`; a row scores hits over the larger of
    points and boxes."""
    parsed_ok, skipped, right, errors, scores = [], [], [], [], []
    total_hits = total_points = total_boxes = 0
    for row, pred in zip(rows, preds, strict=True):
        ref = reference_boxes(row)
        parsed = parse_points(pred, row)
        points = parsed.boxes if parsed is not None else []
        parsed_ok.append(parsed is not None and parsed.skipped == 0)
        skipped.append(parsed.skipped if parsed is not None else 1)
        expected = Counter(label_key(label) for label, _ in ref)
        stated = Counter(label_key(label) for label, _ in points)
        row_errors = [abs(expected[c] - stated[c]) for c in expected.keys() | stated.keys()]
        right.append(parsed is not None and not any(row_errors))
        errors.append(mean(row_errors))
        found = hits(points, ref)
        total_hits += found
        total_points += len(points)
        total_boxes += len(ref)
        larger = max(len(points), len(ref))
        scores.append(0.0 if parsed is None else found / larger if larger else 1.0)
    return TaskScore(
        {
            "parse_rate": mean(parsed_ok),
            "unparsed_items": mean(skipped),
            "count_accuracy": mean(right),
            "count_mae": mean(errors),
            "point_precision": total_hits / total_points if total_points else 0.0,
            "point_recall": total_hits / total_boxes if total_boxes else 0.0,
        },
        scores,
    )


def render_answer(row: dict[str, Any], convention: BoxConvention) -> str:
    """The descriptor's `render_answer`: the row's points in `convention`."""
    return render_json_points(row["objects"], row["width"], row["height"], convention)


def restore_points(text: str, row: dict[str, Any], convention: BoxConvention) -> str:
    """A model's points in `convention` rewritten in the stored one."""
    return restore_answer(text, row, convention, key=KEY)


def report_extras(vocabulary: Vocabulary) -> dict[str, Any]:
    return {"convention": STORED.name}


@register(NAME, 'Count by pointing: a list of {"point_2d": x y, "label": "dime"} at box '
          "centres, 0–1000 grid (other conventions rendered per family)", check, PROMPTS,
          score=score, answer_syntax=JSON_BOXES, report_extras=report_extras,
          parse_boxes=row_boxes, reference_boxes=reference_boxes, render_answer=render_answer,
          restore_answer=restore_points)
def json_points(sample: DetectionSample, ctx: TaskContext) -> Iterator[QA]:
    vocabulary = ctx.vocabulary
    template = choose(PROMPTS, ctx, prompt_rng(sample, ctx, NAME))
    question = render(template, noun=vocabulary.noun, classes=", ".join(vocabulary.classes))
    objects = {"bbox": [o.bbox for o in sample.objects],
               "category": [o.category for o in sample.objects]}
    yield QA(question, render_json_points(objects, sample.width, sample.height))

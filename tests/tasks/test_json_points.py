from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsconv.eval.score import score_rows
from dsconv.schemas.samples import Vocabulary
from dsconv.tasks.base import BoxConvention, get_task
from dsconv.tasks.json_points import check, parse_points, render_json_points
from tests.tasks.detection_samples import context, make_sample, rows

OBJECTS = {"bbox": [[10, 20, 100, 50], [540, 5, 100, 475]], "category": ["penny", "dime"]}
SAMPLE = make_sample(("penny", (10, 20, 100, 50)), ("dime", (540, 5, 100, 475)))


def _points(text: str) -> list[tuple[str, list[int]]]:
    return [(item["label"], item["point_2d"]) for item in json.loads(text)]


def test_points_at_box_centres_by_hand_both_conventions() -> None:
    # Centres: penny (60, 45), dime (590, 242.5), in a 640 x 480 image.
    # Grid: 60/640·1000 = 93.75 → 94, 45/480·1000 = 93.75 → 94; 921.9 → 922, 505.2 → 505.
    assert _points(render_json_points(OBJECTS, 640, 480)) == [
        ("dime", [922, 505]), ("penny", [94, 94])]
    # Qwen2.5-VL, resized to 644 x 476: 60.4 → 60, 44.6 → 45; 593.7 → 594, 240.5 → 240.
    assert _points(render_json_points(OBJECTS, 640, 480, "resized-pixels", (644, 476))) == [
        ("dime", [594, 240]), ("penny", [60, 45])]


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 5000), st.floats(0, 1), st.floats(0, 1),
       st.floats(0, 1), st.floats(0, 1), st.text(alphabet="ab Z-_.,;:()é", min_size=1))
def test_round_trip_within_one_step(width: int, height: int, fx: float, fy: float, fw: float,
                                   fh: float, label: str) -> None:
    x, y = fx * width, fy * height
    w, h = fw * (width - x), fh * (height - y)
    sample = make_sample((label, (x, y, w, h)), width=width, height=height)
    (row,) = rows("json-points", sample, context([label]))
    assert check(row, Vocabulary([label])) is None
    found = parse_points(row["answer"], row)
    assert found is not None and found.skipped == 0
    ((name, (px, py, _, _)),) = found.boxes
    assert name == label
    assert abs(px - (x + w / 2)) <= width / 1000 and abs(py - (y + h / 2)) <= height / 1000


def test_render_and_restore_through_the_descriptor() -> None:
    task = get_task("json-points")
    (row,) = rows("json-points", SAMPLE, context(["penny", "dime"]))
    qwen25 = BoxConvention("resized-pixels", (644, 476))
    rendered = task.render_answer(row, qwen25)
    assert _points(rendered)[1] == ("penny", [60, 45])
    assert check({**row, "answer": task.restore_answer(rendered, row, qwen25)}, None) is None


def test_points_score_as_counts_and_hits() -> None:
    (row,) = rows("json-points", SAMPLE, context(["penny", "dime"]))
    inside = '[{"point_2d": [20, 60], "label": "Penny"}, {"point_2d": [900, 500], "label": "dime"}]'
    outside = '[{"point_2d": [500, 60], "label": "penny"}]'
    m = score_rows([row, {**row, "id": "b"}], {row["id"]: inside, "b": outside}).metrics
    assert m["count_accuracy"] == 0.5 and m["count_mae"] == pytest.approx(0.25)
    assert m["point_precision"] == pytest.approx(2 / 3) and m["point_recall"] == 0.5
    assert m["parse_rate"] == 1.0 and "map50" not in m


def test_check_names_what_is_wrong() -> None:
    (row,) = rows("json-points", SAMPLE, context(["penny", "dime"]))
    assert check(row, None) is None
    assert "at none" in check({**row, "answer": row["answer"].replace("922", "924")}, None)
    assert "1 points" in check({**row, "answer": row["answer"].split("},")[0] + "}]"}, None)
    assert "not a JSON list" in check({**row, "answer": '[{"label": "dime"}]'}, None)

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsconv.schemas.samples import Vocabulary
from dsconv.tasks.base import BoxConvention, get_task
from dsconv.tasks.json_boxes import (
    ResizeRule,
    check,
    parse_json_boxes,
    render_json_boxes,
    restore_answer,
    smart_resize,
)
from tests.tasks.detection_samples import context, make_sample, qa_pairs, rows

# One 640 x 480 image, a penny at x 10–110, y 20–70 and a dime at x 540–640, y 5–480.
OBJECTS = {"bbox": [[10, 20, 100, 50], [540, 5, 100, 475]], "category": ["penny", "dime"]}
SAMPLE = make_sample(("penny", (10, 20, 100, 50)), ("dime", (540, 5, 100, 475)))


def _boxes(text: str) -> list[tuple[str, list[int]]]:
    return [(item["label"], item["bbox_2d"]) for item in json.loads(text)]


def test_qwen3_grid_by_hand() -> None:
    """round(x / 640 · 1000), round(y / 480 · 1000); top-to-bottom."""
    answer = render_json_boxes(OBJECTS, 640, 480, "relative-1000")
    # dime: 540/640 = 843.75 → 844, 5/480 = 10.4 → 10, 1000, 1000
    # penny: 10/640 = 15.6 → 16, 20/480 = 41.7 → 42, 110/640 = 171.9 → 172, 70/480 = 145.8 → 146
    assert _boxes(answer) == [("dime", [844, 10, 1000, 1000]), ("penny", [16, 42, 172, 146])]
    assert answer.startswith('[\n  {"bbox_2d": [844, 10, 1000, 1000], "label": "dime"},\n')


def test_qwen25_resized_pixels_by_hand() -> None:
    """Qwen2.5-VL's processor makes 640 x 480 into 644 x 476 (23 and 17 patches of 28); boxes
    are pixels of that image: x · 644/640, y · 476/480, rounded."""
    assert smart_resize(640, 480) == (644, 476)
    answer = render_json_boxes(OBJECTS, 640, 480, "resized-pixels", resized=(644, 476))
    # dime: 540 · 1.00625 = 543.4 → 543, 5 · 0.99167 = 4.96 → 5, 644, 476
    # penny: 10.06 → 10, 19.8 → 20, 110.7 → 111, 69.4 → 69
    assert _boxes(answer) == [("dime", [543, 5, 644, 476]), ("penny", [10, 20, 111, 69])]


def test_resize_rule_gives_the_convention_of_any_image() -> None:
    """What an adapter hands DataLoader workers: the processor's settings, not the processor."""
    assert ResizeRule().convention(640, 480) == BoxConvention("resized-pixels", (644, 476))
    # 96 x 72 with both pixel bounds at 112²: 84 x 84 is under the bound, so scaled up by
    # sqrt(12544 / 6912) and rounded up to multiples of 28: 140 x 112.
    rule = ResizeRule(factor=28, min_pixels=112 * 112, max_pixels=112 * 112)
    assert rule.convention(96, 72) == BoxConvention("resized-pixels", (140, 112))


def _transformers_smart_resize() -> Any:
    """transformers' own function, read from its source: importing its module needs
    torchvision, which cannot be installed here."""
    import importlib.util

    spec = importlib.util.find_spec("transformers")
    assert spec is not None and spec.origin is not None
    source = (Path(spec.origin).parent / "models" / "qwen2_vl" /
              "image_processing_qwen2_vl.py").read_text(encoding="utf-8")
    (node,) = [n for n in ast.parse(source).body
               if isinstance(n, ast.FunctionDef) and n.name == "smart_resize"]
    namespace: dict[str, Any] = {"math": math}
    exec(compile(ast.Module([node], []), "smart_resize", "exec"), namespace)
    return namespace["smart_resize"]


@pytest.mark.parametrize(("width", "height"), [
    (640, 480), (10, 1000), (10, 10), (4032, 3024), (28, 28), (100, 19000)])
def test_smart_resize_is_transformers_own(width: int, height: int) -> None:
    reference = _transformers_smart_resize()
    h, w = reference(height, width, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    assert smart_resize(width, height) == (w, h)
    assert smart_resize(4032, 3024) == (1148, 840)  # by hand: area over the bound, shrunk


def test_row_stores_the_grid_and_renders_the_other_convention() -> None:
    task = get_task("json-boxes")
    (row,) = rows("json-boxes", SAMPLE, context(["penny", "dime"]))
    assert row["answer"] == render_json_boxes(OBJECTS, 640, 480)
    assert task.report_extras(Vocabulary(["penny", "dime"])) == {"convention": "relative-1000"}
    qwen25 = BoxConvention("resized-pixels", (644, 476))
    rendered = task.render_answer(row, qwen25)
    assert _boxes(rendered)[1] == ("penny", [10, 20, 111, 69])
    restored = task.restore_answer(rendered, row, qwen25)
    assert check({**row, "answer": restored}, None) is None  # each coordinate within a step
    assert task.render_answer(row, BoxConvention()) == row["answer"]


def test_generic_helpers_render_and_restore_only_where_the_task_says() -> None:
    """What a chat adapter calls, without naming a task."""
    from dsconv.tasks.base import answer_in, restored

    qwen25 = BoxConvention("resized-pixels", (644, 476))
    (row,) = rows("json-boxes", SAMPLE, context(["penny", "dime"]))
    (count,) = rows("count-json", SAMPLE, context(["penny", "dime"]))
    assert answer_in(row, None) == answer_in(row, BoxConvention()) == row["answer"]
    rendered = answer_in(row, qwen25)
    assert _boxes(rendered)[0] == ("dime", [543, 5, 644, 476])
    assert check({**row, "answer": restored(rendered, row, qwen25)}, None) is None
    assert answer_in(count, qwen25) == count["answer"]
    assert restored("7", count, qwen25) == "7" and restored(rendered, row, None) == rendered


def test_restore_keeps_what_it_cannot_read() -> None:
    qwen25 = BoxConvention("resized-pixels", (644, 476))
    row = {"width": 640, "height": 480}
    text = '```json\n[{"bbox_2d": [10, 20, 111, 69], "label": "penny"}, {"label": "dime"}]\n```'
    restored = json.loads(restore_answer(text, row, qwen25))
    # 10 · 640/644 / 640 · 1000 = 15.5 → 16, 20 → 42, 111 → 172.4 → 172, 69 → 145.0 → 145
    assert restored == [{"bbox_2d": [16, 42, 172, 145], "label": "penny"}, {"label": "dime"}]
    assert restore_answer("no boxes", row, qwen25) == "no boxes"


def test_conventions_need_what_they_need() -> None:
    from dsconv.errors import DsconvError

    with pytest.raises(DsconvError, match="resized image size"):
        render_json_boxes(OBJECTS, 640, 480, "resized-pixels")
    with pytest.raises(DsconvError, match="unknown box convention"):
        render_json_boxes(OBJECTS, 640, 480, "qwen9")


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 5000), st.floats(0, 1), st.floats(0, 1),
       st.floats(0, 1), st.floats(0, 1), st.integers(28, 4000), st.integers(28, 4000))
def test_resized_pixels_round_trip_within_one_pixel_of_the_input(
    width: int, height: int, fx: float, fy: float, fw: float, fh: float, rw: int, rh: int,
) -> None:
    x, y = fx * width, fy * height
    w, h = fw * (width - x), fh * (height - y)
    objects = {"bbox": [[x, y, w, h]], "category": ["a b-c."]}
    convention = BoxConvention("resized-pixels", (rw, rh))
    text = render_json_boxes(objects, width, height, convention)
    found = parse_json_boxes(text, width, height, convention)
    assert found is not None and found.skipped == 0
    ((label, box),) = found.boxes
    assert label == "a b-c."
    steps = (width / rw, height / rh) * 2
    for got, want, step in zip(box, (x, y, x + w, y + h), steps, strict=True):
        assert abs(got - want) <= step / 2 + 1e-6


def test_question_names_the_classes_and_paraphrases() -> None:
    ((question, _),) = qa_pairs("json-boxes", SAMPLE, context(["penny", "dime"]))
    assert "(penny, dime)" in question and "JSON" in question
    ctx = context(["penny", "dime"], paraphrases=5)
    drawn = {qa_pairs("json-boxes", make_sample(image_id=str(i)), ctx)[0][0] for i in range(30)}
    assert len(drawn) > 1


def test_check_accepts_its_rows_and_names_what_is_wrong() -> None:
    vocabulary = Vocabulary(["penny", "dime"])
    (row,) = rows("json-boxes", SAMPLE, context(["penny", "dime"]))
    assert check(row, vocabulary) is None and check(row, None) is None
    assert check({**row, "answer": row["answer"].replace("844", "845")}, vocabulary) is None
    assert "matches none" in check({**row, "answer": row["answer"].replace("844", "846")},
                                   vocabulary)
    assert "not JSON" in check({**row, "answer": "[{"}, vocabulary)
    assert "not a JSON list" in check({**row, "answer": "{}"}, vocabulary)
    assert "1 item" in check({**row, "answer": '[{"label": "dime"}]'}, vocabulary)
    assert "0 boxes" in check({**row, "answer": "[]"}, vocabulary)


PENNY = '{"bbox_2d": [16, 42, 172, 146], "label": "penny"}'


@pytest.mark.parametrize(("text", "boxes", "skipped"), [
    (f"```json\n[\n  {PENNY}\n]\n```", 1, 0),  # fenced
    (f"Here they are: [{PENNY}] Hope this helps!", 1, 0),  # text around
    (PENNY, 1, 0),  # one object, no list
    (PENNY.replace("penny", "PENNY"), 1, 0),
    (f'[{PENNY}, {{"bbox_2d": [1, 2, 3', 1, 1),  # cut off
    (f'[{PENNY}, {{"bbox_2d": [1, 2, 3], "label": "dime"}}]', 1, 1),  # three numbers
    (f'[{PENNY}, {{"bbox_2d": [1, 2, 3, 4]}}]', 1, 1),  # no label
    (f'[{PENNY}, {{"bbox_2d": [1, true, 3, 4], "label": "x"}}, 7]', 1, 2),
    ("[]", 0, 0),
])
def test_parser_reads_what_chat_models_emit(text: str, boxes: int, skipped: int) -> None:
    found = parse_json_boxes(text, 640, 480)
    assert found is not None
    assert (len(found.boxes), found.skipped) == (boxes, skipped)
    if boxes:
        assert found.boxes[0][1] == pytest.approx((10.24, 20.16, 110.08, 70.08))


def test_text_without_json_is_unparseable() -> None:
    assert parse_json_boxes("I see two coins.", 640, 480) is None
    assert parse_json_boxes(None, 640, 480) is None


def test_florence_2_and_moondream2_refuse_json_boxes() -> None:
    from dsconv.models.florence2 import Florence2Adapter

    reason = Florence2Adapter.unsupported_reason("json-boxes")
    assert reason is not None and "json-boxes" in reason and "\n" not in reason

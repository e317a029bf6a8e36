from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsconv.schemas.samples import Vocabulary
from dsconv.tasks.florence_od import (
    check,
    dequantize,
    florence_names,
    parse_florence_od,
    quantize,
)
from tests.tasks.detection_samples import context, make_sample, qa_pairs, rows

# 640 x 480: a bin is 0.64 px wide and 0.48 px high.
SAMPLE = make_sample(("penny", (10, 20, 100, 50)), ("us-dime", (540, 5, 100, 475)))
CLASSES = ["penny", "us-dime"]
ANSWER = "us dime<loc_843><loc_10><loc_999><loc_999>penny<loc_15><loc_41><loc_171><loc_145>"


def test_answer_is_quantised_sorted_top_to_bottom_and_named_plainly() -> None:
    assert qa_pairs("florence-od", SAMPLE, context(CLASSES)) == [("<OD>", ANSWER)]


def test_prompt_and_paraphrases_do_not_change_the_task_token() -> None:
    ctx = context(CLASSES, prompt="Find {noun}", paraphrases=5)
    assert qa_pairs("florence-od", SAMPLE, ctx) == [("<OD>", ANSWER)]


def test_empty_image_gives_an_empty_answer() -> None:
    assert qa_pairs("florence-od", make_sample(), context(CLASSES)) == [("<OD>", "")]
    assert parse_florence_od("", 640, 480) == []


@pytest.mark.parametrize("size", [1, 7, 480, 640, 999, 1000, 1001, 4032])
def test_edges_never_make_loc_1000(size: int) -> None:
    assert quantize(0, size) == 0
    assert quantize(size, size) == 999
    assert quantize(size - 1e-9, size) == 999
    assert quantize(-0.5, size) == 0  # clamped like Florence-2's processor


def test_floor_not_round() -> None:
    assert round(639.9 / 0.64) == 1000  # a plain round emits the invalid <loc_1000>
    assert quantize(639.9, 640) == 999
    assert quantize(0.63, 640) == 0  # round would say 1


def test_bins_decode_to_their_centres() -> None:
    assert dequantize(0, 640) == pytest.approx(0.32)
    assert dequantize(999, 640) == pytest.approx(639.68)


UNIT = st.floats(0, 1)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 5000), UNIT, UNIT, UNIT, UNIT)
def test_parse_round_trip_within_one_bin(
    width: int, height: int, fx: float, fy: float, fw: float, fh: float,
) -> None:
    x, y = fx * width * 0.99, fy * height * 0.99
    w, h = max(fw * (width - x), 1e-3), max(fh * (height - y), 1e-3)
    sample = make_sample(("dime", (x, y, w, h)), width=width, height=height)
    ((_, answer),) = qa_pairs("florence-od", sample, context(["dime"]))
    ((name, (px, py, pw, ph)),) = parse_florence_od(answer, width, height)
    bin_w, bin_h = width / 1000, height / 1000
    assert name == "dime"
    assert abs(px - x) <= bin_w and abs(py - y) <= bin_h
    assert abs(px + pw - (x + w)) <= bin_w and abs(py + ph - (y + h)) <= bin_h


def test_parser_reads_model_output_forms() -> None:
    text = ("</s><s>wheel<loc_0><loc_1><loc_2><loc_3><loc_4><loc_5><loc_6><loc_7>"
            "car<loc_8><loc_9><loc_10><loc_11></s>")
    parsed = parse_florence_od(text, 1000, 1000)
    assert [n for n, _ in parsed] == ["wheel", "wheel", "car"]
    assert parsed[2][1] == pytest.approx([8.5, 9.5, 2.0, 2.0])


@pytest.mark.parametrize("text", [
    "dime<loc_1><loc_2><loc_3>",
    "<loc_1><loc_2><loc_3><loc_4>",
    "dime<loc_1><loc_2><loc_3><loc_1000>",
    "dime<loc_1><loc_2><loc_3><loc_4> and more",
])
def test_parser_rejects_malformed_answers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_florence_od(text, 640, 480)


def test_names_are_letters_digits_spaces_and_unique() -> None:
    assert florence_names(["us-dime", "us dime", "Café", "€", "1c"]) == {
        "us-dime": "us dime", "us dime": "us dime 2", "Café": "Cafe", "€": "class 3", "1c": "1c"}


def test_check_matches_objects_within_one_bin() -> None:
    vocabulary = Vocabulary(CLASSES)
    (row,) = rows("florence-od", SAMPLE, context(CLASSES))
    assert check(row, vocabulary) is None and check(row, None) is None
    nudged = row["answer"].replace("<loc_843>", "<loc_844>")
    assert check({**row, "answer": nudged}, vocabulary) is None
    moved = row["answer"].replace("<loc_843>", "<loc_845>")
    assert "matches none" in check({**row, "answer": moved}, vocabulary)
    renamed = row["answer"].replace("penny", "dime")
    assert "matches none" in check({**row, "answer": renamed}, vocabulary)
    assert "2 objects" in check({**row, "answer": ""}, vocabulary)
    assert "not `name" in check({**row, "answer": "penny"}, vocabulary)

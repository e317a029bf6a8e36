from __future__ import annotations

import pytest

from dsconv.schemas.samples import Vocabulary
from dsconv.tasks.paligemma_detect import (
    check,
    dequantize,
    paligemma_names,
    parse_detect,
    quantize,
)
from tests.tasks.detection_samples import context, make_sample, qa_pairs, rows

SAMPLE = make_sample(("penny", (10, 20, 100, 50)), ("us-dime", (540, 5, 100, 475)))
CLASSES = ["penny", "us-dime", "nickel"]
# By hand, 640 x 480, round(v / size * 1023) in (y_min, x_min, y_max, x_max) order:
# penny   y 20/480·1023 = 42.6 → 43, x 10/640·1023 = 16.0 → 16, y 70 → 149.2 → 149,
#         x 110 → 175.8 → 176;
# us-dime y 5 → 10.7 → 11, x 540 → 863.2 → 863, y 480 → 1023, x 640 → 1023.
PENNY = "<loc0043><loc0016><loc0149><loc0176> penny"
DIME = "<loc0011><loc0863><loc1023><loc1023> us-dime"


def test_question_lists_every_class_and_answer_is_yxyx_on_1024_tokens() -> None:
    assert qa_pairs("paligemma-detect", SAMPLE, context(CLASSES)) == [
        ("detect penny ; us-dime ; nickel", f"{DIME} ; {PENNY}")]


def test_empty_image_and_fixed_prefix() -> None:
    ctx = context(CLASSES, prompt="Find {noun}", paraphrases=3)
    assert qa_pairs("paligemma-detect", make_sample(), ctx) == [
        ("detect penny ; us-dime ; nickel", "")]


def test_round_not_floor_and_1023_steps() -> None:
    """big_vision: clip(round(v · 1023), 0, 1023); decoded as q / 1023."""
    assert quantize(0.6 / 1023 * 640, 640) == 1  # floor would give 0
    assert quantize(640, 640) == 1023 and quantize(-3, 640) == 0 and quantize(700, 640) == 1023
    assert dequantize(1023, 640) == 640 and dequantize(0, 640) == 0
    assert quantize(1.5, 1023) == quantize(2.5, 1023) == 2  # halves to even, as tf.round


def test_names_lose_only_the_syntax_characters() -> None:
    assert paligemma_names(("a;b", "a b", "Café <1>", "x\ny")) == {
        "a;b": "a b", "a b": "a b 2", "Café <1>": "Café 1", "x\ny": "x y"}


def test_check_accepts_its_rows_and_names_what_is_wrong() -> None:
    vocabulary = Vocabulary(CLASSES)
    (row,) = rows("paligemma-detect", SAMPLE, context(CLASSES))
    assert check(row, vocabulary) is None and check(row, None) is None
    assert check({**row, "answer": row["answer"].replace("<loc0043>", "<loc0044>")},
                 vocabulary) is None
    assert "matches none" in check(
        {**row, "answer": row["answer"].replace("<loc0043>", "<loc0045>")}, vocabulary)
    assert "1 boxes" in check({**row, "answer": PENNY}, vocabulary)
    assert "does not read" in check({**row, "answer": PENNY + " ; <loc0001>"}, vocabulary)
    assert "is not" in check({**row, "question": "detect penny"}, vocabulary)


def test_parser_reads_what_paligemma_emits() -> None:
    text = f"{DIME} ; {PENNY.replace('penny', 'Penny')}<eos>"  # no final separator, other case
    found = parse_detect(text, 640, 480)
    assert found is not None and found.skipped == 0
    assert [label for label, _ in found.boxes] == ["us-dime", "Penny"]
    assert found.boxes[1][1] == pytest.approx((16 / 1023 * 640, 43 / 1023 * 480,
                                               176 / 1023 * 640, 149 / 1023 * 480))
    segmented = parse_detect(f"{PENNY[:40]}<seg001><seg002> penny ;\n", 640, 480)
    assert segmented is not None and (len(segmented.boxes), segmented.skipped) == (1, 0)


@pytest.mark.parametrize(("text", "boxes", "skipped"), [
    (f"{PENNY} ; <loc0001><loc0002>", 1, 1),  # cut off
    (f"{PENNY} ; that is all", 1, 1),
    ("<loc0001><loc0002><loc0003><loc0004> ; " + PENNY, 1, 1),  # a box without a name
    ("no coins here", 0, 1),
    ("", 0, 0),
])
def test_parser_counts_what_it_cannot_read(text: str, boxes: int, skipped: int) -> None:
    found = parse_detect(text, 640, 480)
    assert found is not None
    assert (len(found.boxes), found.skipped) == (boxes, skipped)

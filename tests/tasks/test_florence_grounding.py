from __future__ import annotations

import pytest

from dsconv.schemas.samples import Vocabulary
from dsconv.tasks.florence_grounding import check, parse_grounding
from tests.tasks.detection_samples import context, make_sample, qa_pairs, rows

# 640 x 480: a bin is 0.64 px wide and 0.48 px high (the florence-od example, two pennies).
SAMPLE = make_sample(("penny", (10, 20, 100, 50)), ("us-dime", (540, 5, 100, 475)),
                     ("penny", (300, 300, 20, 20)))
CLASSES = ["penny", "us-dime", "nickel"]
PENNIES = "penny<loc_15><loc_41><loc_171><loc_145>penny<loc_468><loc_625><loc_500><loc_666>"


def test_one_row_per_class_present_with_florence_od_quantisation() -> None:
    assert qa_pairs("florence-grounding", SAMPLE, context(CLASSES)) == [
        ("<CAPTION_TO_PHRASE_GROUNDING>penny", PENNIES),
        ("<CAPTION_TO_PHRASE_GROUNDING>us dime", "us dime<loc_843><loc_10><loc_999><loc_999>"),
    ]


def test_open_vocabulary_detection_asks_its_own_token() -> None:
    pairs = qa_pairs("florence-ovd", SAMPLE, context(CLASSES))
    assert pairs[0] == ("<OPEN_VOCABULARY_DETECTION>penny", PENNIES)


def test_absent_classes_are_asked_with_include_zero_and_answered_empty() -> None:
    pairs = qa_pairs("florence-grounding", SAMPLE, context(CLASSES, include_zero=True))
    assert pairs[-1] == ("<CAPTION_TO_PHRASE_GROUNDING>nickel", "")
    drawn = [qa_pairs("florence-grounding", make_sample(("penny", (1, 1, 5, 5)), image_id=str(i)),
                      context(CLASSES, absent_rate=0.5)) for i in range(40)]
    asked_nickel = sum(any(q.endswith("nickel") for q, _ in p) for p in drawn)
    assert 5 < asked_nickel < 35


def test_prompt_and_paraphrases_do_not_change_the_question() -> None:
    ctx = context(CLASSES, prompt="Find {noun}", paraphrases=5)
    assert qa_pairs("florence-grounding", SAMPLE, ctx)[0][0] == (
        "<CAPTION_TO_PHRASE_GROUNDING>penny")


def test_check_accepts_its_rows_and_names_what_is_wrong() -> None:
    vocabulary = Vocabulary(CLASSES)
    made = rows("florence-grounding", SAMPLE, context(CLASSES, include_zero=True))
    assert all(check(row, vocabulary) is None and check(row, None) is None for row in made)
    penny = made[0]
    assert check({**penny, "answer": PENNIES.replace("<loc_468>", "<loc_469>")},
                 vocabulary) is None  # one bin off
    assert "matches none" in check(
        {**penny, "answer": PENNIES.replace("<loc_468>", "<loc_470>")}, vocabulary)
    assert "names 'dime'" in check({**penny, "answer": PENNIES.replace("penny", "dime")},
                                   vocabulary)
    assert "1 boxes" in check({**penny, "answer": PENNIES[:39]}, vocabulary)
    assert "grounding token" in check({**penny, "question": "penny"}, vocabulary)
    assert "names none" in check({**penny, "question": "<OPEN_VOCABULARY_DETECTION>euro"},
                                 vocabulary)


def test_parser_reads_what_florence_2_emits() -> None:
    text = "</s><s>penny<loc_0><loc_1><loc_2><loc_3><loc_4><loc_5><loc_6><loc_7></s>"
    found = parse_grounding(text, 1000, 1000)
    assert found is not None and found.skipped == 0
    assert [label for label, _ in found.boxes] == ["penny", "penny"]
    assert found.boxes[1][1] == pytest.approx((4.5, 5.5, 6.5, 7.5))
    unnamed = parse_grounding("<loc_0><loc_1><loc_2><loc_3>", 1000, 1000, phrase="dime")
    assert unnamed is not None and unnamed.boxes[0][0] == "dime"


@pytest.mark.parametrize(("text", "boxes", "skipped"), [
    ("penny<loc_1><loc_2><loc_3><loc_4>penny<loc_5><loc_6>", 1, 1),  # cut off
    ("penny<loc_1><loc_2><loc_3><loc_4> and that is all", 1, 1),  # chatter after
    ("penny<loc_1><loc_2><loc_3><loc_1000>", 0, 1),  # no such bin
    ("penny<loc_1><loc_2>penny<loc_1><loc_2><loc_3><loc_4>", 1, 1),  # a short run first
    ("I see no pennies", 0, 1),
    ("", 0, 0),
])
def test_parser_counts_what_it_cannot_read(text: str, boxes: int, skipped: int) -> None:
    found = parse_grounding(text, 640, 480, phrase="penny")
    assert found is not None
    assert (len(found.boxes), found.skipped) == (boxes, skipped)

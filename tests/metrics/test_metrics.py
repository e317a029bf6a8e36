"""Per-answer metrics on hand-computed cases."""

from __future__ import annotations

import pytest

from dsconv.metrics.boxes import (
    coco_to_boxes,
    match_rate,
    mean_average_precision,
)
from dsconv.metrics.text import (
    anls,
    exact_match,
    levenshtein_similarity,
    parse_count,
    parse_count_json,
)
from dsconv.tasks.florence_od import parse_boxes

COUNT_ANSWER = '{\n  "dime": 2,\n  "penny": 1\n}'


def test_exact_match_strips_surrounding_whitespace_only() -> None:
    assert exact_match("  yes\n", ["yes"]) == 1.0
    assert exact_match("Yes", ["yes"]) == 0.0
    assert exact_match("b", ["a", "b"]) == 1.0
    assert exact_match(None, ["yes"]) == 0.0


def test_anls_ignores_case_and_spacing() -> None:
    assert anls("  The  Quick BROWN fox ", ["the quick brown fox"]) == 1.0
    assert exact_match("  The  Quick BROWN fox ", ["the quick brown fox"]) == 0.0


def test_anls_takes_the_best_reference() -> None:
    # "nickel" → "nickels": one insertion over 7 characters.
    assert anls("nickel", ["dime", "nickels"]) == pytest.approx(6 / 7)
    # kitten → sitting: distance 3 over 7, similarity 4/7 > 0.5 keeps its partial credit.
    assert anls("kitten", ["sitting"]) == pytest.approx(4 / 7)


def test_anls_zeroes_near_misses_at_the_threshold() -> None:
    # 3 edits over 6 characters: normalised distance exactly 0.5 → 0.
    assert anls("abcdef", ["abcxyz"]) == 0.0
    assert levenshtein_similarity("abcdef", ["abcxyz"]) == pytest.approx(0.5)
    assert anls("abcdefgh", ["abxxxxxx"]) == 0.0
    assert levenshtein_similarity("abcdefgh", ["abxxxxxx"]) == pytest.approx(0.25)
    assert anls(None, ["x"]) == 0.0


def test_count_json_ignores_key_order_whitespace_and_zeros() -> None:
    reference = parse_count_json(COUNT_ANSWER)
    assert reference == {"dime": 2, "penny": 1}
    assert parse_count_json('{"penny":1,   "dime" : 2}') == reference
    assert parse_count_json('{"dime": 2, "penny": 1, "nickel": 0}') == reference
    assert parse_count_json("{}") == {}
    assert exact_match('{"penny":1,   "dime" : 2}', [COUNT_ANSWER]) == 0.0


@pytest.mark.parametrize(
    "text", ["two dimes", '{"dime": -1}', '{"dime": 2.0}', '{"dime": true}', "[1]", "null", ""]
)
def test_count_json_rejects_anything_but_non_negative_int_objects(text: str) -> None:
    assert parse_count_json(text) is None


def test_parse_count_reads_the_first_integer() -> None:
    assert parse_count(" 3.") == 3
    assert parse_count("There are 4 dimes") == 4
    assert parse_count("none") is None


def test_parse_florence_od_scales_bins_to_pixel_centres() -> None:
    boxes = parse_boxes(
        "dime<loc_0><loc_0><loc_999><loc_999>coin<loc_1><loc_2><loc_3><loc_4>", 2000, 500
    )
    assert boxes == [("dime", (1.0, 0.25, 1999.0, 499.75)), ("coin", (3.0, 1.25, 7.0, 2.25))]
    assert parse_boxes("", 10, 10) == []


@pytest.mark.parametrize(
    "text",
    [
        "dime<loc_1><loc_2><loc_3>",
        "<loc_1><loc_2><loc_3><loc_4>",
        "dime<loc_1><loc_2><loc_3><loc_1000>",
        "dime<loc_1><loc_2><loc_3><loc_4> and more",
    ],
)
def test_parse_florence_od_rejects_malformed_answers(text: str) -> None:
    assert parse_boxes(text, 100, 100) is None


# On a 1000×1000 image a bin's centre is q + 0.5, so these boxes survive quantisation exactly.
TARGETS = coco_to_boxes([[12.5, 40.5, 187, 259], [500.5, 500.5, 100, 100]], ["dime", "nickel"])
PERFECT = "dime<loc_12><loc_40><loc_199><loc_299>nickel<loc_500><loc_500><loc_600><loc_600>"
HALF_WRONG = "dime<loc_12><loc_40><loc_199><loc_299>nickel<loc_700><loc_700><loc_800><loc_800>"


def test_map_of_a_perfect_prediction_is_one() -> None:
    found = mean_average_precision([parse_boxes(PERFECT, 1000, 1000)], [TARGETS])
    assert found["map50"] == pytest.approx(1.0)
    assert found["map50_95"] == pytest.approx(1.0)
    assert match_rate(parse_boxes(PERFECT, 1000, 1000), TARGETS) == 1.0


def test_map_of_a_half_wrong_prediction_is_one_half() -> None:
    predicted = parse_boxes(HALF_WRONG, 1000, 1000)
    found = mean_average_precision([predicted], [TARGETS])
    # dime AP 1, nickel AP 0 (its only box misses): the mean over the two classes.
    assert found["map50"] == pytest.approx(0.5)
    assert found["map50_95"] == pytest.approx(0.5)
    assert found["per_class"] == {
        "dime": {"ap50": pytest.approx(1.0), "ap50_95": pytest.approx(1.0)},
        "nickel": {"ap50": pytest.approx(0.0), "ap50_95": pytest.approx(0.0)},
    }
    assert match_rate(predicted, TARGETS) == 0.5
    assert mean_average_precision([None], [TARGETS])["map50"] == pytest.approx(0.0)

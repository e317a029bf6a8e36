from __future__ import annotations

from dsconv.schemas.samples import Vocabulary
from dsconv.tasks.count_class import check
from tests.tasks.detection_samples import COINS, boxes, context, make_sample, qa_pairs, rows

TWO_DIMES_A_PENNY = make_sample(*boxes("penny", "dime", "dime"))


def test_one_row_per_class_present_in_vocabulary_order() -> None:
    assert qa_pairs("count-class", TWO_DIMES_A_PENNY, context()) == [
        ("How many dimes are there?", "2"),
        ("How many pennies are there?", "1"),
    ]


def test_empty_image_gives_no_rows_without_absent_rate() -> None:
    assert qa_pairs("count-class", make_sample(), context()) == []


def test_include_zero_asks_every_class() -> None:
    pairs = qa_pairs("count-class", TWO_DIMES_A_PENNY, context(include_zero=True))
    assert len(pairs) == len(COINS)
    assert ("How many twenties are there?", "0") in pairs
    assert ("How many ones are there?", "0") in pairs


def _absent_asked(seed: int, rate: float, image_id: str = "1") -> list[str]:
    sample = make_sample(*boxes("penny", "dime", "dime"), image_id=image_id)
    return [q for q, a in qa_pairs("count-class", sample, context(seed=seed, absent_rate=rate))
            if a == "0"]


def test_absent_rate_is_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    assert _absent_asked(0, 0.2) == _absent_asked(0, 0.2)
    by_seed = {tuple(_absent_asked(seed, 0.5)) for seed in range(10)}
    assert len(by_seed) > 1


def test_absent_rate_is_roughly_respected() -> None:
    asked = sum(len(_absent_asked(0, 0.2, image_id=str(i))) for i in range(200))
    assert 0.15 < asked / (200 * 8) < 0.25


def test_absent_classes_do_not_depend_on_paraphrases() -> None:
    def answers(paraphrases: int) -> list[str]:
        ctx = context(seed=3, absent_rate=0.5, paraphrases=paraphrases)
        return [a for _, a in qa_pairs("count-class", TWO_DIMES_A_PENNY, ctx)]

    assert answers(1) == answers(5)


def test_check_accepts_what_the_task_writes() -> None:
    ctx = context(absent_rate=1.0, paraphrases=5)
    for row in rows("count-class", TWO_DIMES_A_PENNY, ctx):
        assert check(row, Vocabulary(COINS)) is None
        if row["answer"] == "0":
            assert check(row, None) is None


def test_check_catches_a_wrong_count() -> None:
    row = rows("count-class", TWO_DIMES_A_PENNY, context())[0]
    assert check({**row, "answer": "3"}, Vocabulary(COINS)) == "answer 3 but the row has 2 dime"
    assert "not a whole number" in check({**row, "answer": "two"}, None)
    assert "not a whole number" in check({**row, "answer": "2\n"}, None)


def test_check_reads_a_custom_prompt_by_class_name() -> None:
    row = rows("count-class", TWO_DIMES_A_PENNY, context(prompt="Number of {plural}?"))[1]
    assert row["question"] == "Number of pennies?"
    assert check(row, Vocabulary(COINS)) is None
    assert check({**row, "answer": "2"}, Vocabulary(COINS)) is not None

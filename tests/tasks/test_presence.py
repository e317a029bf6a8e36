from __future__ import annotations

from dsconv.schemas.samples import Vocabulary
from dsconv.tasks.presence import check
from tests.tasks.detection_samples import COINS, boxes, context, make_sample, qa_pairs, rows

TWO_DIMES_A_PENNY = make_sample(*boxes("penny", "dime", "dime"))


def test_present_classes_plus_as_many_absent_ones() -> None:
    pairs = qa_pairs("presence", TWO_DIMES_A_PENNY, context())
    assert ("Is there a dime in the image?", "yes") in pairs
    assert ("Is there a penny in the image?", "yes") in pairs
    assert [a for _, a in pairs].count("no") == 2
    asked = [q.removeprefix("Is there a ").removeprefix("Is there an ").split(" in ")[0]
             for q, _ in pairs]
    assert asked == [c for c in COINS if c in asked]  # vocabulary order


def test_articles_follow_the_class_name() -> None:
    sample = make_sample(*boxes("one", "apple"))
    pairs = qa_pairs("presence", sample, context(["one", "apple", "pear"]))
    assert pairs[:2] == [("Is there a one in the image?", "yes"),
                         ("Is there an apple in the image?", "yes")]


def test_empty_image_gets_one_no() -> None:
    (pair,) = qa_pairs("presence", make_sample(), context(["dime", "penny"], seed=1))
    assert pair[1] == "no"
    assert pair[0] in ("Is there a dime in the image?", "Is there a penny in the image?")


def test_absent_draw_is_deterministic_and_seeded() -> None:
    def draw(seed: int) -> list[tuple[str, str]]:
        return qa_pairs("presence", TWO_DIMES_A_PENNY, context(seed=seed))

    assert draw(0) == draw(0)
    assert len({tuple(draw(seed)) for seed in range(10)}) > 1


def test_check() -> None:
    vocabulary = Vocabulary(COINS)
    for row in rows("presence", TWO_DIMES_A_PENNY, context(paraphrases=5)):
        assert check(row, vocabulary) is None
        flipped = "no" if row["answer"] == "yes" else "yes"
        assert "answer" in check({**row, "answer": flipped}, vocabulary)
    assert "not 'yes' or 'no'" in check({**row, "answer": "Yes."}, vocabulary)

from __future__ import annotations

import pytest

from dsconv.schemas.samples import Vocabulary
from dsconv.tasks.list_objects import NONE, check, parse
from tests.tasks.detection_samples import COINS, boxes, context, make_sample, qa_pairs, rows


@pytest.mark.parametrize(("objects", "text"), [
    (("twenty", "dime", "penny", "dime"), "2 dimes, 1 penny and 1 twenty"),
    (("penny", "one", "penny", "fifty", "one", "fifty", "twenty", "twenty", "one"),
     "2 pennies, 2 fifties, 3 ones and 2 twenties"),
    (("quarter", "nickel"), "1 nickel and 1 quarter"),
    (("hundred",), "1 hundred"),
    ((), NONE),
])
def test_answers_in_vocabulary_order_with_plurals(objects: tuple[str, ...], text: str) -> None:
    ((question, answer),) = qa_pairs("list-objects", make_sample(*boxes(*objects)), context())
    assert question == "List each type of currency in the image with its count."
    assert answer == text


def test_bus_and_people() -> None:
    sample = make_sample(*boxes("bus", "bus", "person", "person"))
    ((_, answer),) = qa_pairs("list-objects", sample, context(["person", "bus"]))
    assert answer == "2 people and 2 buses"


def test_parse_reads_names_with_and_in_them() -> None:
    names = ["salt and pepper", "salt", "one"]
    assert parse("2 salt and peppers, 1 salt and 3 ones", names) == {
        "salt and pepper": 2, "salt": 1, "one": 3}
    assert parse(NONE, names) == {}
    with pytest.raises(ValueError, match="no known class"):
        parse("2 euros", names)


def test_check() -> None:
    vocabulary = Vocabulary(COINS)
    sample = make_sample(*boxes("twenty", "dime", "penny", "dime"))
    (row,) = rows("list-objects", sample, context())
    assert check(row, vocabulary) is None and check(row, None) is None
    assert "dime: 3 vs 2" in check({**row, "answer": "3 dimes, 1 penny and 1 twenty"}, vocabulary)
    assert "dime: 0 vs 2" in check({**row, "answer": NONE}, vocabulary)
    (empty,) = rows("list-objects", make_sample(), context())
    assert check(empty, vocabulary) is None

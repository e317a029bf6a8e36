from __future__ import annotations

import pytest

from dsconv.tasks.words import pluralize, with_article


@pytest.mark.parametrize(("word", "plural"), [
    ("penny", "pennies"), ("one", "ones"), ("fifty", "fifties"), ("twenty", "twenties"),
    ("bus", "buses"), ("dime", "dimes"), ("box", "boxes"), ("watch", "watches"),
    ("day", "days"), ("person", "people"), ("knife", "knives"), ("mouse", "mice"),
    ("sheep", "sheep"), ("scissors", "scissors"), ("traffic light", "traffic lights"),
    ("us-penny", "us-pennies"), ("Person", "People"), ("TV", "TVs"), ("1c", "1cs"),
    ("class 7", "class 7"),
])
def test_pluralize(word: str, plural: str) -> None:
    assert pluralize(word) == plural


@pytest.mark.parametrize(("name", "phrase"), [
    ("dime", "a dime"), ("apple", "an apple"), ("one", "a one"), ("hour", "an hour"),
    ("umbrella", "an umbrella"), ("unicorn", "a unicorn"), ("us-dime", "a us-dime"),
    ("eagle", "an eagle"),
])
def test_with_article(name: str, phrase: str) -> None:
    assert with_article(name) == phrase

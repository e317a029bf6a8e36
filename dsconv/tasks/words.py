"""English for class names: plurals and articles, so questions and answers read naturally.

Class names are nouns from a label file ("penny", "traffic light", "us-dime"); only the last
word changes ("traffic lights"). Irregular words live in tables rather than in rules, because
a wrong rule silently teaches the model a wrong word.
"""

from __future__ import annotations

import re

IRREGULAR = {
    "person": "people", "man": "men", "woman": "women", "child": "children",
    "mouse": "mice", "goose": "geese", "foot": "feet", "tooth": "teeth", "ox": "oxen",
    "knife": "knives", "leaf": "leaves", "wolf": "wolves", "shelf": "shelves",
    "half": "halves", "loaf": "loaves", "life": "lives", "wife": "wives", "calf": "calves",
    "thief": "thieves", "scarf": "scarves",
    "potato": "potatoes", "tomato": "tomatoes", "hero": "heroes", "echo": "echoes",
    "cactus": "cacti", "fungus": "fungi", "die": "dice",
}
UNCHANGED = {
    "sheep", "fish", "deer", "moose", "aircraft", "salmon", "trout", "bison", "series",
    "species", "broccoli", "skis", "scissors", "glasses", "pants", "jeans", "shorts",
    "sunglasses", "headphones", "binoculars", "people", "money", "equipment", "furniture",
}
_SIBILANT = re.compile(r"(s|x|z|ch|sh)$")
_CONSONANT_Y = re.compile(r"[^aeiou]y$")
_LAST_WORD = re.compile(r"[A-Za-z]+$")
# Words that start with a vowel letter but a consonant sound, and the reverse.
_A_BEFORE = ("one", "once", "uni", "use", "usu", "uti", "ure", "eu", "ewe", "us-", "us ")
_AN_BEFORE = ("hour", "honest", "honor", "honour", "heir")


def pluralize(name: str) -> str:
    """The plural of a class name: "penny" → "pennies", "bus" → "buses", "traffic light" →
    "traffic lights"; a name that does not end in a letter ("class 7") is returned unchanged."""
    match = _LAST_WORD.search(name)
    if match is None:
        return name
    word = match.group()
    return name[: match.start()] + _match_case(word, _plural_word(word.lower()))


def _plural_word(word: str) -> str:
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word in UNCHANGED:
        return word
    if _SIBILANT.search(word):
        return word + "es"
    if _CONSONANT_Y.search(word):
        return word[:-1] + "ies"
    return word + "s"


def _match_case(original: str, plural: str) -> str:
    if original.isupper() and len(original) > 1:  # an acronym: "TV" → "TVs"
        lower = original.lower()
        return original + plural[len(lower):] if plural.startswith(lower) else plural.upper()
    if original[0].isupper():
        return plural[0].upper() + plural[1:]
    return plural


def with_article(name: str) -> str:
    """ "a dime", "an apple", "a one", "an hour"."""
    lower = name.lower()
    vowel = lower[:1] in set("aeiou")
    if lower.startswith(_A_BEFORE):
        vowel = False
    elif lower.startswith(_AN_BEFORE):
        vowel = True
    return f"{'an' if vowel else 'a'} {name}"

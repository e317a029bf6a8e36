"""Per-answer metrics: pure functions of a predicted string and its reference(s).

A prediction of `None` means the model gave no answer for the row; every metric scores it as
wrong rather than skipping it, so a partial predictions file cannot inflate a score.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein

ANLS_THRESHOLD = 0.5
_INT_RE = re.compile(r"\d+")


def normalize_text(text: str) -> str:
    """DocVQA normalisation: lower case, runs of whitespace collapsed, ends stripped."""
    return " ".join(text.lower().split())


def exact_match(prediction: str | None, references: Sequence[str]) -> float:
    """1.0 if the prediction equals any reference once surrounding whitespace is stripped."""
    if prediction is None:
        return 0.0
    return float(prediction.strip() in {ref.strip() for ref in references})


def levenshtein_similarity(prediction: str | None, references: Sequence[str]) -> float:
    """1 − normalised Levenshtein distance to the closest reference, after `normalize_text`."""
    if prediction is None or not references:
        return 0.0
    pred = normalize_text(prediction)
    return max(Levenshtein.normalized_similarity(pred, normalize_text(r)) for r in references)


def anls(
    prediction: str | None, references: Sequence[str], threshold: float = ANLS_THRESHOLD
) -> float:
    """Average Normalised Levenshtein Similarity for one question (Biten et al., DocVQA).

    The best similarity over the references, zeroed when the normalised distance reaches the
    threshold: an answer that is more than half wrong earns nothing rather than partial credit.
    """
    similarity = levenshtein_similarity(prediction, references)
    return similarity if 1.0 - similarity < threshold else 0.0


def parse_count_json(text: str | None) -> dict[str, int] | None:
    """A JSON object of non-negative integer counts, with zero counts dropped; else None.

    Dropping zeros makes `{"dime": 0}` and `{}` the same answer as leaving the class out.
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    counts: dict[str, int] = {}
    for key, count in value.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return None
        if count:
            counts[key] = count
    return counts


def parse_count(text: str | None) -> int | None:
    """The first non-negative integer in the answer, so "3", " 3." and "3 dimes" all read 3."""
    if text is None:
        return None
    match = _INT_RE.search(text)
    return int(match.group()) if match else None


def count_errors(
    predicted: dict[str, int] | None, reference: dict[str, int], classes: Sequence[str]
) -> dict[str, int]:
    """Absolute count error per class (absent key = 0); no answer errs by the full reference."""
    predicted = predicted or {}
    return {c: abs(predicted.get(c, 0) - reference.get(c, 0)) for c in classes}

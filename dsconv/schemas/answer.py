"""The count-json answer: a JSON object of class name → positive integer count."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import RootModel, StrictInt, ValidationError, field_validator


class CountAnswer(RootModel[dict[str, StrictInt]]):
    @field_validator("root")
    @classmethod
    def _non_negative(cls, counts: dict[str, int]) -> dict[str, int]:
        negative = [k for k, v in counts.items() if v < 0]
        if negative:
            raise ValueError(f"negative count for {', '.join(negative)}")
        return counts


def parse_count_answer(text: str, vocabulary: Sequence[str] | None = None) -> dict[str, int]:
    """Parse and check a count answer; raises ValueError with a one-line reason."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"answer is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"answer is JSON {type(data).__name__}, not an object")
    try:
        counts = CountAnswer.model_validate(data).root
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"][1:]))
        raise ValueError(f"count {where!r}: {first['msg']}") from None
    if vocabulary is not None:
        unknown = [k for k in counts if k not in vocabulary]
        if unknown:
            raise ValueError(f"unknown class {', '.join(map(repr, unknown))}")
    return counts

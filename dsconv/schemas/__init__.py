"""Pydantic models for what crosses a boundary: rows, answers, reports."""

from dsconv.schemas.answer import CountAnswer, parse_count_answer
from dsconv.schemas.report import ConversionReport, Drop, SplitReport
from dsconv.schemas.row import Objects, Row

__all__ = [
    "ConversionReport",
    "CountAnswer",
    "Drop",
    "Objects",
    "Row",
    "SplitReport",
    "parse_count_answer",
]

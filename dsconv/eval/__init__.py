"""Scoring: predictions joined with dataset rows by id, metrics chosen by each row's task."""

from dsconv.eval.score import (
    ScoreResult,
    read_predictions,
    score_dataset,
    score_rows,
    write_results,
)

__all__ = ["ScoreResult", "read_predictions", "score_dataset", "score_rows", "write_results"]

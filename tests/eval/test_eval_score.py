"""Scoring rows by task: hand-computed aggregates on small in-memory rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsconv.errors import DsconvError
from dsconv.eval.score import read_predictions, score_rows, write_results


def row(row_id: str, task: str, answer: str, categories: list[str] = (), **extra) -> dict:
    return {
        "id": row_id,
        "image_id": row_id.split("/")[1],
        "width": 1000,
        "height": 1000,
        "objects": {"bbox": [[0, 0, 1, 1]] * len(categories), "category": list(categories)},
        "task": task,
        "question": "q",
        "answer": answer,
        "answers": [answer],
        **extra,
    }


COUNT_ROWS = [
    row(
        "test/1/count-json/0",
        "count-json",
        '{\n  "dime": 2,\n  "penny": 1\n}',
        ["dime"] * 2 + ["penny"],
    ),
    row("test/2/count-json/0", "count-json", '{\n  "nickel": 1\n}', ["nickel"]),
    row("test/3/count-json/0", "count-json", '{\n  "dime": 1\n}', ["dime"]),
    row("test/4/count-json/0", "count-json", "{}"),
]
COUNT_PREDICTIONS = {
    "test/1/count-json/0": '{"penny":1,   "dime" : 2}',  # right dict, not the same string
    "test/2/count-json/0": '{"nickel": 3, "quarter": 1}',  # off by 2, plus a class not there
    "test/3/count-json/0": "I see one dime",  # unparseable
    # test/4 missing
    "test/9/count-json/0": "{}",  # no such row
}


def test_count_json_metrics() -> None:
    result = score_rows(COUNT_ROWS, COUNT_PREDICTIONS)
    m = result.metrics
    assert (m["rows"], m["missing"], m["unknown_ids"]) == (4, 1, 1)
    assert m["examples"] == {
        "missing_ids": ["test/4/count-json/0"],
        "unknown_ids": ["test/9/count-json/0"],
    }
    assert m["exact_match"] == 0.0
    assert m["parse_rate"] == 0.5
    assert m["count_dict_accuracy"] == 0.25  # the missing {} row is wrong, not skipped
    # Errors per row over (dime, nickel, penny): 0 0 0 | 0 2 0 | 1 0 0 | 0 0 0.
    assert m["count_mae"] == pytest.approx(0.25)
    assert m["per_class"] == {
        "dime": {"count_accuracy": 0.5, "count_mae": 0.25},
        "nickel": {"count_accuracy": 0.25, "count_mae": 0.5},
        "penny": {"count_accuracy": 0.5, "count_mae": 0.0},
    }
    assert m["hallucination_rate"] == 0.25  # quarter, of dime, penny, nickel, quarter
    assert m["unknown_classes"] == {"quarter": 1}
    assert m["per_task"]["count-json"]["missing"] == 1
    assert [r.score for r in result.rows] == [1.0, 0.25, 0.0, 0.0]
    assert [r.id for r in result.failures(3)] == [
        "test/3/count-json/0",
        "test/4/count-json/0",
        "test/2/count-json/0",
    ]


def test_metrics_shared_by_tasks_are_pooled_over_rows() -> None:
    class_rows = [
        row("test/5/count-class/0", "count-class", "3"),
        row("test/6/count-class/0", "count-class", "2"),
        row("test/7/count-class/0", "count-class", "1"),
    ]
    predictions = {
        **COUNT_PREDICTIONS,
        "test/5/count-class/0": "3",
        "test/6/count-class/0": "There are 4.",
        "test/7/count-class/0": "none",
    }
    m = score_rows(COUNT_ROWS + class_rows, predictions).metrics
    per_task = m["per_task"]["count-class"]
    assert per_task["parse_rate"] == pytest.approx(2 / 3)
    assert per_task["count_accuracy"] == pytest.approx(1 / 3)
    assert per_task["count_mae"] == pytest.approx(1.0)
    assert per_task["exact_match"] == pytest.approx(1 / 3)
    assert m["parse_rate"] == pytest.approx((0.5 * 4 + 2 / 3 * 3) / 7)
    assert m["count_mae"] == pytest.approx((0.25 * 4 + 1.0 * 3) / 7)
    assert m["exact_match"] == pytest.approx(1 / 7)


def test_docvqa_anls_with_a_missing_prediction() -> None:
    rows = [
        row("test/d1/docvqa/0", "docvqa", "Acme Corp", answers=["Acme Corp", "ACME corporation"]),
        row("test/d2/docvqa/0", "docvqa", "1999", answers=["1999"]),
        row("test/d3/docvqa/0", "docvqa", "abcxyz", answers=["abcxyz"]),
    ]
    preds = {"test/d1/docvqa/0": "acme  corp", "test/d3/docvqa/0": "abcdef"}
    m = score_rows(rows, preds).metrics
    assert m["anls"] == pytest.approx(1 / 3)
    assert m["levenshtein_similarity"] == pytest.approx(1.5 / 3)
    assert m["exact_match"] == 0.0
    assert m["missing"] == 1


def test_florence_od_and_plain_tasks() -> None:
    objects = {
        "bbox": [[12.5, 40.5, 187, 259], [500.5, 500.5, 100, 100]],
        "category": ["dime", "nickel"],
    }
    answer = "dime<loc_12><loc_40><loc_199><loc_299>nickel<loc_500><loc_500><loc_600><loc_600>"
    rows = [
        row("test/o1/florence-od/0", "florence-od", answer, objects=objects),
        row("test/o2/florence-od/0", "florence-od", answer, objects=objects),
        row("test/p/presence/0", "presence", "yes"),
    ]
    preds = {
        "test/o1/florence-od/0": answer,
        "test/o2/florence-od/0": "dime<loc_12><loc_40><loc_199",
        "test/p/presence/0": " yes ",
    }
    m = score_rows(rows, preds).metrics
    od = m["per_task"]["florence-od"]
    assert od["parse_rate"] == 0.5
    # Each class: one of its two boxes found, at precision 1. COCO's 101-point interpolation
    # then credits recall thresholds 0.00…0.50, i.e. 51 of 101.
    assert od["map50"] == pytest.approx(51 / 101)
    assert od["exact_match"] == 0.5
    assert m["per_task"]["presence"] == {"rows": 1, "missing": 0, "exact_match": 1.0}
    assert m["exact_match"] == pytest.approx(2 / 3)


def test_bad_reference_answer_is_a_user_error() -> None:
    with pytest.raises(DsconvError, match="test/1/count-json/0"):
        score_rows([row("test/1/count-json/0", "count-json", "oops")], {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": "a", "prediction": "x"}\nnot json\n', "line 2: not JSON"),
        ('{"id": "a"}\n', "line 1: prediction for 'a' is not a string"),
        ('{"id": "a", "prediction": "x"}\n\n{"id": "a", "prediction": "y"}\n', "line 3: duplicate"),
        ('["a"]\n', "line 1: expected"),
    ],
)
def test_read_predictions_names_the_bad_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_text(text)
    with pytest.raises(DsconvError, match=message):
        read_predictions(path)


def test_write_results(tmp_path: Path) -> None:
    written = write_results(score_rows(COUNT_ROWS, COUNT_PREDICTIONS), tmp_path, failures=2)
    assert [p.name for p in written] == ["metrics.json", "failures.jsonl"]
    assert json.loads(written[0].read_text())["rows"] == 4
    failures = [json.loads(line) for line in written[1].read_text().splitlines()]
    assert failures[0] == {
        "id": "test/3/count-json/0",
        "image_id": "3",
        "task": "count-json",
        "question": "q",
        "expected": '{\n  "dime": 1\n}',
        "predicted": "I see one dime",
        "score": 0.0,
    }
    assert failures[1]["predicted"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failures.jsonl", "metrics.json"]


def test_score_with_no_prediction_for_the_split_exits_1(coins_vqa: Path, tmp_path: Path) -> None:
    """Predictions for another split (or dataset) scored 0 with exit 0."""
    from dsconv.storage.dataset import iter_rows
    from tests.helpers import assert_one_line_error, run_main

    path = tmp_path / "predictions.jsonl"
    ids = [row["id"] for row in iter_rows(coins_vqa, "train", columns=["id"])]
    path.write_text("".join(json.dumps({"id": i, "prediction": "{}"}) + "\n" for i in ids))
    result = run_main("score", path, "--dataset", coins_vqa, "--split", "test")
    assert_one_line_error(result, f"none of its {len(ids)} predictions", "'test'", "--split")
    assert not (tmp_path / "metrics.json").exists()
    assert run_main("score", path, "--dataset", coins_vqa, "--split", "train").exit_code == 0

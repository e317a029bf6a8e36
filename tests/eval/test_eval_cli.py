"""`dsconv score` end to end on a dataset directory written here, following the row contract."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

import dsconv.cli.score  # noqa: F401  (registers the command)
from dsconv.cli.app import app
from dsconv.errors import DsconvError

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("image_id", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        (
            "objects",
            pa.struct(
                [("bbox", pa.list_(pa.list_(pa.float32(), 4))), ("category", pa.list_(pa.string()))]
            ),
        ),
        ("task", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("answers", pa.list_(pa.string())),
    ]
)
OD_ANSWER = "dime<loc_12><loc_40><loc_199><loc_299>nickel<loc_500><loc_500><loc_600><loc_600>"


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="JPEG")
    return buffer.getvalue()


def _row(image_id: str, task: str, question: str, answer: str, **extra: object) -> dict:
    objects = {
        "bbox": [[12.5, 40.5, 187.0, 259.0], [500.5, 500.5, 100.0, 100.0]],
        "category": ["dime", "nickel"],
    }
    return {
        "id": f"test/{image_id}/{task}/0",
        "image": {"bytes": _jpeg(), "path": f"{image_id}.jpg"},
        "image_id": image_id,
        "width": 1000,
        "height": 1000,
        "objects": objects,
        "task": task,
        "question": question,
        "answer": answer,
        "answers": [answer],
        **extra,
    }


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    rows = [
        _row("a", "count-json", "How many?", '{\n  "dime": 1,\n  "nickel": 1\n}'),
        _row("b", "count-json", "How many?", '{\n  "dime": 1,\n  "nickel": 1\n}'),
        _row("c", "florence-od", "<OD>", OD_ANSWER),
        _row("d", "docvqa", "<DocVQA>Who?", "Acme", answers=["Acme", "Acme Inc."]),
    ]
    (tmp_path / "ds" / "data").mkdir(parents=True)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    pq.write_table(table, tmp_path / "ds" / "data" / "test-00000-of-00001.parquet")
    return tmp_path / "ds"


def _predictions(path: Path) -> Path:
    records = [
        {"id": "test/a/count-json/0", "prediction": '{"nickel": 1, "dime": 1}'},
        {"id": "test/c/florence-od/0", "prediction": OD_ANSWER},
        {"id": "test/d/docvqa/0", "prediction": " acme  inc "},
        {"id": "test/zzz/docvqa/0", "prediction": "stray"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_score_command_writes_metrics_and_failures(dataset: Path, tmp_path: Path) -> None:
    predictions = _predictions(tmp_path / "predictions.jsonl")
    out = tmp_path / "scores"
    args = ["score", str(predictions), "--dataset", str(dataset), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--failures", "5"])
    assert result.exit_code == 0, result.output
    assert "Per task" in result.output
    assert "1 rows have no prediction" in result.output

    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["rows"], metrics["missing"], metrics["unknown_ids"]) == (4, 1, 1)
    assert metrics["exact_match"] == pytest.approx(1 / 4)  # only the OD answer is verbatim
    assert metrics["count_dict_accuracy"] == 0.5
    assert metrics["parse_rate"] == pytest.approx(2 / 3)  # 1 of 2 count rows, 1 of 1 OD row
    assert metrics["map50"] == pytest.approx(1.0)
    assert metrics["anls"] == pytest.approx(8 / 9)  # "acme inc" vs "acme inc.": the dot counts
    assert set(metrics["per_task"]) == {"count-json", "florence-od", "docvqa"}
    assert set(metrics["per_class"]) == {"dime", "nickel"}

    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [f["id"] for f in failures] == ["test/b/count-json/0", "test/d/docvqa/0"]
    assert failures[0]["predicted"] is None


def test_score_command_reports_bad_predictions(dataset: Path, tmp_path: Path) -> None:
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text('{"id": "test/a/count-json/0", "prediction": "{}"}\n{oops\n')
    result = CliRunner().invoke(app, ["score", str(predictions), "--dataset", str(dataset)])
    assert isinstance(result.exception, DsconvError)
    assert f"{predictions}:line 2: not JSON" in str(result.exception)
    assert not (tmp_path / "metrics.json").exists()


def test_score_does_not_import_torch(dataset: Path, tmp_path: Path) -> None:
    predictions = _predictions(tmp_path / "predictions.jsonl")
    code = (
        "import sys\n"
        "import dsconv.cli.score\n"
        "from dsconv.cli.app import app\n"
        "app(sys.argv[1:], standalone_mode=False)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    args = ["score", str(predictions), "--dataset", str(dataset)]
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "metrics.json").is_file()

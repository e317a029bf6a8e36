"""`dsconv eval` end to end on a tiny Florence-2: predictions in dataset order, scores equal to
`dsconv score`'s, a model that learnt the answers scoring 1.0, and one-line errors before work."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsconv.errors import DsconvError
from dsconv.models.loading import resolve_model
from dsconv.storage.dataset import iter_rows
from tests.helpers import run_cli

torch = pytest.importorskip("torch")

from dsconv.testing.tiny import build_tiny_florence2, tiny_count_rows, write_tiny_vqa  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run faster (and the same every time) on one thread of a busy small CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_florence2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Untrained; its generation config ships Florence-2's beam search and 3-gram ban."""
    texts = [row["answer"] for row in tiny_count_rows()]
    return build_tiny_florence2(tmp_path_factory.mktemp("tiny-florence2"), texts)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _error(result) -> str:
    assert result.exit_code != 0
    assert isinstance(result.exception, DsconvError), result.output
    message = str(result.exception)
    assert "\n" not in message
    return message


def test_eval_writes_predictions_and_scores_them_like_score(
    tiny_florence2: Path, coins_vqa: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    result = run_cli("eval", tiny_florence2, "--dataset", coins_vqa, "--out", out,
                     "--batch-size", "2", "--max-new-tokens", "12", "--failures", "3")
    assert result.exit_code == 0, result.output
    assert "Per task" in result.output and "florence2" in result.output

    ids = [row["id"] for row in iter_rows(coins_vqa, "test", columns=["id"])]
    predictions = _lines(out / "predictions.jsonl")
    assert [p["id"] for p in predictions] == ids
    assert all(set(p) == {"id", "prediction"} and isinstance(p["prediction"], str)
               for p in predictions)

    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["rows"], metrics["missing"], metrics["unknown_ids"]) == (len(ids), 0, 0)
    assert {"exact_match", "count_mae", "per_task", "per_class"} <= metrics.keys()
    assert 0 < len(_lines(out / "failures.jsonl")) <= 3

    scored = run_cli("score", out / "predictions.jsonl", "--dataset", coins_vqa,
                     "--out", tmp_path / "score")
    assert scored.exit_code == 0, scored.output
    assert json.loads((tmp_path / "score" / "metrics.json").read_text()) == metrics


def test_a_trained_run_scores_exact_match_one(
    tiny_florence2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two scenes learnt by `dsconv train`; `eval` reads the family from the run it is given."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    data, run = write_tiny_vqa(tmp_path / "tiny-vqa", rows=2), tmp_path / "run"
    trained = run_cli("train", data, "--model", "florence2", "--out", run,
                      "--base", tiny_florence2, "--epochs", "80", "--batch-size", "2",
                      "--lr", "2e-3", "--schedule", "constant", "--no-freeze-vision",
                      "--max-val-items", "0", "--workers", "0", "--device", "cpu",
                      "--log-every", "100")
    assert trained.exit_code == 0, trained.output

    result = run_cli("eval", run, "--dataset", data, "--split", "validation",
                     "--max-new-tokens", "60")
    assert result.exit_code == 0, result.output
    out = run / "eval-final-validation"
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["rows"], metrics["exact_match"], metrics["count_dict_accuracy"]) == (2, 1, 1)
    answers = {row["id"]: row["answer"] for row in iter_rows(data, "validation")}
    assert {p["id"]: p["prediction"] for p in _lines(out / "predictions.jsonl")} == answers

    first = run_cli("eval", run / "final", "--dataset", data, "--split", "validation",
                    "--max-items", "1", "--out", tmp_path / "first")
    assert first.exit_code == 0, first.output
    metrics = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert (metrics["rows"], metrics["missing"], metrics["exact_match"]) == (1, 0, 1)
    assert len(_lines(tmp_path / "first" / "predictions.jsonl")) == 1


def test_errors_are_one_line_and_come_before_any_work(
    tiny_florence2: Path, coins_vqa: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"

    def error(model: Path | str, *args: str) -> str:
        message = _error(run_cli("eval", model, "--dataset", coins_vqa, "--out", out, *args))
        assert not out.exists()
        return message

    assert "no such model folder" in error(tmp_path / "no-such-model")
    assert "no split 'dev'" in error(tiny_florence2, "--split", "dev")
    assert "not a model folder (no config.json)" in error(coins_vqa)
    assert "unknown model family 'llava'" in error(tiny_florence2, "--model", "llava")

    unknown = tmp_path / "some-model"
    unknown.mkdir()
    (unknown / "config.json").write_text('{"model_type": "bert"}')  # llava is a chat model now
    assert "cannot tell the model family" in error(unknown)
    (unknown / "config.json").write_text("{}")
    assert "cannot load a florence2 checkpoint" in error(unknown, "--model", "florence2")

    run = tmp_path / "unfinished"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text('{"model": "florence2"}')
    assert "the run has no final model yet" in error(run)


def test_family_comes_from_the_run_the_card_or_the_config(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for name, config in (("final", "{}"), ("best", "{}")):
        (run / name).mkdir(parents=True)
        (run / name / "config.json").write_text(config)
    (run / "run.json").write_text('{"model": "moondream2"}')
    assert resolve_model(str(run)).family == "moondream2"
    assert resolve_model(str(run)).source == str(run / "final")
    assert resolve_model(str(run / "best")).run_dir == run
    assert resolve_model(str(run / "best"), "florence2").family == "florence2"

    pushed = tmp_path / "pushed"
    pushed.mkdir()
    (pushed / "config.json").write_text("{}")
    (pushed / "README.md").write_text("---\ntags:\n- dsconv\n- vqa\n- moondream2\n---\n# card\n")
    assert resolve_model(str(pushed)).family == "moondream2"

    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text('{"model_type": "moondream1"}')
    assert resolve_model(str(remote)).family == "moondream2"
    assert resolve_model("someone/model", "florence2").source == "someone/model"


def test_cli_import_and_eval_module_do_not_import_torch() -> None:
    code = ("import sys, dsconv.cli, dsconv.eval.predict\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_eval_loads_and_answers_without_importing_training(tiny_florence2: Path,
                                                           tmp_path: Path) -> None:
    """eval and training share `dsconv.models` (loading, generation), not each other's code."""
    data = write_tiny_vqa(tmp_path / "vqa", rows=2)
    code = ("import sys\n"
            "from dsconv.eval.evaluate import evaluate\n"
            f"evaluate({str(tiny_florence2)!r}, {str(data)!r}, split='validation', "
            f"max_items=2, max_new_tokens=4, device='cpu', out={str(tmp_path / 'ev')!r})\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('dsconv.training'))\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

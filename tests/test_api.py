"""The Python API: what a notebook calls, without the CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import dsconv
from dsconv.errors import DsconvError
from dsconv.samples.coins import write_coins


@pytest.fixture(scope="module")
def coins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api")
    write_coins(root / "coins", images=12, seed=3)
    return root / "coins"


def test_importing_dsconv_loads_neither_torch_nor_datasets() -> None:
    code = ("import sys, dsconv; dsconv.convert; dsconv.validate; dsconv.score\n"
            "assert 'torch' not in sys.modules and 'datasets' not in sys.modules\n"
            "assert set(dsconv.__all__) <= set(dir(dsconv))")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_convert_validate_load_stats_score(coins: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def progress(items, total, label):
        seen.append(label)
        return items

    out = tmp_path / "vqa"
    report = dsconv.convert(coins, out, format="coco", noun="currency",
                            classes={"dime": "10c", "penny": "1c"}, progress=progress)
    assert isinstance(report, dsconv.ConversionReport)
    assert report.classes == ["10c", "1c"]
    assert sorted(seen) == ["test", "train", "validation"]
    assert dsconv.validate(out).ok
    assert sum(s.rows for s in dsconv.stats(out).values()) == sum(
        s.rows for s in report.splits.values())

    def no_network(*args, **kwargs):
        raise OSError("network used")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    loaded = dsconv.load(out)
    row = loaded["test"][0]
    assert row["image"].size == (row["width"], row["height"])
    assert set(json.loads(row["answer"])) <= {"10c", "1c"}

    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"id": r["id"], "prediction": r["answer"]}) + "\n"
                                   for r in loaded["test"]))
    result = dsconv.score(predictions, out, out=tmp_path / "scores")
    assert result.metrics["exact_match"] == 1.0
    assert (tmp_path / "scores" / "metrics.json").is_file()


def test_an_option_the_format_does_not_have_is_an_error(coins: Path, tmp_path: Path) -> None:
    with pytest.raises(DsconvError, match="format 'coco' has no option 'keep_difficult'"):
        dsconv.convert(coins, tmp_path / "out", format="coco", keep_difficult=True)
    assert not (tmp_path / "out").exists()


def test_train_refuses_an_unknown_option() -> None:
    pytest.importorskip("torch")
    with pytest.raises(DsconvError, match="no option 'learning_rate'"):
        dsconv.train("out/x", model="florence2", output="runs/x", learning_rate=1)

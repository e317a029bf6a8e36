"""`make demo`'s loop with the network gone: `sample model`, `train`, `eval`, nothing sent.

Also: the tiny builders are a public command and a package for tests (`dsconv.testing`), and
the training commands say what to install when the `train` extra is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from dsconv.models.moondream2 import Moondream2Adapter
from dsconv.testing.build import dataset_texts
from tests.helpers import run_cli
from tests.training.conftest import NoNetwork

ROOT = Path(__file__).resolve().parents[2]


def test_sample_model_train_eval_send_nothing(
    tiny_vqa: Path, tmp_path: Path, no_network: NoNetwork
) -> None:
    model, run = tmp_path / "tiny-florence2", tmp_path / "run"
    result = run_cli("sample", "model", "florence2", model, "--dataset", tiny_vqa)
    assert result.exit_code == 0, result.output
    assert "real training needs the real checkpoint and a GPU" in " ".join(result.output.split())
    result = run_cli("train", tiny_vqa, "--model", "florence2", "--base", model, "--out", run,
                     "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--workers", "0",
                     "--max-val-items", "2", "--max-new-tokens", "8", "--device", "cpu")
    assert result.exit_code == 0, result.output
    result = run_cli("eval", run, "--dataset", tiny_vqa, "--split", "validation",
                     "--max-items", "2", "--max-new-tokens", "8", "--device", "cpu")
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "eval-final-validation" / "metrics.json").read_text())
    assert "exact_match" in metrics
    assert no_network.attempts == 0


def test_sample_model_moondream2_loads_as_remote_code(tiny_vqa: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny-moondream2"
    result = run_cli("sample", "model", "moondream2", out, "--dataset", tiny_vqa)
    assert result.exit_code == 0, result.output
    adapter = Moondream2Adapter.from_pretrained(str(out))
    texts = dataset_texts(tiny_vqa)
    assert texts[0].startswith("How many of each type")
    words = adapter.processor(f" {texts[1]}", add_special_tokens=False).input_ids
    assert len(words) < len(texts[1]) / 2  # the tokenizer learnt the dataset's answers


def test_sample_model_refuses_what_it_cannot_build(tmp_path: Path) -> None:
    result = run_cli("sample", "model", "llava", tmp_path / "m")
    assert "unknown model family 'llava'" in str(result.exception)
    result = run_cli("sample", "model", "moondream2", tmp_path / "m", "--revision", "2025-01-09")
    assert "2024-08-26, 2024-04-02" in str(result.exception)


def test_tiny_builders_live_in_the_testing_package() -> None:
    assert importlib.util.find_spec("dsconv.testing.tiny") is not None
    for old in ("tiny", "tiny_moondream", "tiny_moondream_remote"):
        assert importlib.util.find_spec(f"dsconv.training.{old}") is None


COMMANDS = [
    ["train", "data", "--model", "florence2", "--out", "run"],
    ["eval", "model-dir", "--dataset", "data", "--split", "validation"],
    ["sample", "model", "florence2", "tiny"],
]


def test_without_the_train_extra_one_line_says_what_to_install(tmp_path: Path) -> None:
    """A fresh interpreter in which torch cannot be imported, as after `pip install dsconv`;
    each command runs in it in turn and must exit 1 with one line."""
    (tmp_path / "model-dir").mkdir()
    (tmp_path / "model-dir" / "config.json").write_text('{"model_type": "florence2"}')
    from dsconv.testing.tiny import write_tiny_vqa

    write_tiny_vqa(tmp_path / "data", rows=1)
    script = ("import json, sys\nsys.modules['torch'] = None\nfrom dsconv.cli import main\n"
              "for command in json.loads(sys.argv[1]):\n"
              "    sys.argv = ['dsconv', *command]\n"
              "    try:\n        main()\n    except SystemExit as exit:\n"
              "        print(exit.code, file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(COMMANDS)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 * len(COMMANDS), done.stderr
    for message, code in zip(lines[::2], lines[1::2], strict=True):
        assert code == "1"
        assert "pip install 'dsconv[train]'" in message and "torch is not installed" in message

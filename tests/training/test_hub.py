"""Checkpoints and datasets named on the command line: local folders, Hub ids, an unreachable Hub.

No test here reaches the network: `no_network` (conftest.py) makes every connection and name
lookup fail (or hang) in this process and counts the attempts.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dsconv.errors import DsconvError
from dsconv.models import sources
from tests.helpers import run_cli
from tests.training.conftest import NoNetwork


def _error(result) -> str:
    assert result.exit_code != 0
    assert isinstance(result.exception, DsconvError), result.output
    message = str(result.exception)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", ["gpt2", "owner/name", "Owner-1/model.v2_x"])
def test_hub_ids_are_not_paths(name: str) -> None:
    assert not sources.looks_local(name)


@pytest.mark.parametrize("name", ["./missing-dir", "../x", "/abs/x", "~/x", ".hidden",
                                  "runs/coins/final", "a b", ""])
def test_paths_are_not_hub_ids(name: str) -> None:
    assert sources.looks_local(name)


@pytest.mark.parametrize("base", ["./missing-dir", "~/dsconv-missing-dir", "runs/x/final"])
def test_missing_local_base_is_no_such_folder(
    base: str, tiny_vqa: Path, tmp_path: Path, no_network: NoNetwork,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("train", tiny_vqa, "--model", "florence2", "--out", tmp_path / "run",
                     "--base", base, "--device", "cpu")
    message = _error(result)
    assert message.startswith(f"{base}: no such folder") and "--base" in message
    assert no_network.attempts == 0 and not (tmp_path / "run").exists()


def test_unreachable_hub_fails_fast_with_what_to_do(
    tiny_vqa: Path, tmp_path: Path, no_network: NoNetwork
) -> None:
    start = time.monotonic()
    result = run_cli("train", tiny_vqa, "--model", "florence2", "--out", tmp_path / "run",
                     "--base", "someone/some-model", "--device", "cpu")
    elapsed = time.monotonic() - start
    message = _error(result)
    assert message.startswith("someone/some-model: the Hugging Face Hub is unreachable")
    assert "HF_HUB_OFFLINE=1" in message and "--base ./DIR" in message
    assert no_network.attempts >= 1 and elapsed < 10
    assert not (tmp_path / "run").exists()


def test_a_hub_that_never_answers_is_given_up_on(
    tiny_vqa: Path, tmp_path: Path, no_network: NoNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_network.hang = True  # a black-holed network: DNS or connect never returns
    monkeypatch.setattr(sources, "PROBE_SECONDS", 0.5)
    start = time.monotonic()
    result = run_cli("eval", "someone/some-model", "--model", "florence2",
                     "--dataset", tiny_vqa, "--split", "validation", "--out", tmp_path / "ev")
    elapsed = time.monotonic() - start
    message = _error(result)
    assert "unreachable (no answer within 0.5 s)" in message and "HF_HUB_OFFLINE=1" in message
    assert elapsed < 5


def test_unreachable_hub_dataset(tmp_path: Path, no_network: NoNetwork) -> None:
    start = time.monotonic()
    result = run_cli("train", "someone/some-data", "--model", "florence2",
                     "--out", tmp_path / "run", "--device", "cpu")
    message = _error(result)
    assert message.startswith("someone/some-data: the Hugging Face Hub is unreachable")
    assert "HF_HUB_OFFLINE=1" in message and "local dataset folder" in message
    assert time.monotonic() - start < 10


def test_missing_local_dataset_is_no_such_folder(tmp_path: Path, no_network: NoNetwork) -> None:
    result = run_cli("train", tmp_path / "nothing-here", "--model", "florence2",
                     "--out", tmp_path / "run", "--device", "cpu")
    assert "nothing-here: no such folder" in _error(result)
    assert no_network.attempts == 0


def test_a_cached_checkpoint_is_named_in_the_hint(
    tmp_path: Path, no_network: NoNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    (tmp_path / "models--someone--cached" / "refs").mkdir(parents=True)
    (tmp_path / "models--someone--cached" / "refs" / "main").write_text("0" * 40)
    with pytest.raises(DsconvError, match=r"a copy is in your cache"):
        sources.check_source("someone/cached", "model", "--base")
    with pytest.raises(DsconvError) as err:
        sources.check_source("someone/absent", "model", "--base")
    assert "a copy is in your cache" not in str(err.value)


def test_offline_mode_sends_nothing(no_network: NoNetwork, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    assert sources.check_source("someone/some-model", "model", "--base") == "someone/some-model"
    assert no_network.attempts == 0

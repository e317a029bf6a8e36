"""Moondream2 at revision 2024-04-02 (the reference fine-tune's pin), on a tiny checkpoint of
that revision's shape: `phi_config` built from the top-level keys, one-crop projection, and a
vision forward under `no_grad`. The remote code is written by `dsconv sample model`; nothing
is downloaded (`no_network`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from dsconv.errors import DsconvError
from dsconv.models.moondream2 import Moondream2Adapter
from dsconv.training.runlog import read_metrics
from tests.helpers import run_cli
from tests.training.conftest import NoNetwork

REVISION = "2024-04-02"
# The remote PhiConfig keeps 4.x's `rope_scaling` attribute, as the real one does.
pytestmark = pytest.mark.filterwarnings("ignore:`rope_scaling` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def tiny_0402(tmp_path_factory: pytest.TempPathFactory, tiny_vqa: Path) -> Path:
    out = tmp_path_factory.mktemp("moondream-0402") / "model"
    result = run_cli("sample", "model", "moondream2", out, "--revision", REVISION,
                     "--dataset", tiny_vqa)
    assert result.exit_code == 0, result.output
    return out


def test_the_tiny_checkpoint_has_the_revision_shape(tiny_0402: Path) -> None:
    config = json.loads((tiny_0402 / "config.json").read_text())
    assert "text_config" not in config and "phi_config" not in config
    assert config["hidden_size"] == 64 and config["auto_map"]["AutoConfig"].startswith(
        "configuration_moondream.")
    for module in ("configuration_moondream", "modeling_phi", "vision_encoder", "moondream"):
        assert (tiny_0402 / f"{module}.py").is_file()


def test_revision_2024_04_02_trains_through_dsconv_train(
    tiny_0402: Path, tiny_vqa: Path, tmp_path: Path, no_network: NoNetwork
) -> None:
    run = tmp_path / "run"
    result = run_cli("train", tiny_vqa, "--model", "moondream2", "--base", tiny_0402,
                     "--revision", REVISION, "--out", run, "--epochs", "2",
                     "--batch-size", "4", "--lr", "3e-3", "--schedule", "constant",
                     "--warmup", "0", "--workers", "0", "--max-val-items", "4",
                     "--max-new-tokens", "8", "--log-every", "1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    losses = [r["loss"] for r in read_metrics(run) if r["type"] == "train"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert math.isfinite([r for r in read_metrics(run) if r["type"] == "eval"][-1]["val_loss"])

    # Saved by transformers 5, `phi_config` comes back as a dict: the adapter rebuilds it.
    assert isinstance(json.loads((run / "final" / "config.json").read_text())["phi_config"], dict)
    base = Moondream2Adapter.from_pretrained(str(tiny_0402), REVISION).model.state_dict()
    tuned_adapter = Moondream2Adapter.from_pretrained(str(run / "final"))
    tuned = tuned_adapter.model.state_dict()
    assert base.keys() == tuned.keys()
    assert all(torch.equal(tuned[k], v) for k, v in base.items() if k.startswith("vision_"))
    assert any(not torch.equal(tuned[k], v) for k, v in base.items() if k.startswith("text_"))
    result = run_cli("eval", run, "--dataset", tiny_vqa, "--split", "validation",
                     "--max-items", "2", "--max-new-tokens", "8", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert no_network.attempts == 0


def test_its_vision_encoder_cannot_be_unfrozen(tiny_0402: Path, make_config) -> None:
    from dsconv.training.loop import train

    config = make_config(model="moondream2", base=str(tiny_0402), freeze_vision=False,
                         epochs=1, max_val_items=0)
    with pytest.raises(DsconvError, match="--no-freeze-vision") as err:
        train(config)
    assert "no_grad" in str(err.value) and REVISION in str(err.value)

"""`resolve`: what the user asked for becomes a complete, checked `ResolvedConfig`."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from dsconv.errors import DsconvError
from dsconv.models.florence2 import Florence2Adapter
from dsconv.training.config import ResolvedConfig, TrainConfig, resolve, save_run

# Fields a resolved run may leave unset, each with a meaning (no pin, no cap, not given).
MAY_BE_NONE = {"revision", "max_train_items", "val_split", "push_to_hub", "cache_dir",
               "min_pixels", "max_pixels", "image_splitting", "longest_edge", "load_in_4bit",
               "defaults_source"}


def test_resolved_config_has_every_train_config_field_in_order() -> None:
    assert [f.name for f in fields(ResolvedConfig)] == [f.name for f in fields(TrainConfig)]


def test_resolve_fills_every_setting_from_the_family(tmp_path: Path) -> None:
    cfg = resolve(TrainConfig(dataset=str(tmp_path), model="florence2", output="run"))
    assert isinstance(cfg, ResolvedConfig)
    unset = {f.name for f in fields(cfg) if getattr(cfg, f.name) is None}
    assert unset <= MAY_BE_NONE
    assert cfg.dataset == str(tmp_path.resolve())
    assert (cfg.lr, cfg.epochs, cfg.base) == (Florence2Adapter.defaults.lr,
                                              Florence2Adapter.defaults.epochs,
                                              Florence2Adapter.default_base)
    assert cfg.model == "florence2" and cfg.seed == 0 and cfg.device == "auto"


def test_family_comes_from_the_adapter_when_model_is_unset() -> None:
    cfg = resolve(TrainConfig(dataset="someone/data", output="run"), Florence2Adapter)
    assert cfg.model == "florence2"


@pytest.mark.parametrize(("given", "missing"), [
    ({"model": "florence2", "output": "run"}, "missing DATASET"),
    ({"dataset": "someone/data", "model": "florence2"}, "missing --out"),
    ({"dataset": "someone/data", "output": "run"}, "missing --model or --base"),
])
def test_a_run_without_dataset_family_or_output_is_refused(given: dict, missing: str) -> None:
    with pytest.raises(DsconvError, match=missing):
        resolve(TrainConfig(**given))


def test_run_json_lists_the_resolved_settings_only(tmp_path: Path) -> None:
    cfg = resolve(TrainConfig(dataset="someone/data", model="florence2", output="run",
                              cache_dir="cache"))
    save_run(cfg, tmp_path)
    saved = json.loads((tmp_path / "run.json").read_text())
    assert list(saved) == [f.name for f in fields(TrainConfig) if f.name not in
                           ("output", "cache_dir")]
    assert saved["model"] == "florence2" and saved["lr"] == cfg.lr

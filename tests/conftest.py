"""Shared fixtures: the coins sample and its conversion, made once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from dsconv.samples.coins import write_coins
from tests.helpers import run_cli

SEED_NOUN = "currency"

# Property tests explore new inputs on every developer run; CI replays a fixed set, so that a
# landing never depends on the luck of the draw.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def coins_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coins")
    write_coins(out, images=24, seed=7)
    return out


@pytest.fixture(scope="session")
def coins_vqa(coins_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vqa") / "coins-vqa"
    result = run_cli("coco-to-vqa", coins_dir, out, "--noun", SEED_NOUN)
    assert result.exit_code == 0, result.output
    return out

"""Shared fixtures: the coins sample and its conversion, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsconv.samples.coins import write_coins
from tests.helpers import run_cli

SEED_NOUN = "currency"


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

"""A small coins dataset converted with two tasks, so rows and images differ in number."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsconv.samples.coins import CoinsSummary, write_coins
from tests.helpers import run_cli


@pytest.fixture(scope="session")
def two_task_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[CoinsSummary, Path]:
    src = tmp_path_factory.mktemp("inspect-src")
    summary = write_coins(src, images=10, seed=5)
    out = tmp_path_factory.mktemp("inspect") / "coins-vqa"
    result = run_cli("coco-to-vqa", src, out, "--task", "count-json", "--task", "list-objects",
                     "--noun", "currency")
    assert result.exit_code == 0, result.output
    return summary, out

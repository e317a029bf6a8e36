"""Learning-rate schedules, the adapter registry and the per-epoch metric."""

from __future__ import annotations

import itertools
import pickle
import sys
from typing import ClassVar

import pytest
import torch

from dsconv.errors import DsconvError
from dsconv.models import registry
from dsconv.models.base import ModelAdapter
from dsconv.models.florence2 import Florence2Adapter
from dsconv.training.metrics import score
from dsconv.training.schedule import LrFactor, build_scheduler


def _lrs(kind: str, total: int, warmup: float) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(optimizer, kind, total, warmup)
    lrs = []
    for _ in range(total):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return lrs


def test_linear_decays_from_the_peak_to_zero() -> None:
    assert _lrs("linear", 4, 0.0) == [1.0, 0.75, 0.5, 0.25]


def test_cosine_warmup_matches_the_moondream_reference() -> None:
    lrs = _lrs("cosine-warmup", 20, 0.1)
    assert lrs[0] == pytest.approx(0.1)  # warm-up starts at 0.1·lr
    assert lrs[1] == pytest.approx(0.55)
    assert lrs[2] == pytest.approx(1.0)  # peak after 10 % of the steps
    assert all(a >= b for a, b in itertools.pairwise(lrs[2:]))
    assert LrFactor("cosine-warmup", 20, 2)(20) == pytest.approx(0.1)  # back to 0.1·lr


def test_schedule_factor_pickles_for_checkpoints() -> None:
    factor = LrFactor("linear", 10, 2)
    assert pickle.loads(pickle.dumps(factor))(5) == factor(5)


def test_registry_finds_families_by_name() -> None:
    assert registry.get_adapter("florence2") is Florence2Adapter
    assert {"florence2", "moondream2"} <= set(registry.available())
    with pytest.raises(DsconvError, match="unknown model 'nope'"):
        registry.get_adapter("nope")


def test_registry_imports_a_family_module_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    class Fake(ModelAdapter):  # an undecorated adapter class in a late-arriving module
        family: ClassVar[str] = "fakefamily"

    module = type(sys)("dsconv.models.fakefamily")
    module.Fake = Fake
    monkeypatch.setattr(registry, "BUILTIN", (*registry.BUILTIN, "fakefamily"))
    monkeypatch.setitem(sys.modules, "dsconv.models.fakefamily", module)
    monkeypatch.delitem(registry._ADAPTERS, "fakefamily", raising=False)
    assert registry.get_adapter("fakefamily") is Fake
    monkeypatch.delitem(registry._ADAPTERS, "fakefamily")


def test_missing_family_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "BUILTIN", (*registry.BUILTIN, "notyet"))
    with pytest.raises(DsconvError, match="'notyet' is not available"):
        registry.get_adapter("notyet")


def test_epoch_metric_per_task() -> None:
    rows = [
        {"task": "count-json", "answer": '{\n  "dime": 1\n}', "answers": []},
        {"task": "count-json", "answer": '{\n  "dime": 2\n}', "answers": []},
        {"task": "docvqa", "answer": "march 3", "answers": ["march 3", "3 march"]},
    ]
    result = score(['{\n  "dime": 1\n}', "{}", "March 3"], rows)
    assert result["exact_match"] == 0.5
    assert result["anls"] == 1.0
    assert result["score"] == pytest.approx(2 / 3)  # mean over rows
    assert result["per_task"] == {"count-json": 0.5, "docvqa": 1.0}

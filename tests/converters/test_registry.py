"""Third-party readers arrive through the `dsconv.converters` entry-point group."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from dsconv.converters import registry
from dsconv.converters.base import DetectionObject, DetectionSample, Ledger, Vocabulary
from dsconv.errors import DsconvError
from dsconv.storage.dataset import iter_rows
from tests.helpers import out_beside, run_cli


class OneImageReader:
    """A plugin in its simplest form: one split, one image, two dots."""

    name = "dots"
    description = "test plugin"

    def __init__(self, src: Path, ledger: Ledger, options=None) -> None:
        self.src, self.ledger = src, ledger

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(["dot"], "shape")

    def splits(self) -> list[str]:
        return ["train"]

    def count(self, split: str) -> int:
        return 1

    def samples(self, split: str) -> Iterator[DetectionSample]:
        data = (self.src / "img.jpg").read_bytes()
        self.ledger.seen_objects(split, 2)
        yield DetectionSample(split, "1", "img.jpg", data, 2, 2, [
            DetectionObject("dot", (0, 0, 1, 1)), DetectionObject("dot", (1, 1, 1, 1))])


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint("dots", f"{__name__}:OneImageReader", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])


def test_plugin_is_listed_and_converts(plugin: None, tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (2, 2)).save(tmp_path / "img.jpg")
    assert "dots" in registry.available()
    assert "dots" in run_cli("formats").output
    out = out_beside(tmp_path)
    result = run_cli("convert", tmp_path, out, "--from", "dots", "--split-ratios", "1,0,0")
    assert result.exit_code == 0, result.output
    (row,) = iter_rows(out)
    assert row["answer"] == '{\n  "dot": 2\n}'
    assert "shape" in row["question"]


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(DsconvError, match=r"unknown format 'nope'.*coco"):
        registry.get_reader("nope")


def test_a_plugin_cannot_replace_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint("coco", f"{__name__}:OneImageReader", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    assert registry.get_reader("coco").__name__ == "CocoReader"

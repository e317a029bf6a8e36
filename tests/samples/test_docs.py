from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
from PIL import Image

from dsconv.samples.docs import write_docs


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_docs(tmp_path / "a", documents=6, seed=1)
    write_docs(tmp_path / "b", documents=6, seed=1)
    write_docs(tmp_path / "c", documents=6, seed=2)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_opens_as_a_documentvqa_dataset(tmp_path: Path) -> None:
    summary = write_docs(tmp_path, documents=9, seed=0)
    loaded = datasets.load_dataset(str(tmp_path))
    assert set(loaded) == {"train", "validation", "test"}
    assert {s: len(d) for s, d in loaded.items()} == summary.questions
    ids = [q for split in loaded.values() for q in split["questionId"]]
    assert len(ids) == len(set(ids))
    for row in loaded["train"]:
        assert isinstance(row["image"], Image.Image)
        assert row["question"].endswith("?")
        assert row["answers"] and all(a.strip() for a in row["answers"])

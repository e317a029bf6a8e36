"""`dsconv export`: the JSON Lines and chat layouts, read back and compared with the rows."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from dsconv.errors import DsconvError
from dsconv.publish.export import ANNOTATIONS_FILE, _file_name, export_dataset
from dsconv.storage.dataset import iter_rows
from tests.helpers import run_cli

SPLITS = ["train", "validation", "test"]


def test_jsonl_layout_round_trips(coins_vqa: Path, tmp_path: Path) -> None:
    out = tmp_path / "coins-jsonl"
    result = run_cli("export", coins_vqa, "--to", "jsonl", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(SPLITS)
    for split in SPLITS:
        rows = list(iter_rows(coins_vqa, split))
        lines = (out / split / ANNOTATIONS_FILE).read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        assert len(records) == len(rows)
        for record, row in zip(records, rows, strict=True):
            assert set(record) == {"image", "prefix", "suffix"}
            assert (record["prefix"], record["suffix"]) == (row["question"], row["answer"])
            assert (out / split / record["image"]).read_bytes() == row["image"]["bytes"]
        images = {p.name for p in (out / split).iterdir()} - {ANNOTATIONS_FILE}
        assert images == {r["image"] for r in records}
        assert len(images) == len({row["image_id"] for row in rows})
    assert not (out / "data").exists()


def test_messages_layout_loads_as_trl_reads_it(coins_vqa: Path, tmp_path: Path) -> None:
    out = tmp_path / "coins-chat"
    result = run_cli("export", coins_vqa, "--to", "messages", out)
    assert result.exit_code == 0, result.output
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert list(ds) == SPLITS
    features = ds["train"].features
    assert isinstance(features["images"], datasets.List)
    assert isinstance(features["images"].feature, datasets.Image)
    for split in SPLITS:
        rows = list(iter_rows(coins_vqa, split))
        assert len(ds[split]) == len(rows)
        for got, row in zip(ds[split], rows, strict=True):
            user, assistant = got["messages"]
            assert user["role"] == "user" and assistant["role"] == "assistant"
            assert [part["type"] for part in user["content"]] == ["image", "text"]
            assert user["content"][1]["text"] == row["question"]
            assert assistant["content"] == [{"type": "text", "text": row["answer"]}]
            assert got["id"] == row["id"]
            (image,) = got["images"]
            assert image.size == (row["width"], row["height"])


def test_export_refuses_to_write_into_the_dataset(coins_vqa: Path) -> None:
    with pytest.raises(DsconvError, match="new folder"):
        export_dataset(coins_vqa, "jsonl", coins_vqa / "jsonl")


def test_unknown_format_and_existing_output(coins_vqa: Path, tmp_path: Path) -> None:
    with pytest.raises(DsconvError, match="unknown export format"):
        export_dataset(coins_vqa, "csv", tmp_path / "x")
    (tmp_path / "taken").mkdir()
    with pytest.raises(DsconvError, match="already exists"):
        export_dataset(coins_vqa, "jsonl", tmp_path / "taken")


def test_image_file_names_are_safe_and_unique() -> None:
    jpeg = b"\xff\xd8\xff\xe0rest"
    used: set[str] = set()
    for path in ["a/b/photo.jpg", "c/photo.jpg", "../../etc/passwd", None, "annotations.jsonl"]:
        name = _file_name({"image_id": "id/7", "image": {"bytes": jpeg, "path": path}}, used)
        assert "/" not in name and not name.startswith(".") and name not in used
        used.add(name)
    assert used == {"photo.jpg", "photo-1.jpg", "passwd", "id_7.jpg", "id_7-1.jpg"}


def test_messages_card_splits_are_what_datasets_reads(coins_vqa: Path, tmp_path: Path) -> None:
    """Without num_bytes, `datasets` ignored the card's splits: "The `splits` field in YAML is
    malformed or missing the name/num_examples/num_bytes fields"."""
    import yaml

    out = tmp_path / "chat"
    assert run_cli("export", coins_vqa, "--to", "messages", out).exit_code == 0
    text = (out / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text[4:text.index("\n---\n", 4)])
    splits = datasets.splits.SplitDict._from_yaml_list(meta["dataset_info"]["splits"])
    for split in SPLITS:
        assert splits[split].num_examples == len(list(iter_rows(coins_vqa, split)))
        assert splits[split].num_bytes > 0

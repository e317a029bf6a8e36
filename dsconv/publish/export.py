"""Write a dsconv dataset in the layouts other VLM fine-tuning tools read.

- `jsonl`: one folder per split holding `annotations.jsonl` (`{"image", "prefix", "suffix"}`
  a line: the image's file name, the question, the answer) and the images as files.
- `messages`: the chat layout TRL's SFT trainer reads, as Parquet in the `datasets` layout:
  `messages` (a user turn with an image placeholder and the question, an assistant turn with
  the answer) and `images` (the one image), plus the row `id`.

Both are written into a temporary folder renamed into place when complete, like a conversion.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import yaml

from dsconv.errors import DsconvError
from dsconv.pipeline.markdown import md_code, md_text
from dsconv.progress import Progress, no_progress
from dsconv.storage.dataset import count_rows, iter_rows, shard_paths
from dsconv.storage.layout import ANNOTATIONS_FILE, CARD_FILE, DATA_DIR
from dsconv.storage.writer import DatasetWriter

FORMATS = ("jsonl", "messages")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_FORMAT_SUFFIX = {b"\xff\xd8\xff": ".jpg", b"\x89PNG": ".png", b"GIF8": ".gif", b"BM": ".bmp"}

T = TypeVar("T")


@dataclass
class ExportResult:
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)


def export_dataset(
    dataset_dir: Path, to: str, out: Path, *, overwrite: bool = False,
    progress: Progress = no_progress,
) -> ExportResult:
    if to not in FORMATS:
        raise DsconvError(f"unknown export format {to!r} (choose from {', '.join(FORMATS)})")
    splits = shard_paths(dataset_dir)
    if to == "jsonl":
        return _export_jsonl(dataset_dir, list(splits), out, overwrite, progress)
    return _export_messages(dataset_dir, list(splits), out, overwrite, progress)


@cache
def messages_features():  # -> datasets.Features; `datasets` is slow to import
    from datasets import Features, Image, List, Value

    text_part = {"type": Value("string"), "text": Value("string")}
    return Features({
        "id": Value("string"),
        "messages": List({"role": Value("string"), "content": List(text_part)}),
        "images": List(Image()),
    })


def messages_row(row: dict[str, Any]) -> dict[str, Any]:
    """One dsconv row as a TRL conversation: the image in `images`, a placeholder in the turn."""
    return {
        "id": row["id"],
        "messages": [
            {"role": "user", "content": [{"type": "image"},
                                         {"type": "text", "text": row["question"]}]},
            {"role": "assistant", "content": [{"type": "text", "text": row["answer"]}]},
        ],
        "images": [row["image"]],
    }


def _export_messages(
    dataset_dir: Path, splits: list[str], out: Path, overwrite: bool, progress: Progress,
) -> ExportResult:
    result = ExportResult(out)
    schema = messages_features().arrow_schema
    with DatasetWriter(out, overwrite=overwrite, schema=schema, sources=[dataset_dir]
                       ) as writer:
        for split in splits:
            for row in progress(iter_rows(dataset_dir, split, batch_size=64),
                                _count(dataset_dir, split), split):
                writer.write(split, messages_row(row))
            result.rows[split] = writer.rows(split)
            result.images[split] = result.rows[split]
        writer.finish_splits()
        writer.write_text(CARD_FILE, _messages_card(dataset_dir, splits, result.rows,
                                                    writer.nbytes))
        writer.commit()
    return result


def _export_jsonl(
    dataset_dir: Path, splits: list[str], out: Path, overwrite: bool, progress: Progress,
) -> ExportResult:
    result = ExportResult(out)
    with DatasetWriter(out, overwrite=overwrite, sources=[dataset_dir]) as writer:
        (writer.tmp / DATA_DIR).rmdir()
        for split in splits:
            folder = writer.tmp / split
            folder.mkdir()
            names: dict[str, str] = {}  # image_id → file name
            rows = 0
            with (folder / ANNOTATIONS_FILE).open("w", encoding="utf-8") as lines:
                for row in progress(iter_rows(dataset_dir, split, batch_size=64),
                                    _count(dataset_dir, split), split):
                    name = names.get(row["image_id"])
                    if name is None:
                        name = names[row["image_id"]] = _file_name(row, set(names.values()))
                        (folder / name).write_bytes(row["image"]["bytes"])
                    record = {"image": name, "prefix": row["question"], "suffix": row["answer"]}
                    lines.write(json.dumps(record, ensure_ascii=False) + "\n")
                    rows += 1
            result.rows[split], result.images[split] = rows, len(names)
        writer.commit()
    return result


def _file_name(row: dict[str, Any], used: set[str]) -> str:
    """The source file's name when it is free and safe, else one made from the image id."""
    path = (row["image"].get("path") or "").replace("\\", "/")
    name = _UNSAFE.sub("_", PurePosixPath(path).name).lstrip(".")
    if not name or name == ANNOTATIONS_FILE:
        name = _UNSAFE.sub("_", row["image_id"]).lstrip(".") + _suffix(row["image"]["bytes"])
    stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
    candidate, k = name, 1
    while candidate in used or candidate == ANNOTATIONS_FILE:
        candidate, k = f"{stem}-{k}{suffix}", k + 1
    return candidate


def _suffix(data: bytes) -> str:
    return next((s for magic, s in _FORMAT_SUFFIX.items() if data.startswith(magic)), ".img")


def _count(dataset_dir: Path, split: str) -> int:
    return count_rows(shard_paths(dataset_dir, split)[split])


def _messages_card(dataset_dir: Path, splits: list[str], rows: dict[str, int],
                   nbytes: dict[str, int]) -> str:
    meta = {
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"{DATA_DIR}/{s}-*"} for s in splits]}],
        "dataset_info": {
            "features": messages_features()._to_yaml_list(),
            # `datasets` ignores a split list without num_bytes, with a warning
            "splits": [{"name": s, "num_bytes": nbytes.get(s, 0), "num_examples": rows[s]}
                       for s in splits],
        },
        "task_categories": ["visual-question-answering"],
        "tags": ["dsconv", "vqa", "trl", "conversational"],
    }
    name = dataset_dir.resolve().name
    return (f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n"
            f"# {md_text(name)} (chat layout)\n\n"
            f"Exported by {md_code(f'dsconv export {name} --to messages')}: one "
            "conversation a row (`messages`, with an image placeholder in the user turn) and "
            "its image (`images`), the layout TRL's `SFTTrainer` reads for vision-language "
            "models. `id` is the row id in the source dataset.\n")


def export(
    path: str | Path, out: str | Path, *, to: str = "messages", overwrite: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the dataset in a layout other fine-tuning tools read: `messages` (the chat
    layout TRL's SFTTrainer reads, as Parquet with a card) or `jsonl` (image files plus
    `image`/`prefix`/`suffix` JSON Lines, as PaliGemma and Florence-2 notebooks read).

    Example:
        >>> import dsconv
        >>> dsconv.export("out/coins-vqa", "out/coins-chat", to="messages").rows["train"]
        38
    """
    return export_dataset(Path(path), to, Path(out), overwrite=overwrite,
                          progress=progress or no_progress)

"""Rows in, answers out: the one place dataset rows meet an adapter's `generate`.

The per-epoch validation of `dsconv train` and `dsconv eval` both ask the model through here,
so they decode images the same way and get the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from dsconv.errors import DsconvError
from dsconv.models.base import ModelAdapter
from dsconv.storage.images import decode_image as upright_rgb


def decode_image(value: dict | Image.Image, where: str) -> Image.Image:
    """RGB pixels from the row's `{bytes, path}` struct."""
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    data = value.get("bytes")
    if data is None:
        path = value.get("path")
        if not path or not Path(path).is_file():
            raise DsconvError(f"{where}: image has neither bytes nor a readable path")
        data = Path(path).read_bytes()
    return upright_rgb(data)


def generate_answers(
    adapter: ModelAdapter, batches: Iterable[list[dict[str, Any]]], max_new_tokens: int
) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
    """Each batch of rows (decoded `image`, `question`) with the adapter's answers to it.

    The one place rows meet `generate`, so the per-epoch validation and `dsconv eval` ask the
    model the same way and get the same answers.
    """
    adapter.model.eval()
    for batch in batches:
        images, questions = [r["image"] for r in batch], [r["question"] for r in batch]
        yield batch, adapter.generate(images, questions, max_new_tokens=max_new_tokens)

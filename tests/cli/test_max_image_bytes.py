"""`--max-image-bytes` on every conversion command: image files over it are dropped unread."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer.main
from PIL import Image

from dsconv.cli.app import app
from dsconv.storage.dataset import read_report
from dsconv.storage.files import MAX_IMAGE_BYTES
from tests.helpers import run_cli


@pytest.mark.parametrize("command", ["coco-to-vqa", "yolo-to-vqa", "voc-to-vqa", "convert",
                                     "docvqa-to-vqa"])
def test_every_conversion_command_has_the_option(command: str) -> None:
    params = {p.name: p for p in typer.main.get_command(app).commands[command].params}
    option = params["max_image_bytes"]
    assert option.opts == ["--max-image-bytes"] and option.metavar == "BYTES"
    assert option.default == MAX_IMAGE_BYTES


def test_document_pages_over_the_limit_are_dropped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pages").mkdir(parents=True)
    for name, size in (("small.jpg", (16, 12)), ("big.png", (300, 200))):
        buffer = io.BytesIO()
        Image.effect_noise(size, 80).convert("RGB").save(buffer, name[-3:].replace("jpg", "jpeg"))
        (src / "pages" / name).write_bytes(buffer.getvalue())
    (src / "val.jsonl").write_text("".join(
        json.dumps({"image": f"pages/{name}", "question": "q?", "answers": ["a"]}) + "\n"
        for name in ("small.jpg", "big.png")))
    limit = (src / "pages" / "small.jpg").stat().st_size
    out = tmp_path / "out"
    result = run_cli("docvqa-to-vqa", src, out, "--max-image-bytes", limit)
    assert result.exit_code == 0, result.output
    report = read_report(out)
    assert report["splits"]["validation"]["rows"] == 1
    (drop,) = report["drops"]
    assert "limit" in drop["detail"]

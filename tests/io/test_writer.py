from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsconv.errors import DsconvError
from dsconv.io.writer import TEMP_PREFIX, DatasetWriter
from tests.helpers import run_cli


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_refuses_existing_output_without_overwrite(coins_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_cli("coco-to-vqa", coins_dir, out)
    assert isinstance(result.exception, DsconvError)
    assert "--overwrite" in str(result.exception)
    assert (out / "keep.txt").read_text() == "mine"


def test_overwrite_replaces_and_leaves_no_temp(coins_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "conversion_report.json").write_text("{}")  # an old dsconv dataset
    (out / "old.txt").write_text("old")
    assert run_cli("coco-to-vqa", coins_dir, out, "--overwrite").exit_code == 0
    assert not (out / "old.txt").exists()
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_two_runs_give_identical_bytes(coins_dir: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert run_cli("coco-to-vqa", coins_dir, tmp_path / name).exit_code == 0
    a, b = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert {k: v for k, v in a.items() if k != "README.md"} == {
        k: v for k, v in b.items() if k != "README.md"}


def test_error_mid_write_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), DatasetWriter(out) as writer:
        writer.write_text("x.txt", "partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_killed_run_leaves_target_absent_and_next_run_cleans_up(
    coins_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    script = (
        "import sys, time; import dsconv.convert as c; from dsconv.cli import main\n"
        "orig = c.detection_rows\n"
        "def slow(*a, **k):\n    time.sleep(0.2)\n    yield from orig(*a, **k)\n"
        "c.detection_rows = slow\n"
        f"sys.argv = ['dsconv', 'coco-to-vqa', {str(coins_dir)!r}, {str(out)!r}]\nmain()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 30
    while not any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir()):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    assert run_cli("coco-to-vqa", coins_dir, out).exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_row_groups_are_cut_by_image_bytes_too(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """100 rows a group, or fewer when their images pass the byte budget: a group is held in
    memory while it is written, so large photos must not make groups of hundreds of MB."""
    import pyarrow.parquet as pq

    from dsconv.io import writer as writer_module

    monkeypatch.setattr(writer_module, "IMAGE_BYTES_PER_GROUP", 10_000)
    row = {"id": "", "image": {"bytes": b"x" * 3_000, "path": "a.jpg"}, "image_id": "0",
           "width": 1, "height": 1, "objects": {"bbox": [], "category": []}, "task": "t",
           "question": "q", "answer": "a", "answers": ["a"]}
    with DatasetWriter(tmp_path / "out") as writer:
        for i in range(9):
            writer.write("train", {**row, "id": str(i)})
        (shard,) = writer.finish_splits()["train"]
        writer.commit()
    parquet = pq.ParquetFile(tmp_path / "out" / "data" / shard)
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert sizes == [4, 4, 1]  # 4 × 3,000 bytes passes 10,000

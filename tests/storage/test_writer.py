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
from dsconv.storage.target import TEMP_PREFIX
from dsconv.storage.writer import DatasetWriter
from tests.helpers import assert_one_line_error, run_cli, run_main


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
        "import sys, time; import dsconv.pipeline.convert as c; from dsconv.cli import main\n"
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

    from dsconv.storage import writer as writer_module

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


# --- OUT never overlaps a source; --overwrite replaces only what dsconv wrote ------------

def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("where", ["holds SRC", "is SRC", "inside SRC"])
def test_overwrite_never_deletes_the_source(where: str, tmp_path: Path) -> None:
    """`dsconv coco-to-vqa p/src p --overwrite` deleted p/src and p/notes.txt."""
    from dsconv.samples.coins import write_coins

    p = tmp_path / "p"
    write_coins(p / "src", images=3, seed=0)
    (p / "notes.txt").write_text("x")
    (p / "src" / "out").mkdir()
    (p / "src" / "out" / "conversion_report.json").write_text("{}")  # looks like an output
    out = {"holds SRC": p, "is SRC": p / "src", "inside SRC": p / "src" / "out"}[where]
    before = _tree(tmp_path)
    result = run_main("coco-to-vqa", p / "src", out, "--overwrite")
    assert_one_line_error(result, "overlaps the source")
    assert _tree(tmp_path) == before


def test_overwrite_never_deletes_a_local_document_source(tmp_path: Path) -> None:
    from dsconv.samples.docs import write_docs

    write_docs(tmp_path / "docs", documents=3, seed=0)
    before = _tree(tmp_path)
    result = run_main("docvqa-to-vqa", tmp_path / "docs", tmp_path, "--overwrite")
    assert_one_line_error(result, "overlaps the source")
    assert _tree(tmp_path) == before


def test_export_and_merge_refuse_an_output_holding_their_input(coins_vqa: Path,
                                                               tmp_path: Path) -> None:
    import shutil

    dataset = shutil.copytree(coins_vqa, tmp_path / "p" / "coins-vqa")
    before = _tree(tmp_path)
    assert_one_line_error(run_main("export", dataset, "--to", "jsonl", tmp_path / "p",
                                   "--overwrite"), "overlaps the source")
    assert_one_line_error(run_main("merge", dataset, tmp_path, "--overwrite"),
                          "overlaps the source")
    assert _tree(tmp_path) == before


def test_overwrite_refuses_a_folder_dsconv_did_not_write(coins_dir: Path,
                                                         tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "photos").mkdir(parents=True)
    (home / "thesis.tex").write_text("years of work")
    before = _tree(tmp_path)
    result = run_main("coco-to-vqa", coins_dir, home, "--overwrite")
    assert_one_line_error(result, "--overwrite replaces only")
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("layout", ["dataset", "messages export", "jsonl export", "empty"])
def test_overwrite_replaces_what_dsconv_wrote(layout: str, coins_vqa: Path,
                                              tmp_path: Path) -> None:
    out = tmp_path / "out"
    if layout == "dataset":
        assert run_main("export", coins_vqa, "--to", "jsonl", tmp_path / "j").exit_code == 0
        assert run_main("coco-to-vqa", tmp_path / "j", out).exit_code == 1  # not COCO
        out.mkdir()
        (out / "conversion_report.json").write_text("{}")
    elif layout == "empty":
        out.mkdir()
    else:
        to = "messages" if layout == "messages export" else "jsonl"
        assert run_main("export", coins_vqa, "--to", to, out).exit_code == 0
    result = run_main("export", coins_vqa, "--to", "jsonl", out, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert (out / "train" / "annotations.jsonl").is_file()


def test_output_that_is_the_current_folder_is_refused(coins_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "conversion_report.json").write_text("{}")
    before = _tree(tmp_path)
    monkeypatch.chdir(work)
    assert_one_line_error(run_main("coco-to-vqa", coins_dir, ".", "--overwrite"),
                          "current folder")
    monkeypatch.chdir(work / "sub")
    assert_one_line_error(run_main("coco-to-vqa", coins_dir, "..", "--overwrite"),
                          "current folder")
    assert _tree(tmp_path) == before


def test_unwritable_output_is_a_one_line_error(coins_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    result = run_main("coco-to-vqa", coins_dir, tmp_path / "file" / "out")
    assert_one_line_error(result, "cannot write there")
    assert _tree(tmp_path) == ["file"]


def test_symlinked_output_is_replaced_through_the_link(coins_dir: Path, tmp_path: Path) -> None:
    """--overwrite of OUT, a symlink to a dataset, left `.dsconv-tmp-…-old-OUT` behind."""
    real, link = tmp_path / "disk" / "coins-vqa", tmp_path / "coins-vqa"
    assert run_main("coco-to-vqa", coins_dir, real).exit_code == 0
    (real / "stale.txt").write_text("from the old dataset")
    link.symlink_to(real, target_is_directory=True)
    result = run_main("coco-to-vqa", coins_dir, link, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert (real / "conversion_report.json").is_file() and not (real / "stale.txt").exists()
    assert not [p for p in tmp_path.rglob(f"{TEMP_PREFIX}*")]


# --- temp folders: only this host's provably dead ones are cleaned up ---------------------

def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_stale_temp_cleanup_spares_other_hosts_and_locked_folders(tmp_path: Path) -> None:
    import fcntl

    from dsconv.storage.target import HOST, LOCK_FILE

    dead = _dead_pid()
    names = {
        "mine, dead": f"{TEMP_PREFIX}{HOST}-{dead}-abc",
        "mine, dead, locked": f"{TEMP_PREFIX}{HOST}-{dead}-def",
        "mine, alive": f"{TEMP_PREFIX}{HOST}-{os.getpid()}-ghi",
        "other host, dead": f"{TEMP_PREFIX}{HOST}x-{dead}-jkl",
        "other host's old dataset": f"{TEMP_PREFIX}other_node-{dead}-old-out",
        "no host (an older dsconv's)": f"{TEMP_PREFIX}{dead}-mno",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "part.parquet").write_text("work in progress")
    lock = os.open(tmp_path / names["mine, dead, locked"] / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as a live writer in another pid namespace holds it
    try:
        with DatasetWriter(tmp_path / "out") as writer:
            writer.abort()
    finally:
        os.close(lock)
    kept = {label for label, name in names.items() if (tmp_path / name).exists()}
    assert kept == set(names) - {"mine, dead"}


def test_a_running_writer_holds_its_temp_folder_lock(tmp_path: Path) -> None:
    from dsconv.storage.target import HOST, LOCK_FILE, _locked

    with DatasetWriter(tmp_path / "out") as writer:
        assert writer.tmp.name.startswith(f"{TEMP_PREFIX}{HOST}-{os.getpid()}-")
        assert _locked(writer.tmp / LOCK_FILE)
        writer.commit()
    assert not (tmp_path / "out" / LOCK_FILE).exists()
    assert _tree(tmp_path) == ["out", "out/data"]


def test_overwrite_refuses_a_hub_dataset_that_dsconv_did_not_write(coins_vqa: Path,
                                                                   tmp_path: Path) -> None:
    """A downloaded Hub dataset has a card and data/ too, but not dsconv's tag."""
    from dsconv.samples.docs import write_docs

    hub = tmp_path / "DocumentVQA"
    write_docs(hub, documents=3, seed=0)
    (hub / "README.md").write_text("---\ntags:\n- vqa\n---\n# DocumentVQA\n")
    before = _tree(tmp_path)
    result = run_main("export", coins_vqa, "--to", "jsonl", hub, "--overwrite")
    assert_one_line_error(result, "--overwrite replaces only")
    assert _tree(tmp_path) == before

"""The README's Python API block runs as written (offline, on the CPU)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_block(heading: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_python_api_block_runs(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    code = _python_block("Python API")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("{") and 0.0 <= float(lines[-1]) <= 1.0
    assert (tmp_path / "runs" / "coins" / "final").is_dir()


def test_the_output_tree_lists_every_file_a_conversion_writes(tmp_path: Path) -> None:
    import dsconv

    dsconv.sample_coins(tmp_path / "coins")
    out = tmp_path / "coins-vqa"
    dsconv.convert(tmp_path / "coins", out, noun="currency")
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    tree = text.split("out/coins-vqa/\n", 1)[1].split("```", 1)[0]
    listed = sorted(line.split()[0] for line in tree.splitlines() if line.strip())
    assert listed == written


def test_the_short_tour_runs_line_by_line(tmp_path: Path) -> None:
    """Every command of "A short tour" but the installs, as written, in a fresh folder."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## A short tour\n", 1)[1].split("```", 2)[1]
    commands = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    commands = [c for c in commands if c and not c.startswith(("pip ", "#"))]
    assert commands[0].startswith("dsconv sample coins")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    for command in commands:
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, (command, done.stderr[-2000:])
    assert "train: Dataset" in done.stdout and "num_rows" in done.stdout

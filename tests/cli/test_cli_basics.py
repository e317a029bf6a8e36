from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

COMMANDS = [
    "coco-to-vqa", "yolo-to-vqa", "voc-to-vqa", "convert", "docvqa-to-vqa", "merge", "validate",
    "stats", "preview", "push", "export", "card", "pull roboflow", "train", "eval", "score",
    "sample coins", "sample docs", "tasks", "formats", "detect",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run_cli(*command.split(), "--help")
    assert result.exit_code == 0
    assert "Example" in result.output


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "annotations.json"
    bad.write_text("{ not json")
    proc = subprocess.run(
        [sys.executable, "-m", "dsconv", "coco-to-vqa", str(bad), str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and f"{bad}:1:" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_conversion_does_not_import_torch(coins_dir: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from dsconv.cli import main\n"
        f"sys.argv = ['dsconv', 'coco-to-vqa', {str(coins_dir)!r}, {str(tmp_path / 'o')!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)

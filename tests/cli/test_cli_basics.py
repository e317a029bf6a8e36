from __future__ import annotations

import subprocess
import sys
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_one_line_error, run_cli, run_main

COMMANDS = [
    "coco-to-vqa", "yolo-to-vqa", "voc-to-vqa", "convert", "docvqa-to-vqa", "merge", "validate",
    "stats", "preview", "push", "export", "card", "pull roboflow", "train", "eval", "score",
    "sample coins", "sample docs", "sample model", "tasks", "formats", "detect", "dota-to-vqa",
    "labelme-to-vqa", "cvat-to-vqa", "labelstudio-to-vqa", "hf-to-vqa", "pull", "sample",
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


def _typer_0_24_resolve_command(self: Any, ctx: Any, args: list[str]) -> Any:
    """What typer 0.20–0.24 did with click 8.4+: click raised `NoSuchCommand`, which suggests
    close names itself, and typer added its own suggestion to the message."""
    import click
    import typer.core

    usage_error = getattr(typer.core, "_click", click).exceptions.UsageError

    class NoSuchCommand(usage_error):  # click 8.4's
        def __init__(self, name: str, possibilities: list[str], ctx: Any) -> None:
            super().__init__(f"No such command {name!r}.", ctx)
            self.possibilities = get_close_matches(name, possibilities)

        def format_message(self) -> str:
            if not self.possibilities:
                return self.message
            return f"{self.message} Did you mean {', '.join(map(repr, self.possibilities))}?"

    command = self.get_command(ctx, args[0])
    if command is not None:
        return args[0], command, args[1:]
    error = NoSuchCommand(args[0], list(self.commands), ctx)
    matches = get_close_matches(args[0], list(self.commands))  # typer's own suggestion
    if matches:
        names = ", ".join(map(repr, matches))
        error.message = f"{error.message.rstrip('.')}. Did you mean {names}?"
    raise error


@pytest.mark.parametrize("typer_version", ["installed", "0.20-0.24"])
def test_a_mistyped_command_is_suggested_once(typer_version: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.core import TyperGroup

    if typer_version != "installed":
        monkeypatch.setattr(TyperGroup, "resolve_command", _typer_0_24_resolve_command)
    for typo, command in (("stat", "stats"), ("valdate", "validate")):
        result = run_main(typo)
        assert result.exit_code == 2
        assert result.stderr.count("Did you mean") == 1, result.stderr
        assert f"'{command}'" in result.stderr
    result = run_main("sample", "coin")
    assert result.stderr.count("Did you mean") == 1, result.stderr


def test_out_of_memory_is_one_line_and_leaves_nothing(coins_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import dsconv.pipeline.convert

    real = dsconv.pipeline.convert.detection_rows
    calls = []

    def exhausted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > 3:
            raise MemoryError
        return real(*args, **kwargs)

    monkeypatch.setattr(dsconv.pipeline.convert, "detection_rows", exhausted)
    result = run_main("coco-to-vqa", coins_dir, tmp_path / "out")
    assert_one_line_error(result, "out of memory", "smaller input")
    assert list(tmp_path.iterdir()) == []


def test_an_os_error_is_one_line(coins_vqa: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    result = run_main("preview", coins_vqa, "--out", tmp_path / "file" / "p.html")
    assert_one_line_error(result, str(tmp_path / "file"))

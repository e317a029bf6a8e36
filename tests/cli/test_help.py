"""Every command's help reads at 80 columns: option names whole, flags without placeholders."""

from __future__ import annotations

import re

import pytest
import typer

from dsconv.cli.app import app
from tests.cli.test_cli_basics import COMMANDS
from tests.helpers import run_cli


def _command(path: str):
    group = typer.main.get_command(app)
    command = group
    for name in path.split():
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


@pytest.mark.parametrize("path", COMMANDS)
def test_help_at_80_columns_shows_every_option_name_whole(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli(*path.split(), "--help")
    assert result.exit_code == 0, result.output
    text = result.output
    assert max(len(line) for line in text.splitlines()) <= 80
    names = [o for p in _command(path).params for o in (*p.opts, *p.secondary_opts)
             if o.startswith("--")]
    for name in names:
        assert re.search(rf"{re.escape(name)}(?![\w-])", text), f"{name} is not shown whole"
    assert "<bool>" not in text
    assert "…" not in text.split("Options", 1)[-1].split("\n", 1)[0]
@pytest.mark.parametrize("path", COMMANDS)
def test_flags_are_single_switches(path: str) -> None:
    """`--overwrite`, not `--overwrite / --no-overwrite [default: no-overwrite]`; only a
    three-way option (unset means the model's own default) has both forms."""
    for param in _command(path).params:
        if getattr(param, "is_flag", False) and param.default is not None:
            assert not param.secondary_opts, f"{path}: {param.opts} has {param.secondary_opts}"

import platform
import subprocess
import sys

import pytest

from dsconv.cli.memory import keep_large_blocks_mapped


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_threshold_is_set_on_glibc() -> None:
    assert keep_large_blocks_mapped() is True


def test_the_cli_applies_it() -> None:
    """`main()` sets it before any command runs, whatever the platform says."""
    code = ("import dsconv.cli as cli, sys\n"
            "calls = []\n"
            "cli.keep_large_blocks_mapped = lambda: calls.append(1)\n"
            "sys.argv = ['dsconv', 'formats']\n"
            "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
            "assert calls == [1], calls")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

"""Where a dataset is written: the OUT folder checked before anything is written (never equal
to, inside or around a source; never a folder that is not an old output when it would be
replaced), and the temporary sibling folder it is written into, named for its host and
process and locked while its writer runs, so that cleaning up after killed runs only removes
this host's provably dead ones.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dsconv.errors import DsconvError
from dsconv.storage.files import MAX_TEXT_FILE_BYTES, UnsafeFileError, read_text
from dsconv.storage.layout import (
    ANNOTATIONS_FILE,
    CARD_FILE,
    DATA_DIR,
    REPORT_FILE,
)

try:
    import fcntl
except ImportError:  # Windows: the process id alone tells a live writer
    fcntl = None  # type: ignore[assignment]


TEMP_PREFIX = ".dsconv-tmp-"  # then {host}-{pid}-…; see TempFolder
LOCK_FILE = ".dsconv-lock"  # inside a temp folder, locked by its writer while it runs
HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"


class TempFolder:
    """A temporary folder in `parent`, named `.dsconv-tmp-{host}-{pid}-…` and holding a lock
    file its process keeps locked (`fcntl.flock`) while it lives.

    A folder is removed as a killed run's leftover only when its name is this host's, its
    process is not running and nobody holds its lock: a process id means nothing on another
    machine sharing the filesystem (`--num-shards` parts written side by side), and the lock
    also guards against another pid namespace with the same host name.
    """

    def __init__(self, parent: Path, label: str = "") -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{HOST}-{os.getpid()}-{label}",
                                          dir=parent))
        self._lock: int | None = None
        try:
            self._lock = os.open(self.path / LOCK_FILE,
                                 os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            if fcntl is not None:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a filesystem without locks: the process id still protects it
            pass

    def release(self) -> None:
        """Remove the lock file before the folder becomes a dataset (the pid still guards
        the moment until the rename)."""
        with contextlib.suppress(OSError):
            (self.path / LOCK_FILE).unlink()
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock)
            self._lock = None

    def remove(self) -> None:
        self.release()
        shutil.rmtree(self.path, ignore_errors=True)


def check_target(target: Path, sources: Iterable[Path] = (), *, overwrite: bool) -> Path:
    """Where OUT really is (symlinks followed), after refusing, with a one-line error, an OUT
    whose writing could destroy something else: one that is, holds or lies inside a source;
    the current folder or one that holds it; an existing one without `overwrite`; and with
    it, a non-empty folder that is not a dsconv dataset or export. The one place every
    command that writes a dataset checks its output (a file source counts as the file)."""
    real = check_apart(target, sources)
    cwd = Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        raise DsconvError(f"{target}: is the current folder or holds it; name a new folder "
                          "for the output")
    if not real.exists():
        return real
    if not overwrite:
        raise DsconvError(f"{target} already exists (use --overwrite to replace it)")
    if not real.is_dir():
        raise DsconvError(f"{target} exists and is not a folder")
    if not is_replaceable(real):
        raise DsconvError(f"{target}: --overwrite replaces only an empty folder or one dsconv "
                          f"wrote, and this one holds other files (no {REPORT_FILE}, no dsconv "
                          f"{CARD_FILE} beside {DATA_DIR}/); remove it yourself or choose "
                          "another folder")
    return real


def check_apart(target: Path, sources: Iterable[Path]) -> Path:
    """Where `target` really is, once it is known to be neither a source, nor inside one,
    nor holding one (symlinks followed); a one-line error otherwise. Also for outputs that
    are not datasets (a training run's folder against its dataset)."""
    real = Path(target).resolve()
    for source in sources:
        src = Path(source).resolve()
        if real == src or real in src.parents or src in real.parents:
            raise DsconvError(f"{target}: overlaps the source {source} (is it, lies inside it "
                              "or holds it); write to a new folder apart from the source")
    return real


def is_replaceable(folder: Path) -> bool:
    """Empty, or written by dsconv: a dataset (its report, or a card tagged `dsconv` beside
    `data/`, as `export --to messages` writes) or a JSON Lines export (split folders of
    annotations). A Hub dataset's own card and data/ (a source) is not."""
    try:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if not entries:
            return True
        if (folder / REPORT_FILE).is_file():
            return True
        if (folder / DATA_DIR).is_dir() and _tagged_dsconv(folder / CARD_FILE):
            return True
        return all(p.is_dir() and (p / ANNOTATIONS_FILE).is_file() for p in entries)
    except OSError:
        return False


def _tagged_dsconv(card: Path) -> bool:
    """Whether a dataset card's YAML front matter lists the `dsconv` tag dsconv's cards carry."""
    import yaml

    try:
        text = read_text(card, MAX_TEXT_FILE_BYTES, errors="replace")
        if not text.startswith("---\n") or (end := text.find("\n---", 4)) < 0:
            return False
        meta = yaml.safe_load(text[4:end])
    except (OSError, UnsafeFileError, yaml.YAMLError, RecursionError):
        return False
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return isinstance(tags, list) and "dsconv" in tags


def os_reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def remove_stale_temps(folder: Path) -> None:
    """Remove this host's temp folders whose process is gone (see `TempFolder`)."""
    for path in folder.glob(f"{TEMP_PREFIX}*"):
        host, _, rest = path.name.removeprefix(TEMP_PREFIX).partition("-")
        pid = rest.split("-", 1)[0]
        if host != HOST or not pid.isdigit() or _alive(int(pid)) or _locked(path / LOCK_FILE):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _locked(lock_file: Path) -> bool:
    """Whether a live process holds the lock file's lock (False when there is none)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(lock_file, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops the lock just taken
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

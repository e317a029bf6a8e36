"""Download a dataset version from Roboflow with the `roboflow` package (an optional extra).

The API key comes from `--api-key` or ROBOFLOW_API_KEY and is never printed: the client puts
it in request URLs, so every error that leaves here has it scrubbed. The client prints its
progress on stdout; that goes to stderr so a command's output stays its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsconv.errors import DsconvError
from dsconv.publish.push import one_line, scrub
from dsconv.storage.target import TempFolder

FORMATS = ("coco", "yolov8", "voc")
READERS = {"coco": "coco", "yolov8": "yolo", "voc": "voc"}  # Roboflow format → dsconv reader
FORMAT_NAMES = {reader: export for export, reader in READERS.items()}  # and back
KEY_ENV = "ROBOFLOW_API_KEY"
_REF_RE = re.compile(r"^(?P<workspace>[\w.-]+)/(?P<project>[\w.-]+)/(?:dataset/)?(?P<version>\d+)$")
_NETWORK_ERRORS = {"ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout",
                   "NewConnectionError", "MaxRetryError", "NameResolutionError", "gaierror"}


@dataclass(frozen=True)
class RoboflowRef:
    workspace: str
    project: str
    version: int

    @classmethod
    def parse(cls, text: str) -> RoboflowRef:
        """WORKSPACE/PROJECT/VERSION, or a Roboflow (Universe) URL ending that way."""
        path = re.sub(r"^(https?://)?(app|universe)\.roboflow\.com/", "", text.strip()).strip("/")
        match = _REF_RE.match(path)
        if match is None:
            raise DsconvError(f"{text!r} is not WORKSPACE/PROJECT/VERSION (e.g. "
                              "my-team/coins/3)")
        return cls(match["workspace"], match["project"], int(match["version"]))

    def __str__(self) -> str:
        return f"{self.workspace}/{self.project}/{self.version}"


def resolve_api_key(api_key: str | None) -> str:
    key = api_key or os.environ.get(KEY_ENV)
    if not key:
        raise DsconvError(f"no Roboflow API key: pass --api-key or set {KEY_ENV}")
    return key


def download(ref: RoboflowRef, location: Path, *, fmt: str = "coco",
             api_key: str | None = None) -> Path:
    """Download and unpack one version into `location`; returns the dataset's folder."""
    if fmt not in FORMATS:
        raise DsconvError(f"unknown Roboflow format {fmt!r} (choose from {', '.join(FORMATS)})")
    key = resolve_api_key(api_key)
    try:
        import roboflow
    except ImportError:
        raise DsconvError("pulling from Roboflow needs the roboflow package: pip install "
                          "roboflow (or dsconv's `roboflow` extra)") from None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            client = roboflow.Roboflow(api_key=key)
            version = client.workspace(ref.workspace).project(ref.project).version(ref.version)
            dataset = version.download(fmt, location=str(location), overwrite=True)
    except (Exception, SystemExit) as exc:  # the client raises Runtime, HTTP and OS errors
        raise DsconvError(_explain(exc, ref, key)) from None
    return Path(getattr(dataset, "location", None) or location)


def pull(ref: RoboflowRef, dest: Path, *, fmt: str = "coco", api_key: str | None = None,
         overwrite: bool = False) -> Path:
    """Download into a temporary sibling of `dest`, renamed into place only when complete."""
    if dest.exists() and any(dest.iterdir()) and not overwrite:
        raise DsconvError(f"{dest} is not empty (use --overwrite to replace it)")
    with pulled(ref, fmt, dest.parent, api_key=api_key) as folder:
        if dest.exists():
            shutil.rmtree(dest)
        folder.rename(dest)
    return dest


@contextlib.contextmanager
def pulled(ref: RoboflowRef, fmt: str, near: Path, *, api_key: str | None = None
           ) -> Iterator[Path]:
    """A downloaded copy in a temporary folder inside `near` (the output's disk), then removed.

    Named like the writer's temporary folders, so a killed run's copy is cleaned up by the
    next write there.
    """
    near.mkdir(parents=True, exist_ok=True)
    temp = TempFolder(near, "roboflow-")
    try:
        yield download(ref, temp.path / "download", fmt=fmt, api_key=api_key)
    finally:
        temp.remove()


def _explain(exc: BaseException, ref: RoboflowRef, key: str) -> str:
    text = one_line(scrub(_message(exc), key)) or exc.__class__.__name__
    if _is_network(exc):
        return f"cannot reach Roboflow to download {ref} (no network?): {text}"
    lowered = text.lower()
    if "api key" in lowered or "api_key" in lowered or "unauthorized" in lowered:
        return f"Roboflow rejected the API key ({text})"
    return f"Roboflow has no {ref} that this API key can read ({text})"


def _message(exc: BaseException) -> str:
    """The server's message when the client wrapped its JSON error body, else the error text."""
    body: Any = exc.args[0] if len(exc.args) == 1 else str(exc)
    if isinstance(body, str):
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    if isinstance(body, dict):
        error = body.get("error", body)
        return str(error.get("message", error) if isinstance(error, dict) else error)
    return str(body)


def _is_network(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # the chain of causes, bounded in case it loops
        if seen is None:
            break
        if isinstance(seen, ConnectionError | TimeoutError) or any(
                cls.__name__ in _NETWORK_ERRORS for cls in type(seen).__mro__):
            return True
        seen = seen.__cause__ or seen.__context__
    return False

"""Where a checkpoint or a dataset comes from: a local folder or the Hugging Face Hub.

A name is a local folder or a Hub id. `owner/name` is both a Hub id and a relative path, so a
name that exists on disk is a folder; a name that cannot be a Hub id (`./x`, `/x`, `~/x`,
`a/b/c`, `C:\\x`) is a folder that is missing; anything else is looked up on the Hub.

Before a Hub lookup, one HEAD request with a short deadline asks whether the Hub answers at
all: unreachable, huggingface_hub would retry each file with back-off for 25–53 s before
transformers or datasets gave up with a message that does not say what to do.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dsconv.errors import DsconvError

# How long the reachability probe may take, DNS included (it runs in a thread it abandons).
PROBE_SECONDS = 5.0
OFFLINE_HINT = "set HF_HUB_OFFLINE=1 to use the copy in your local Hugging Face cache"


def is_hub_id(name: str) -> bool:
    """`name` or `owner/name` as the Hub spells repository ids."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def looks_local(name: str) -> bool:
    """A name that can only be a path: it starts with `.`, `/` or `~`, uses the platform's own
    separator, has more than one `/`, or is not a valid Hub id for any other reason."""
    if name.startswith((".", "/", "~")):
        return True
    if any(sep and sep != "/" and sep in name for sep in (os.sep, os.altsep)):
        return True
    return not is_hub_id(name)


def local_path(name: str) -> Path | None:
    """The folder `name` names on disk, `~` expanded, or None when nothing is there."""
    path = Path(name).expanduser()
    return path if path.exists() else None


def hub_unreachable(timeout: float | None = None) -> str | None:
    """Why the Hub did not answer a HEAD request within `timeout` s, or None when it did.

    Any HTTP answer counts as reachable (errors on a repository are the loader's to report).
    In offline mode (HF_HUB_OFFLINE) nothing is sent and loaders read the cache only.
    """
    from huggingface_hub import constants, get_session

    if constants.HF_HUB_OFFLINE:
        return None
    timeout = PROBE_SECONDS if timeout is None else timeout
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            get_session().head(constants.ENDPOINT, timeout=timeout)
            outcome.append(None)
        except Exception as exc:
            outcome.append(first_line(exc))

    thread = threading.Thread(target=probe, name="dsconv-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def check_source(name: str, kind: str, flag: str, revision: str | None = None) -> str:
    """`name` as from_pretrained/load_dataset should get it: an existing folder (its `~`
    expanded) or a Hub id whose Hub answers. Otherwise a one-line error saying what to do.

    `kind` is "model" or "dataset"; `flag` names the option in messages (`--base`).
    """
    path = local_path(name)
    if path is not None:
        return str(path)
    if looks_local(name):
        raise DsconvError(f"{name}: no such folder ({flag} takes a local {kind} folder or a "
                          "Hub id owner/name)")
    reason = hub_unreachable()
    if reason is None:
        return name
    folder = Path(name).parent
    missing = "no such folder, and " if str(folder) != "." and folder.is_dir() else ""
    cached = " (a copy is in your cache)" if _in_cache(name, kind, revision) else ""
    raise DsconvError(
        f"{name}: {missing}the Hugging Face Hub is unreachable ({reason}); {OFFLINE_HINT}"
        f"{cached}, or pass a local {kind} folder ({flag} ./DIR)"
    )


def _in_cache(repo_id: str, kind: str, revision: str | None) -> bool:
    """Whether the Hub cache holds this repository at this revision (its ref or snapshot)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    repo = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type=kind)
    ref = revision or "main"
    return (repo / "refs" / ref).is_file() or (repo / "snapshots" / ref).is_dir()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), for one-line errors."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]

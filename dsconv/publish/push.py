"""Publish a dataset folder to the Hugging Face Hub as a dataset repo.

Only what makes the dataset is uploaded (card, report, shards, card assets), after the
same validation `dsconv validate` runs. The token is never printed: every error that
leaves this module has it scrubbed, and exceptions are not chained to ones that may hold it.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsconv.errors import DsconvError
from dsconv.storage.dataset import REPORT_FILE, shard_paths
from dsconv.storage.layout import CARD_FILE, DATA_DIR
from dsconv.validation import validate_dataset

UPLOAD_PATTERNS = [CARD_FILE, REPORT_FILE, f"{DATA_DIR}/*.parquet", "assets/*"]
# Shards a previous push left that this one does not overwrite would join the configs' globs.
STALE_PATTERNS = [f"{DATA_DIR}/*.parquet", "assets/*"]
LARGE_BYTES = 5 * 1024**3  # above this, upload resumably even without --large
REPO_TYPE = "dataset"


@dataclass
class PushPlan:
    folder: Path
    files: list[str]  # paths in the repo, as uploaded
    nbytes: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class PushResult:
    repo_id: str
    url: str
    large: bool  # uploaded with the separate large-folder uploader
    files: list[str]
    warnings: list[str] = field(default_factory=list)


def plan_push(folder: Path, *, validate: bool = True) -> PushPlan:
    """What would be uploaded; raises if the dataset fails validation (unless `validate=False`)."""
    shard_paths(folder)  # a one-line error when this is not a dataset folder
    warnings: list[str] = []
    if validate:
        result = validate_dataset(folder)
        if not result.ok:
            raise DsconvError(
                f"{folder} fails validation ({len(result.problems)} problems; first: "
                f"{result.problems[0]}): fix it, see `dsconv validate {folder}`, or push with "
                "--no-validate")
        warnings += result.warnings
    if not (folder / CARD_FILE).is_file():
        warnings.append(f"no {CARD_FILE}: write one with `dsconv card {folder}`")
    files = upload_files(folder)
    return PushPlan(folder, files, sum((folder / f).stat().st_size for f in files), warnings)


def upload_files(folder: Path) -> list[str]:
    """Relative paths in the folder that the upload's patterns select, sorted."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and any(fnmatch.fnmatch(relative, p) for p in UPLOAD_PATTERNS):
            found.append(relative)
    return found


def resolve_token(token: str | None) -> str:
    """`--token`, else HF_TOKEN, else the stored login."""
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        from huggingface_hub import get_token

        try:
            token = get_token()
        except Exception:  # an OIDC exchange or an unreadable token file
            token = None
    if not token:
        raise DsconvError("no Hugging Face token: pass --token, set HF_TOKEN or run "
                          "`hf auth login`")
    return token


def push_dataset(
    folder: Path, repo_id: str, *, private: bool = False, revision: str | None = None,
    commit_message: str | None = None, token: str | None = None, validate: bool = True,
    large: bool | None = None, api_factory: Callable[..., Any] | None = None,
) -> PushResult:
    """Create the dataset repo if needed and upload the dataset in one `upload_folder` call."""
    plan = plan_push(folder, validate=validate)
    token = resolve_token(token)
    if api_factory is None:
        from huggingface_hub import HfApi

        api_factory = HfApi
    large = plan.nbytes > LARGE_BYTES if large is None else large
    try:
        result = _upload(api_factory(token=token), plan, repo_id, private=private,
                         revision=revision, commit_message=commit_message, large=large)
    except Exception as exc:  # the Hub client raises HTTP, OS and value errors alike
        reason = one_line(scrub(str(exc), token)) or exc.__class__.__name__
        raise DsconvError(f"push to {repo_id} failed: {reason}") from None
    result.warnings = plan.warnings
    return result


def _upload(
    api: Any, plan: PushPlan, repo_id: str, *, private: bool, revision: str | None,
    commit_message: str | None, large: bool,
) -> PushResult:
    repo_url = api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    named = getattr(repo_url, "repo_id", None)
    repo_id = named if isinstance(named, str) and named else repo_id  # bare name: user's namespace
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True)
    message = commit_message or f"Upload dataset with dsconv ({len(plan.files)} files)"
    upload_large = getattr(api, "upload_large_folder", None) if large else None
    if upload_large is not None:  # huggingface_hub < 1.x: a separate, resumable uploader
        upload_large(repo_id=repo_id, folder_path=str(plan.folder), repo_type=REPO_TYPE,
                     revision=revision, private=private, allow_patterns=UPLOAD_PATTERNS)
    else:  # newer upload_folder resumes by itself and splits huge folders into several commits
        api.upload_folder(repo_id=repo_id, folder_path=str(plan.folder), repo_type=REPO_TYPE,
                          revision=revision, commit_message=message,
                          allow_patterns=UPLOAD_PATTERNS, delete_patterns=STALE_PATTERNS)
    url = str(repo_url) if str(repo_url).startswith("http") else (
        f"https://huggingface.co/datasets/{repo_id}")
    if revision and revision != "main":
        url = f"{url.rstrip('/')}/tree/{revision}"
    return PushResult(repo_id, url, upload_large is not None, plan.files)


def scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def one_line(text: str, limit: int = 400) -> str:
    """An error on one line: the Hub's messages put the useful part on later lines."""
    text = " ".join(text.split())
    return text[:limit] + "…" if len(text) > limit else text


def push(
    path: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
    commit_message: str | None = None, token: str | None = None, validate: bool = True,
    large: bool | None = None,
) -> PushResult:
    """Publish a dsconv dataset to a Hub dataset repo in one commit (created if needed), in
    the layout `datasets.load_dataset(repo_id)` reads as is. A dataset that fails
    `dsconv.validate` is refused unless `validate=False`; the token comes from `token`,
    `HF_TOKEN` or the saved login and never appears in an error.

    Example:
        >>> import dsconv
        >>> dsconv.push("out/coins-vqa", "me/coins-vqa", private=True).url
        'https://huggingface.co/datasets/me/coins-vqa'
    """
    return push_dataset(Path(path), repo_id, private=private, revision=revision,
                        commit_message=commit_message, token=token, validate=validate,
                        large=large)

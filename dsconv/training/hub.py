"""The Hugging Face Hub as the destination of a trained model (`dsconv train --push-to-hub`)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from dsconv.errors import DsconvError
from dsconv.models.sources import first_line


def push_model(folder: Path, repo_id: str, *, private: bool = False) -> str:
    """Create `repo_id` if needed and upload `folder` as one commit; returns the repo URL."""
    api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            repo_type="model",
            folder_path=str(folder),
            commit_message="Upload model trained with dsconv",
        )
    except Exception as exc:
        raise DsconvError(f"push to {repo_id} failed: {first_line(exc)}") from exc
    return str(url)

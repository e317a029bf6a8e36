"""Upload a trained model folder to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from dsconv.errors import DsconvError


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
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DsconvError(f"push to {repo_id} failed: {reason}") from exc
    return str(url)

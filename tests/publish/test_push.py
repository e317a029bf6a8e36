"""`dsconv push`: the Hub calls it makes (mocked; no network) and what the Hub would load."""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path
from unittest import mock

import datasets
import huggingface_hub
import pytest
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoUrl

from dsconv.errors import DsconvError
from dsconv.publish.push import UPLOAD_PATTERNS, push_dataset, upload_files
from tests.helpers import run_cli

TOKEN = "hf_secretTOKENvalue123"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> mock.MagicMock:
    """A fake HfApi class; its instance (`.return_value`) records every call."""
    api = mock.create_autospec(HfApi, instance=True)
    api.create_repo.return_value = RepoUrl("https://huggingface.co/datasets/me/coins-vqa")
    factory = mock.MagicMock(return_value=api)
    monkeypatch.setattr(huggingface_hub, "HfApi", factory)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    return factory


def _uploaded(folder_path: str, allow_patterns: list[str], dest: Path) -> Path:
    """Copy what `upload_folder` would send (its allow patterns) into `dest`, as the repo."""
    source = Path(folder_path)
    for path in source.rglob("*"):
        relative = path.relative_to(source).as_posix()
        if path.is_file() and any(fnmatch.fnmatch(relative, p) for p in allow_patterns):
            (dest / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / relative)
    return dest


def test_push_creates_the_repo_and_uploads_in_one_commit(
    coins_vqa: Path, hub: mock.MagicMock, tmp_path: Path,
) -> None:
    result = run_cli("push", coins_vqa, "me/coins-vqa", "--private", "--revision", "v1",
                     "--commit-message", "first", "--token", TOKEN)
    assert result.exit_code == 0, result.output
    hub.assert_called_once_with(token=TOKEN)
    api = hub.return_value
    api.create_repo.assert_called_once_with("me/coins-vqa", repo_type="dataset", private=True,
                                            exist_ok=True)
    api.create_branch.assert_called_once_with("me/coins-vqa", branch="v1", repo_type="dataset",
                                              exist_ok=True)
    api.upload_folder.assert_called_once()
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["repo_id"] == "me/coins-vqa" and kwargs["repo_type"] == "dataset"
    assert kwargs["revision"] == "v1" and kwargs["commit_message"] == "first"
    assert Path(kwargs["folder_path"]) == coins_vqa
    assert "https://huggingface.co/datasets/me/coins-vqa/tree/v1" in result.output
    assert TOKEN not in result.output

    repo = _uploaded(kwargs["folder_path"], kwargs["allow_patterns"], tmp_path / "repo")
    files = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
    assert files == upload_files(coins_vqa)
    assert {"README.md", "conversion_report.json", "assets/class_histogram.png"} <= set(files)
    assert [f for f in files if f.startswith("data/")] == [
        "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet",
        "data/validation-00000-of-00001.parquet"]

    # Load the would-be repo exactly as the Hub does: from its card's configs.
    report = json.loads((coins_vqa / "conversion_report.json").read_text())
    ds = datasets.load_dataset(str(repo), cache_dir=str(tmp_path / "cache"))
    assert list(ds) == ["train", "validation", "test"]
    assert {name: len(s) for name, s in ds.items()} == {
        name: s["rows"] for name, s in report["splits"].items()}
    assert isinstance(ds["train"].features["image"], datasets.Image)
    assert ds["train"][0]["image"].size == (ds["train"][0]["width"], ds["train"][0]["height"])


def test_push_defaults_public_main_and_token_from_env(
    coins_vqa: Path, hub: mock.MagicMock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = push_dataset(coins_vqa, "coins-vqa")
    hub.assert_called_once_with(token=TOKEN)
    api = hub.return_value
    assert api.create_repo.call_args.kwargs["private"] is False
    api.create_branch.assert_not_called()
    assert api.upload_folder.call_args.kwargs["revision"] is None
    assert api.upload_folder.call_args.kwargs["repo_id"] == "me/coins-vqa"  # the namespaced id
    assert result.url == "https://huggingface.co/datasets/me/coins-vqa"


def test_token_from_the_stored_login(
    coins_vqa: Path, hub: mock.MagicMock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: TOKEN)
    push_dataset(coins_vqa, "me/coins-vqa")
    hub.assert_called_once_with(token=TOKEN)


def test_no_token_is_a_one_line_error(coins_vqa: Path, hub: mock.MagicMock) -> None:
    with pytest.raises(DsconvError, match="no Hugging Face token") as error:
        push_dataset(coins_vqa, "me/coins-vqa")
    assert "\n" not in str(error.value)
    hub.assert_not_called()


def test_hub_errors_never_show_the_token(coins_vqa: Path, hub: mock.MagicMock) -> None:
    hub.return_value.upload_folder.side_effect = OSError(
        f"401 Client Error: Unauthorized\nInvalid credentials in Authorization header "
        f"(Bearer {TOKEN})")
    result = run_cli("push", coins_vqa, "me/coins-vqa", "--token", TOKEN)
    assert result.exit_code != 0
    message = str(result.exception)
    assert isinstance(result.exception, DsconvError)
    assert "401" in message and "\n" not in message
    assert TOKEN not in message and TOKEN not in result.output
    assert result.exception.__cause__ is None and result.exception.__suppress_context__


def test_validation_failure_blocks_the_push(
    coins_vqa: Path, hub: mock.MagicMock, tmp_path: Path,
) -> None:
    broken = shutil.copytree(coins_vqa, tmp_path / "broken")
    report = json.loads((broken / "conversion_report.json").read_text())
    report["splits"]["train"]["rows"] += 1
    (broken / "conversion_report.json").write_text(json.dumps(report))
    result = run_cli("push", broken, "me/coins-vqa", "--token", TOKEN)
    assert result.exit_code != 0
    assert "fails validation" in str(result.exception)
    hub.assert_not_called()

    result = run_cli("push", broken, "me/coins-vqa", "--token", TOKEN, "--no-validate")
    assert result.exit_code == 0, result.output
    hub.return_value.upload_folder.assert_called_once()


def test_dry_run_lists_files_and_sends_nothing(coins_vqa: Path, hub: mock.MagicMock) -> None:
    result = run_cli("push", coins_vqa, "me/coins-vqa", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "data/train-00000-of-00001.parquet" in result.output and "README.md" in result.output
    assert "nothing sent" in result.output
    hub.assert_not_called()


def test_large_uses_the_resumable_uploader(coins_vqa: Path, hub: mock.MagicMock) -> None:
    api = hub.return_value
    if hasattr(HfApi, "upload_large_folder"):
        push_dataset(coins_vqa, "me/coins-vqa", token=TOKEN, large=True, private=True)
        kwargs = api.upload_large_folder.call_args.kwargs
        assert kwargs["repo_type"] == "dataset" and kwargs["private"] is True
        assert kwargs["allow_patterns"] == UPLOAD_PATTERNS
    else:  # huggingface_hub 1.x and later: upload_folder itself resumes and batches commits
        result = push_dataset(coins_vqa, "me/coins-vqa", token=TOKEN, large=True)
        api.upload_folder.assert_called_once()
        assert not result.large

    legacy = mock.MagicMock()  # an older client that has the separate uploader
    legacy.create_repo.return_value = RepoUrl("https://huggingface.co/datasets/me/coins-vqa")
    result = push_dataset(coins_vqa, "me/coins-vqa", token=TOKEN, large=True,
                          api_factory=lambda token: legacy)
    assert result.large
    legacy.upload_folder.assert_not_called()
    kwargs = legacy.upload_large_folder.call_args.kwargs
    assert kwargs["repo_type"] == "dataset" and kwargs["folder_path"] == str(coins_vqa)


def test_stale_shards_on_the_hub_are_replaced(coins_vqa: Path, hub: mock.MagicMock) -> None:
    push_dataset(coins_vqa, "me/coins-vqa", token=TOKEN)
    kwargs = hub.return_value.upload_folder.call_args.kwargs
    assert "data/*.parquet" in kwargs["delete_patterns"]


def test_not_a_dataset_is_refused(tmp_path: Path, hub: mock.MagicMock) -> None:
    with pytest.raises(DsconvError, match="not a dsconv dataset"):
        push_dataset(tmp_path, "me/x", token=TOKEN)
    hub.assert_not_called()

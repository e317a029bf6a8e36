"""Pulling from Roboflow, offline: a fake `roboflow` client records the calls and writes the
coins sample in Roboflow's COCO layout where the real one would unpack its download."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest

from dsconv.errors import DsconvError
from dsconv.publish.roboflow import RoboflowRef
from dsconv.samples.coins import write_coins
from tests.helpers import run_cli

KEY = "rf_SECRETkey42"


# requests' ConnectionError is an OSError, not the builtin ConnectionError: matched by name.
RequestsConnectionError = type("ConnectionError", (OSError,), {})


class FakeClient:
    calls: ClassVar[list[tuple]] = []
    fail: ClassVar[BaseException | None] = None

    def __init__(self, api_key: str) -> None:
        self.calls.append(("Roboflow", api_key))
        if self.fail is not None:
            raise self.fail

    def workspace(self, name: str) -> FakeClient:
        self.calls.append(("workspace", name))
        return self

    def project(self, name: str) -> FakeClient:
        self.calls.append(("project", name))
        if name == "missing":
            raise RuntimeError({"error": {"message": f"Unsupported request. `GET /{name}` does "
                                          "not exist or cannot be loaded.", "type": "GraphMethod"}})
        return self

    def version(self, number: int) -> FakeClient:
        self.calls.append(("version", number))
        return self

    def download(self, model_format: str, location: str, overwrite: bool = False
                 ) -> types.SimpleNamespace:
        self.calls.append(("download", model_format, overwrite))
        print("Downloading Dataset Version Zip")  # the real client talks on stdout
        write_coins(Path(location), images=6, seed=11, fmt="coco")
        return types.SimpleNamespace(location=location)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> type[FakeClient]:
    FakeClient.calls, FakeClient.fail = [], None
    monkeypatch.setitem(sys.modules, "roboflow", types.SimpleNamespace(Roboflow=FakeClient))
    monkeypatch.delenv("ROBOFLOW_API_KEY", raising=False)
    return FakeClient


def test_pull_downloads_with_the_key_and_keeps_it_secret(client: type[FakeClient],
                                                         tmp_path: Path) -> None:
    dest = tmp_path / "coins"
    result = run_cli("pull", "roboflow", "my-team/coins/3", dest, "--api-key", KEY)
    assert result.exit_code == 0, result.output
    assert client.calls == [("Roboflow", KEY), ("workspace", "my-team"), ("project", "coins"),
                            ("version", 3), ("download", "coco", True)]
    assert (dest / "train" / "_annotations.coco.json").is_file()
    assert KEY not in result.output
    assert "dsconv coco-to-vqa" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["coins"]  # no temporary folder left


def test_pull_key_from_env_and_format(client: type[FakeClient], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOFLOW_API_KEY", KEY)
    result = run_cli("pull", "roboflow", "https://universe.roboflow.com/ws/proj/dataset/2",
                     tmp_path / "d", "--format", "yolo")
    assert result.exit_code == 0, result.output
    assert client.calls[0] == ("Roboflow", KEY) and client.calls[-1] == ("download", "yolov8", True)
    assert "dsconv yolo-to-vqa" in result.output
    result = run_cli("pull", "roboflow", "w/p/1", tmp_path / "e", "--format", "yolov8")
    assert result.exit_code == 1 and "choose from coco, yolo, voc" in str(result.exception)


def test_pull_refuses_a_non_empty_folder(client: type[FakeClient], tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = run_cli("pull", "roboflow", "w/p/1", tmp_path, "--api-key", KEY)
    assert "not empty" in str(result.exception)
    assert client.calls == []


def _error(*args: str) -> str:
    result = run_cli(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, DsconvError), result.exception
    message = str(result.exception)
    assert "\n" not in message and KEY not in message and KEY not in result.output
    return message


def test_missing_key(client: type[FakeClient], tmp_path: Path) -> None:
    assert "no Roboflow API key" in _error("pull", "roboflow", "w/p/1", str(tmp_path / "d"))
    assert client.calls == []


def test_unknown_project(client: type[FakeClient], tmp_path: Path) -> None:
    message = _error("pull", "roboflow", "w/missing/1", str(tmp_path / "d"), "--api-key", KEY)
    assert message.startswith("Roboflow has no w/missing/1") and "does not exist" in message
    assert not (tmp_path / "d").exists()


def test_no_network(client: type[FakeClient], tmp_path: Path) -> None:
    client.fail = RequestsConnectionError(
        f"HTTPSConnectionPool(host='api.roboflow.com', port=443): Max retries exceeded with "
        f"url: /?api_key={KEY}\n(Caused by NameResolutionError)")
    message = _error("pull", "roboflow", "w/p/1", str(tmp_path / "d"), "--api-key", KEY)
    assert message.startswith("cannot reach Roboflow") and "***" in message


def test_rejected_key(client: type[FakeClient], tmp_path: Path) -> None:
    client.fail = RuntimeError('{"error": {"message": "This API key does not exist (or has '
                               'been revoked)."}}')
    message = _error("pull", "roboflow", "w/p/1", str(tmp_path / "d"), "--api-key", KEY)
    assert message.startswith("Roboflow rejected the API key")


def test_roboflow_package_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "roboflow", None)  # makes `import roboflow` fail
    message = _error("pull", "roboflow", "w/p/1", str(tmp_path / "d"), "--api-key", KEY)
    assert "pip install roboflow" in message


@pytest.mark.parametrize("text", ["w/p", "w/p/x", "a/b/c/1", ""])
def test_bad_reference(text: str) -> None:
    with pytest.raises(DsconvError, match="WORKSPACE/PROJECT/VERSION"):
        RoboflowRef.parse(text)


def test_coco_to_vqa_from_roboflow_equals_converting_the_download(
    client: type[FakeClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROBOFLOW_API_KEY", KEY)
    out = tmp_path / "out" / "coins-vqa"
    result = run_cli("coco-to-vqa", "--roboflow", "my-team/coins/3", out, "--noun", "currency")
    assert result.exit_code == 0, result.output
    assert client.calls[-1] == ("download", "coco", True)
    assert KEY not in result.output
    assert [p.name for p in out.parent.iterdir()] == ["coins-vqa"]  # the download is gone
    assert "Converted from `roboflow:my-team/coins/3`" in (out / "README.md").read_text()

    local = tmp_path / "local"
    write_coins(local, images=6, seed=11, fmt="coco")  # what the download held
    direct = tmp_path / "direct"
    assert run_cli("coco-to-vqa", local, direct, "--noun", "currency").exit_code == 0
    for path in sorted((direct / "data").iterdir()):
        assert (out / "data" / path.name).read_bytes() == path.read_bytes()
    assert (out / "conversion_report.json").read_bytes() == (
        direct / "conversion_report.json").read_bytes()


def test_coco_to_vqa_roboflow_takes_only_out(client: type[FakeClient], tmp_path: Path) -> None:
    result = run_cli("coco-to-vqa", "--roboflow", "w/p/1", tmp_path / "a", tmp_path / "b")
    assert "give only OUT" in str(result.exception)
    result = run_cli("coco-to-vqa", tmp_path / "a")
    assert "give SRC and OUT" in str(result.exception)
    assert client.calls == []

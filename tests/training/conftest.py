"""Fixtures for the training tests: a tiny Florence-2 checkpoint and tiny VQA datasets.

Everything is built once per session into temporary folders and loaded through the same
`from_pretrained` / `load_dataset` paths a real checkpoint and dataset take.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from dsconv.testing.tiny import build_tiny_florence2, tiny_count_rows, write_tiny_vqa
from dsconv.training.config import TrainConfig


@pytest.fixture(scope="session", autouse=True)
def _quiet_small_cpu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One torch thread (tiny models run slower with two on a busy 2-core box) and a
    `datasets` cache in a temporary folder rather than the user's home."""
    import datasets

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-cache")))
        yield
    torch.set_num_threads(threads)


LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(scope="session", autouse=True)
def _loopback_only() -> Iterator[None]:
    """No training test may reach past this machine: a Hub lookup that slipped through fails
    at once instead of sending a request (DESIGN: tests never reach the network)."""
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def local_connect(sock: socket.socket, address, *args, **kwargs):
        host = address[0] if isinstance(address, tuple) else ""
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not host.startswith(LOOPBACK):
            raise OSError(errno.ENETUNREACH, f"tests reach loopback only, not {host}")
        return connect(sock, address, *args, **kwargs)

    def local_names(host, *args, **kwargs):
        if host is not None and not str(host).startswith(LOOPBACK):
            raise socket.gaierror(socket.EAI_NONAME, f"tests resolve loopback only, not {host}")
        return getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", local_connect)
        mp.setattr(socket, "getaddrinfo", local_names)
        yield


@pytest.fixture(scope="session")
def tiny_florence2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [row["answer"] for row in tiny_count_rows()]
    return build_tiny_florence2(tmp_path_factory.mktemp("tiny-florence2"), texts)


@pytest.fixture(scope="session")
def tiny_vqa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 scenes, each once in `train` and in `validation`."""
    return write_tiny_vqa(tmp_path_factory.mktemp("data") / "tiny-vqa")


@pytest.fixture(scope="session")
def tiny_vqa_x4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same 8 scenes, 4 times each in `train`: 4 optimizer steps an epoch at batch 8."""
    return write_tiny_vqa(tmp_path_factory.mktemp("data") / "tiny-vqa-x4", repeats=4)


@pytest.fixture
def make_config(tiny_florence2: Path, tiny_vqa: Path, tmp_path: Path):
    """A TrainConfig for fast CPU runs on the tiny model; keyword arguments override."""

    def make(**overrides) -> TrainConfig:
        values = {
            "dataset": str(tiny_vqa), "model": "florence2", "output": str(tmp_path / "run"),
            "base": str(tiny_florence2), "epochs": 2, "lr": 1e-3, "batch_size": 4,
            "schedule": "linear", "freeze_vision": False, "workers": 0, "device": "cpu",
            "max_val_items": 8, "log_every": 1, "max_new_tokens": 40,
        }
        values.update(overrides)
        return TrainConfig(**values)

    return make


class NoNetwork:
    """Socket stand-ins: each attempt is counted, then refused, or held until the test ends."""

    def __init__(self) -> None:
        self.attempts = 0
        self.hang = False
        self.released = threading.Event()

    def refuse(self, *args, **kwargs):
        self.attempts += 1
        if self.hang:
            self.released.wait(30)
        raise OSError(errno.ENETUNREACH, "Network is unreachable (test)")

    def no_name(self, *args, **kwargs):
        self.attempts += 1
        if self.hang:
            self.released.wait(30)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (test)")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch):
    net = NoNetwork()
    monkeypatch.setattr(socket, "getaddrinfo", net.no_name)
    monkeypatch.setattr(socket.socket, "connect", net.refuse)
    monkeypatch.setattr(socket, "create_connection", net.refuse)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    yield net
    net.released.set()


@pytest.fixture(scope="session")
def tiny_chat(tmp_path_factory: pytest.TempPathFactory):
    """`tiny_chat(family)`: a tiny checkpoint of a chat family, built once per session."""
    from dsconv.testing.tiny_chat import build_tiny_chat

    built: dict[str, Path] = {}
    texts = [row["answer"] for row in tiny_count_rows()]

    def get(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny_chat(family, tmp_path_factory.mktemp(family), texts)
        return built[family]

    return get

"""Fine-tuning: one loop, one adapter per model family. Needs the `train` extra.

This package's own `__init__` stays free of torch so the CLI can tell a user who installed
plain `dsconv` what to install, instead of showing a ModuleNotFoundError traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dsconv.errors import DsconvError

# What `pip install 'dsconv[train]'` brings (top-level import names).
TRAIN_PACKAGES = frozenset({"torch", "transformers", "accelerate", "tokenizers", "peft",
                            "safetensors"})
INSTALL_HINT = "pip install 'dsconv[train]'"


class MissingExtraError(DsconvError):
    """A command that needs torch and friends ran where they are not installed."""


@contextmanager
def train_extra(command: str) -> Iterator[None]:
    """Turn a missing training package, imported lazily inside `command`, into one line."""
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top not in TRAIN_PACKAGES:
            raise
        raise MissingExtraError(
            f"dsconv {command} needs the train extra ({top} is not installed): {INSTALL_HINT} "
            "(pin the torch build you want first, e.g. pip install torch==2.13.0)"
        ) from exc

"""Progress reporting the caller chooses: the library never prints.

A `Progress` wraps an iterable of work items and yields them back, showing whatever it likes
meanwhile: the CLI passes a rich bar (`dsconv.cli.app.progress`), a notebook `tqdm_progress`,
a test nothing (`no_progress`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
Progress = Callable[[Iterable[Any], int | None, str], Iterable[Any]]


def no_progress(items: Iterable[T], total: int | None, label: str) -> Iterable[T]:
    return items


def tqdm_progress(items: Iterable[T], total: int | None, label: str) -> Iterable[T]:
    """One tqdm bar per stage (tqdm.auto picks the notebook widget or the terminal bar).

    Example:
        >>> import dsconv
        >>> dsconv.convert("data/coins", "out/coins-vqa", progress=dsconv.tqdm_progress)
    """
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=label)

"""Worker processes for the CPU-bound steps (resizing, deep image checks), order kept.

Results come back in input order and at most a window of items is in flight, so memory stays
flat on any dataset and the output is byte for byte what one process writes. With one worker
nothing is started: jobs run inline, in the calling process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any, TypeVar

from dsconv.errors import DsconvError

T = TypeVar("T")
WINDOW_PER_WORKER = 8  # items in flight per worker: enough to hide one slow image


def available_cores() -> int:
    """Cores this process may run on (a Slurm or container CPU limit, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None) -> int:
    """`--workers` as given, or every available core when it is not."""
    if workers is not None and workers < 1:
        raise DsconvError(f"--workers {workers}: give 1 or more")
    return available_cores() if workers is None else workers


class Workers:
    """A pool of `count` processes, started on entering the `with` block (or on the first
    job), or inline work in this process when `count` is 1.

    Example:
        with Workers(2) as workers:
            for item, size in workers.in_order((i, workers.submit(len, i)) for i in items):
                ...
    """

    def __init__(self, count: int, initializer: Callable[[], None] | None = None) -> None:
        self.count = max(1, count)
        self.window = WINDOW_PER_WORKER * self.count
        self.initializer = initializer  # run once in each worker process
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the workers now, before the caller starts threads (pyarrow's, a progress
        bar's): on Linux they are forked, and forking a process that runs threads can
        deadlock. The objects the parent holds are frozen for the fork so that the workers'
        garbage collector never touches (and so copies) a large annotation index."""
        if self.count == 1 or self._pool is not None:
            return
        self._pool = ProcessPoolExecutor(self.count, mp_context=_context(),
                                         initializer=self.initializer)
        gc.freeze()
        try:
            self._pool.submit(os.getpid).result()
        finally:
            gc.unfreeze()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run `fn(*args)` in a worker (inline with one worker); `fn` must be importable."""
        if self.count == 1:
            done: Future[T] = Future()
            done.set_result(fn(*args))
            return done
        self.start()
        assert self._pool is not None
        return self._pool.submit(fn, *args)

    def in_order(self, entries: Iterable[tuple[T, Future[Any] | None]]
                 ) -> Iterator[tuple[T, Any]]:
        """(item, future or None) → (item, result or None), in input order, at most `window`
        items held; items without a job wait only for the jobs before them."""
        pending: deque[tuple[T, Future[Any] | None]] = deque()
        for entry in entries:
            pending.append(entry)
            while pending and (len(pending) > self.window or _ready(pending[0][1])):
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Workers:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _ready(future: Future[Any] | None) -> bool:
    return future is None or future.done()


def _result(item: T, future: Future[Any] | None) -> tuple[T, Any]:
    if future is None:
        return item, None
    try:
        return item, future.result()
    except BrokenProcessPool:
        raise DsconvError("a worker process died (killed, or out of memory?); retry with "
                          "fewer --workers") from None


def _context() -> multiprocessing.context.BaseContext:
    """Fork on Linux: a worker is ready in milliseconds and does not re-import the caller's
    main module (which spawn does, and which an unguarded script cannot survive). Elsewhere
    fork is unsafe (macOS system libraries) or missing (Windows): spawn."""
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")

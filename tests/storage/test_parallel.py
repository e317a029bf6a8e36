"""`dsconv.storage.parallel.Workers`: results in input order, a bounded window, no pool for one."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future

from dsconv.storage.parallel import Workers, resolve_workers


def test_results_come_back_in_input_order_with_pass_throughs() -> None:
    with Workers(2) as workers:
        entries = ((i, workers.submit(pow, i, 2) if i % 3 else None) for i in range(50))
        out = list(workers.in_order(entries))
    assert out == [(i, i * i if i % 3 else None) for i in range(50)]


def test_one_worker_runs_inline_without_a_pool() -> None:
    with Workers(1) as workers:
        future = workers.submit(os.getpid)
        assert future.result() == os.getpid()
        assert workers._pool is None


def test_the_window_bounds_what_is_read_ahead() -> None:
    head: Future[int] = Future()
    pulled: list[int] = []

    def entries():
        for i in range(100):
            pulled.append(i)
            future: Future[int] = head if i == 0 else Future()
            if i:
                future.set_result(i)
            yield i, future

    workers = Workers(2)
    threading.Timer(0.2, head.set_result, (0,)).start()
    assert next(workers.in_order(entries())) == (0, 0)
    assert len(pulled) == workers.window + 1


def test_workers_default_to_the_available_cores() -> None:
    assert resolve_workers(None) >= 1
    assert resolve_workers(3) == 3

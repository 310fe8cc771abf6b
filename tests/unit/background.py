"""Work the unit suite does in other processes (the CLI's one smoke test per command group,
`chalice package`), started as soon as the tests are collected so that it runs on the second core
while the in-process tests run on the first; each test then waits for its own result.

A test module registers its jobs at import (`register(key, function)`); tests/unit/conftest.py
starts the jobs of every module that has a selected test; `result(key)` waits for one (and runs
it now if nothing started it). Nothing is skipped or shared between tests: only the waiting moves.
pytest-xdist would spread the whole suite over both cores instead; this keeps one process and
needs no new dependency."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable

_registered: dict[str, tuple[str, Callable[[], object], int]] = {}  # key -> (module, job, priority)
_started: dict[str, Future] = {}
_pool: ThreadPoolExecutor | None = None


def register(module: str, key: str, job: Callable[[], object], *, priority: int = 0) -> None:
    """`priority`: jobs with a higher one start first (the longest ones)."""
    _registered[key] = (module, job, priority)


def modules() -> set[str]:
    """The test modules waiting for background work (run them last, to give it time)."""
    return {module for module, _, _ in _registered.values()}


def _start(key: str) -> Future:
    global _pool
    if key not in _started:
        if _pool is None:
            # The threads only wait on their child processes: two of them keep the spare core busy.
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="background")
        _started[key] = _pool.submit(_registered[key][1])
    return _started[key]


def start_for(selected: Iterable[str]) -> None:
    wanted = set(selected)
    for key, (module, _, _) in sorted(_registered.items(), key=lambda kv: -kv[1][2]):
        if module in wanted:
            _start(key)


def result(key: str):
    return _start(key).result()

"""Unit suite hooks."""
from __future__ import annotations


def pytest_collection_modifyitems(session, config, items) -> None:
    """The tests that wait for subprocess work run last, so that it runs while the others do."""
    from tests.unit import background

    waiting = background.modules()
    items[:] = ([i for i in items if getattr(i, "module", None) is None or i.module.__name__ not in waiting]
                + [i for i in items if getattr(i, "module", None) is not None and i.module.__name__ in waiting])


def pytest_collection_finish(session) -> None:
    """Start the subprocess work of the selected tests now, on the second core (tests/unit/background.py)."""
    from tests.unit import background

    background.start_for({item.module.__name__ for item in session.items if getattr(item, "module", None)})

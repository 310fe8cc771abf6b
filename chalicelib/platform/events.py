"""Queue names for Chalice's event decorators.

Chalice binds an SQS handler to its queue when the decorator runs, i.e. at import; this is the
one place where import time reads the settings (the stage prefix, the countersign
concurrency), on purpose.
"""
from __future__ import annotations

from chalicelib.settings import get_settings


def queue_name(logical: str) -> str:
    return get_settings().queue(logical)


def countersign_max_concurrency() -> int:
    """The countersign event source's MaximumConcurrency: the number of consumers that share each
    Region's KMS quota (chalicelib/dcc/regional.py), so the deployed cap and the share agree."""
    return get_settings().countersign_max_concurrency

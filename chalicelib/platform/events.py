"""Queue names for Chalice's event decorators.

Chalice binds an SQS handler to its queue when the decorator runs, i.e. at import; this is the
one place where import time reads the settings (the stage prefix), on purpose.
"""
from __future__ import annotations

from chalicelib.settings import get_settings


def queue_name(logical: str) -> str:
    return get_settings().queue(logical)

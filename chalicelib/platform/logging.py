"""One structured Powertools logger for the whole app, built on first use (not at import).

Log keyword fields, never f-strings, and never personal data: no citizen ids, names or dates of
birth. Record ids, batch ids, facility ids and counts are fine.
"""
from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools import Logger


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    from chalicelib.settings import get_settings

    return Logger(service="vaxpass", level=get_settings().log_level)

"""DynamoDB adapter of the submission rate windows (chalicelib/intake/ratelimit.py): one counter
item per caller and window in the `access` table (layout in adapters/dynamo.py), expiring by `ttl`.
The API function may only update windows (infra/spec.py).
"""
from __future__ import annotations

from pynamodb.exceptions import UpdateError

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, is_conditional


class DynamoRateWindows:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def try_take(self, caller: str, window_start: int, amount: int, limit: int, expires_at: int) -> bool:
        Item = self._t.Access
        try:
            Item(f"RATE#{caller}", str(window_start)).update(
                actions=[Item.used.add(amount), Item.ttl.set(expires_at)],
                condition=Item.used.does_not_exist() | (Item.used <= limit - amount))
        except UpdateError as e:
            if is_conditional(e):
                return False
            raise errors.DependencyUnavailable("rate limit: window update failed") from e
        return True

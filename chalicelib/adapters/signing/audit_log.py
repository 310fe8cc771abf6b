"""The hash-chained audit log in the signing table (AUDIT items, layout in tables.py).

The chain is appended with one transaction: move HEAD from sequence n to n+1 (condition: HEAD is
still at n), create SEQ#n+1 and AUDITKEY#key (conditions: absent). Two concurrent appends cannot
both move HEAD from n, so the loser re-reads the head and links after the winner; the chain never
forks. AUDIT is one partition: fine for attestations (one per batch), not for bulk events.
"""
from __future__ import annotations

import json
from typing import Iterable

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, cancelled_items, read_failed
from chalicelib.adapters.signing.tables import SigningTables
from chalicelib.signing.audit import GENESIS, LoggedEntry, chain_hash
from chalicelib.signing.manifest import canonical_json
from chalicelib.signing.service import DuplicateAuditKey

APPEND_ATTEMPTS = 20


class DynamoAuditLog:
    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self._m = SigningTables(tables).Signing

    def _head(self) -> tuple[int, bytes]:
        try:
            head = self._m.get("AUDIT", "HEAD", consistent_read=True)
        except self._m.DoesNotExist:
            return 0, GENESIS
        except PynamoDBException as e:
            raise read_failed("audit") from e
        return int(head.sequence), bytes.fromhex(head.entry_hash)

    def append(self, entry: dict, *, unique_key: str) -> tuple[int, str]:
        M = self._m
        for _attempt in range(APPEND_ATTEMPTS):
            seq, prev = self._head()
            new_seq, h = seq + 1, chain_hash(prev, entry).hex()
            try:
                # All three are puts: pynamodb sends puts in call order (after any condition checks,
                # deletes, then updates), so cancellation reason i is item i: 0 HEAD, 1 SEQ, 2 KEY.
                with TransactWrite(connection=self._t.connection) as tx:
                    tx.save(M("AUDIT", "HEAD", sequence=new_seq, entry_hash=h),
                            condition=M.pk.does_not_exist() if seq == 0 else M.sequence == seq)
                    tx.save(M("AUDIT", f"SEQ#{new_seq:012d}", sequence=new_seq, prev_hash=prev.hex(), entry_hash=h,
                              entry=json.dumps(entry, ensure_ascii=False), unique_key=unique_key),
                            condition=M.pk.does_not_exist())
                    tx.save(M(f"AUDITKEY#{unique_key}", "AUDITKEY", sequence=new_seq),
                            condition=M.pk.does_not_exist())
            except TransactWriteError as e:
                failed = cancelled_items(e, "ConditionalCheckFailed")
                if 2 in failed:
                    # Either another entry holds the key, or this very entry was committed by an
                    # earlier attempt whose answer was lost (a retried request): then it is ours.
                    logged = self.find(unique_key)
                    if logged is not None and canonical_json(logged.entry) == canonical_json(entry):
                        return logged.sequence, logged.entry_hash
                    raise DuplicateAuditKey(unique_key) from e
                if failed & {0, 1} or cancelled_items(e, "TransactionConflict"):
                    continue  # another append moved (or is moving) the head: link after it
                raise errors.DependencyUnavailable("audit: append failed") from e
            return new_seq, h
        raise errors.Conflict("audit log is too busy to append; retry")

    def _logged(self, item) -> LoggedEntry:
        return LoggedEntry(int(item.sequence), item.prev_hash, json.loads(item.entry), item.entry_hash)

    def find(self, unique_key: str) -> LoggedEntry | None:
        M = self._m
        try:
            key = M.get(f"AUDITKEY#{unique_key}", "AUDITKEY", consistent_read=True)
            return self._logged(M.get("AUDIT", f"SEQ#{int(key.sequence):012d}", consistent_read=True))
        except M.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise read_failed("audit") from e

    def entries(self) -> Iterable[LoggedEntry]:
        M = self._m
        try:
            for item in M.query("AUDIT", M.sk.startswith("SEQ#"), consistent_read=True):
                yield self._logged(item)
        except PynamoDBException as e:
            raise read_failed("audit") from e

"""The batches table's adapters: a batch's progress and checkpoint (BATCH items; the checkpoint
moves in one transaction with the counters of the records it added), and the idempotency records
of API calls (IDEMP items).
"""
from __future__ import annotations

import json
from datetime import datetime

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.counters import aggregate_counter_updates
from chalicelib.adapters.dynamo import Tables, batch_pk, cancelled_by_condition, is_conditional
from chalicelib.intake.errors import BadFile
from chalicelib.intake.service import FAILED_DELIVERY, FAILED_FILE, PROGRESS_FIELDS, BatchState, ChunkResult
from chalicelib.timestamps import iso_seconds


class DynamoBatchStore:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def begin(self, batch_id: str, *, province_code: str, source: str, etag: str | None,
              now: datetime) -> BatchState:
        Batch = self._t.Batch
        item = Batch(batch_pk(batch_id), "BATCH", batch_id=batch_id, province_code=province_code,
                     source=source, etag=etag, status="PROCESSING", created_at=iso_seconds(now),
                     updated_at=iso_seconds(now))
        try:
            item.save(condition=Batch.pk.does_not_exist())
        except PynamoDBException as e:
            if not is_conditional(e):
                raise errors.DependencyUnavailable("batches: write failed") from e
            item = Batch.get(batch_pk(batch_id), "BATCH", consistent_read=True)
        return _state(batch_id, item)

    def resume(self, batch_id: str, *, now: datetime) -> BatchState:
        Batch = self._t.Batch
        try:
            Batch(batch_pk(batch_id), "BATCH").update(actions=[
                Batch.status.set("PROCESSING"), Batch.failure.remove(), Batch.error_code.remove(),
                Batch.error_message.remove(), Batch.updated_at.set(iso_seconds(now))],
                condition=(Batch.status == "FAILED") & (Batch.failure == FAILED_DELIVERY))
        except PynamoDBException as e:
            if not is_conditional(e):  # else another delivery resumed it, or it ended meanwhile
                raise errors.DependencyUnavailable("batches: write failed") from e
        return _state(batch_id, Batch.get(batch_pk(batch_id), "BATCH", consistent_read=True))

    def hand_over(self, batch_id: str, *, continuation: int, now: datetime) -> None:
        Batch = self._t.Batch
        try:
            Batch(batch_pk(batch_id), "BATCH").update(
                actions=[Batch.continuation.set(continuation), Batch.updated_at.set(iso_seconds(now))],
                condition=Batch.pk.exists() & (Batch.continuation.does_not_exist()
                                               | (Batch.continuation < continuation)))
        except PynamoDBException as e:
            if not is_conditional(e):  # else a later continuation was recorded first: it stays
                raise errors.DependencyUnavailable("batches: write failed") from e

    def fail(self, batch_id: str, *, code: str, message: str, failure: str, province_code: str | None,
             source: str, now: datetime) -> None:
        Batch = self._t.Batch
        stamp = iso_seconds(now)
        actions = [Batch.batch_id.set(batch_id), Batch.source.set(Batch.source | source),
                   Batch.status.set("FAILED"), Batch.failure.set(failure), Batch.error_code.set(code),
                   Batch.error_message.set(message[:1000]), Batch.created_at.set(Batch.created_at | stamp),
                   Batch.updated_at.set(stamp)]
        if province_code:
            actions.append(Batch.province_code.set(Batch.province_code | province_code))
        try:
            # A delivery that completed the batch meanwhile wins; a batch that never began is created.
            Batch(batch_pk(batch_id), "BATCH").update(
                actions=actions, condition=Batch.pk.does_not_exist() | (Batch.status != "COMPLETE"))
        except PynamoDBException as e:
            if not is_conditional(e):
                raise errors.DependencyUnavailable("batches: write failed") from e

    def checkpoint(self, batch_id: str, *, expected_rows_done: int, rows_done: int, chunk: ChunkResult,
                   now: datetime) -> None:
        Batch, Counter = self._t.Batch, self._t.Counter
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                tx.update(Batch(batch_pk(batch_id), "BATCH"), actions=[
                    Batch.rows_done.set(rows_done), Batch.chunks_done.add(1),
                    Batch.received.add(chunk.received), Batch.accepted.add(chunk.accepted),
                    Batch.duplicates.add(chunk.duplicates), Batch.rejected.add(chunk.rejected),
                    Batch.queued.add(chunk.queued), Batch.updated_at.set(iso_seconds(now))],
                    condition=Batch.rows_done == expected_rows_done)
                for item, actions in _received_updates(Counter, chunk.new_by_scope):
                    tx.update(item, actions=actions)
        except TransactWriteError as e:
            if "ConditionalCheckFailed" in str(getattr(e, "cause_response_code", "")) or cancelled_by_condition(e):
                raise errors.Conflict("batch checkpoint moved: another delivery is processing it") from e
            raise errors.DependencyUnavailable("batches: checkpoint failed") from e

    def finish(self, batch_id: str, *, status: str, report_key: str | None, error: BadFile | None,
               now: datetime) -> None:
        Batch = self._t.Batch
        actions = [Batch.status.set(status), Batch.updated_at.set(iso_seconds(now))]
        if report_key:
            actions.append(Batch.report_key.set(report_key))
        if error:
            actions += [Batch.error_code.set(error.code), Batch.error_message.set(error.message),
                        Batch.failure.set(FAILED_FILE)]
        else:
            actions.append(Batch.failure.remove())
        Batch(batch_pk(batch_id), "BATCH").update(actions=actions)

    def get(self, batch_id: str) -> dict | None:
        try:
            item = self._t.Batch.get(batch_pk(batch_id), "BATCH", consistent_read=True)
        except self._t.Batch.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("batches: read failed") from e
        out = {k: getattr(item, k) for k in (*PROGRESS_FIELDS, "report_key", "source", "etag", "continuation")}
        return {k: int(v) if isinstance(v, float) else v for k, v in out.items()}


def _state(batch_id: str, item) -> BatchState:
    return BatchState(batch_id, item.status, int(item.rows_done or 0), int(item.chunks_done or 0), item.failure,
                      int(item.continuation or 0))


def _received_updates(Counter, new_by_scope) -> list[tuple[Model, list[Action]]]:
    """One update per scope (NATIONAL, provinces, facilities) adding the chunk's new records; the
    FAC# updates also index the facility under its province (chalicelib/adapters/counters.py)."""
    return aggregate_counter_updates(Counter, ((facility, province, {"received": n})
                                               for (facility, province), n in new_by_scope.items()))


class DynamoApiCallStore:
    """Idempotency records of API calls (batches table, IDEMP items expiring by TTL after
    VAXPASS_IDEMPOTENCY_RETENTION_DAYS)."""

    def __init__(self, tables: Tables, retention_days: int = 7) -> None:
        self._t = tables
        self._ttl_s = retention_days * 86400

    def _pk(self, namespace: str, key: str) -> str:
        # Keyed, like every key that could name a person: the namespace hashes the caller's subject
        # and the Idempotency-Key is whatever the client chose to send.
        return f"IDEMP#{self._t.pseudonyms.pseudonym(f'{namespace}#{key}', kind='api-call')}"

    def lookup(self, namespace: str, key: str):
        from chalicelib.intake.submission import IdempotentCall

        try:
            item = self._t.Batch.get(self._pk(namespace, key), "IDEMP", consistent_read=True)
        except self._t.Batch.DoesNotExist:
            return None
        return IdempotentCall(item.etag or "", json.loads(item.response) if item.response else None)

    def complete(self, namespace: str, key: str, *, batch_id: str, request_hash: str, response: dict,
                 chunk: ChunkResult, now: datetime) -> None:
        Batch, Counter = self._t.Batch, self._t.Counter
        try:
            with TransactWrite(connection=self._t.connection) as tx:
                tx.save(Batch(self._pk(namespace, key), "IDEMP", batch_id=batch_id, kind="api-call",
                              etag=request_hash, response=json.dumps(response, ensure_ascii=False),
                              created_at=iso_seconds(now), ttl=int(now.timestamp()) + self._ttl_s),
                        condition=Batch.response.does_not_exist())
                tx.update(Batch(batch_pk(batch_id), "BATCH"), actions=[
                    Batch.batch_id.set(batch_id), Batch.kind.set("api"), Batch.source.set("api"),
                    Batch.status.set("COMPLETE"), Batch.received.add(chunk.received),
                    Batch.accepted.add(chunk.accepted), Batch.duplicates.add(chunk.duplicates),
                    Batch.rejected.add(chunk.rejected), Batch.queued.add(chunk.queued),
                    Batch.created_at.set(iso_seconds(now)), Batch.updated_at.set(iso_seconds(now))])
                for item, actions in _received_updates(Counter, chunk.new_by_scope):
                    tx.update(item, actions=actions)
        except TransactWriteError as e:
            if cancelled_by_condition(e):
                raise errors.Conflict("a concurrent call with this Idempotency-Key finished first") from e
            raise errors.DependencyUnavailable("batches: could not record the call") from e

"""A countersign chunk's claims: per person, the signing lease, the batch noted on the person's
CLAIMS item and the person's records marked signed by the batch, in one conditional transaction.

Why one transaction: the note must never be missing for a claimed record (a later countersign of
the person would trust their passport and miss the dose), and the lease must cover the claim
(a chunk that signs a person must be the only one reading and signing them until it stores or
lets go). Why a lease: two facilities attesting one person at once would otherwise both read the
same current passport and both sign; the slower one loses the store race and signs again.

The lease is two attributes of the person's CLAIMS item in the passports table (lease_holder,
lease_until): taken when free, expired or already the holder's (a redelivered message of the same
chunk takes it back at once), released by the holder once its passports are stored.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping, Sequence

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, is_conditional, record_pk
from chalicelib.adapters.transactions import Update, apply_updates
from chalicelib.issuance.attested import Claimed
from chalicelib.timestamps import utc_stamp


class DynamoChunkClaims:
    def __init__(self, tables: Tables, passports) -> None:
        self._t = tables
        self._passports = passports  # DynamoPassportStore: its item model

    def claim(self, batch_id: str, holder: str, people: Mapping[str, Sequence[tuple[str, str]]], *,
              until: datetime, now: datetime) -> Claimed:
        R, P = self._t.Record, self._passports.Item
        stamp = utc_stamp(now)
        free = P.lease_holder.does_not_exist() | (P.lease_holder == holder) | (P.lease_until < stamp)
        cids = sorted(people)
        keys = {cid: sorted(set(people[cid])) for cid in cids}
        units = [[Update(P(self._t.person_pk(cid), "CLAIMS"), [P.claims.add({batch_id}), P.lease_holder.set(holder),
                                                   P.lease_until.set(utc_stamp(until))], free, binding=True),
                  # A record changed since, or taken by another batch after this one expired, stays as it is.
                  *(Update(R(record_pk(*k), "REC"), [R.signed_batch.set(batch_id)], R.signing_batch == batch_id)
                    for k in keys[cid])]
                 for cid in cids]
        applied = apply_updates(self._t.connection, units, "countersign: claiming the chunk")
        leased = {cids[u] for u, i in applied if i == 0}
        return Claimed({keys[cids[u]][i - 1] for u, i in applied if i > 0}, set(cids) - leased)

    def take_lease(self, holder: str, citizen_id: str, *, until: datetime, now: datetime) -> bool:
        """One conditional UpdateItem (a re-evaluation signs one person)."""
        P = self._passports.Item
        free = P.lease_holder.does_not_exist() | (P.lease_holder == holder) | (P.lease_until < utc_stamp(now))
        try:
            P(self._t.person_pk(citizen_id), "CLAIMS").update(
                actions=[P.lease_holder.set(holder), P.lease_until.set(utc_stamp(until))], condition=free)
        except PynamoDBException as e:
            if is_conditional(e):
                return False
            raise errors.DependencyUnavailable("passports: could not take the signing lease") from e
        return True

    def release_leases(self, holder: str, citizen_ids: Sequence[str], now: datetime) -> None:
        """Lets go of the holder's leases (one transaction per 100 people); a lease that expired and
        was taken by another chunk stays that chunk's."""
        P = self._passports.Item
        units = [[Update(P(self._t.person_pk(cid), "CLAIMS"), [P.lease_holder.remove(), P.lease_until.remove()],
                         P.lease_holder == holder)] for cid in sorted(set(citizen_ids))]
        if units:
            apply_updates(self._t.connection, units, "countersign: releasing the leases")

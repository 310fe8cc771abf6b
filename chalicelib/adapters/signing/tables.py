"""DynamoDB and SQS adapters of the signing ports (chalicelib/signing/service.py).

Item layouts (overloaded keys, see infra/spec.py):

facilities  pk FAC#<facility_id>     sk PROFILE        name, province, head; gsi1 PROV#<province> / FAC#<id>
            pk FAC#<facility_id>     sk CERT#<sha256>  certificate (PEM), not_after, registered_at
            pk AGENCY#<agency_id>    sk PROFILE        name, province;       gsi1 PROV#<province> / AGENCY#<id>
            pk AGENCY#<agency_id>    sk CERT#<sha256>  certificate (PEM), not_after, registered_at
            pk CA                    sk <sha256>       government CA certificate (PEM) trusted for signers
signing     pk SBATCH#<batch_id>     sk HEADER         facility_id, created_at, expires_at, merkle_root, count,
                                                       pages, status (OPEN/ATTESTED/DISPATCHED);
                                                       gsi1 SFAC#<facility_id> / <created_at>#<batch_id>
            pk SBATCH#<batch_id>     sk PAGE#<00000>   entries (JSON list, up to 200: items stay < 400 KB)
            pk SBATCH#<batch_id>     sk CHUNK#<00000>  a dispatched countersign message: status (QUEUED/DONE/
                                                       DEAD_LETTERED), facility_id, first_index, size, people
                                                       (citizen ids, JSON), refused (entry indexes), pending_until
            pk AUDIT                 sk HEAD           sequence, entry_hash of the chain's last entry
            pk AUDIT                 sk SEQ#<000000000001>  sequence, prev_hash, entry_hash, entry (JSON), unique_key
            pk AUDITKEY#<unique_key> sk AUDITKEY       sequence (one entry per key: one attestation per batch)
            pk DSC                   sk <kid>          (adapters/trust/trust_list.py: DSC certificates)
records     signing_batch, signing_until, signed_batch on the record item (see dynamo.py)

The audit chain is appended with one transaction: move HEAD from sequence n to n+1 (condition:
HEAD is still at n), create SEQ#n+1 and AUDITKEY#key (conditions: absent). Two concurrent appends
cannot both move HEAD from n, so the loser re-reads the head and links after the winner; the chain
never forks. AUDIT is one partition: fine for attestations (one per batch), not for bulk events.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cached_property
from typing import Collection, Iterable, Sequence

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, cancelled_items, gsi, is_conditional, model_meta, read_failed, record_pk
from chalicelib.adapters.sqs import MAX_BATCH_BYTES, QueueSender
from chalicelib.signing import facility_pki as pki
from chalicelib.signing.audit import GENESIS, LoggedEntry, chain_hash
from chalicelib.signing.manifest import canonical_json
from chalicelib.signing.service import (ATTESTED, CHUNK_QUEUED, OPEN, VERIFIED_STATES, CandidateRecord,
                                        DuplicateAuditKey, Facility, FocalAgency, ProvinceFixed, QueuedChunk,
                                        StoredBatch, candidate_from_record)
from chalicelib.timestamps import iso_seconds, utc_stamp

PAGE_ENTRIES = 200
APPEND_ATTEMPTS = 20


class SigningTables:
    """The facilities and signing table models of one deployment (built per Settings, like Tables)."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.settings = tables.settings

    @cached_property
    def Facility(self):
        s = self.settings

        class FacilityItem(Model):
            Meta = model_meta(s, "facilities")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            gsi1pk = UnicodeAttribute(null=True)
            gsi1sk = UnicodeAttribute(null=True)
            by_province = gsi(1, s)
            name = UnicodeAttribute(null=True)
            province = UnicodeAttribute(null=True)
            head = UnicodeAttribute(null=True)
            certificate = UnicodeAttribute(null=True)
            not_after = UnicodeAttribute(null=True)
            registered_at = UnicodeAttribute(null=True)
            updated_at = UnicodeAttribute(null=True)

        return FacilityItem

    @cached_property
    def Signing(self):
        s = self.settings

        class SigningItem(Model):
            Meta = model_meta(s, "signing")
            pk = UnicodeAttribute(hash_key=True)
            sk = UnicodeAttribute(range_key=True)
            gsi1pk = UnicodeAttribute(null=True)
            gsi1sk = UnicodeAttribute(null=True)
            by_facility = gsi(1, s)
            facility_id = UnicodeAttribute(null=True)
            status = UnicodeAttribute(null=True)
            created_at = UnicodeAttribute(null=True)
            expires_at = UnicodeAttribute(null=True)
            updated_at = UnicodeAttribute(null=True)
            merkle_root = UnicodeAttribute(null=True)
            count = NumberAttribute(null=True)
            pages = NumberAttribute(null=True)
            entries = UnicodeAttribute(null=True)
            sequence = NumberAttribute(null=True)
            prev_hash = UnicodeAttribute(null=True)
            entry_hash = UnicodeAttribute(null=True)
            entry = UnicodeAttribute(null=True)
            unique_key = UnicodeAttribute(null=True)
            first_index = NumberAttribute(null=True)
            size = NumberAttribute(null=True)
            people = UnicodeAttribute(null=True)
            refused = UnicodeAttribute(null=True)
            pending_until = UnicodeAttribute(null=True)

        return SigningItem


# -- facility registry --------------------------------------------------------------------------
class DynamoFacilityRegistry:
    def __init__(self, tables: Tables) -> None:
        self._m = SigningTables(tables).Facility

    def _owner(self, pk: str):
        """(profile item, [certificate PEM]) of one FAC#/AGENCY# partition."""
        profile, certs = None, []
        try:
            for item in self._m.query(pk, consistent_read=True):
                if item.sk == "PROFILE":
                    profile = item
                elif item.sk.startswith("CERT#"):
                    certs.append(item.certificate)
        except PynamoDBException as e:
            raise read_failed("facilities") from e
        return profile, tuple(certs)

    def get_facility(self, facility_id: str) -> Facility | None:
        profile, certs = self._owner(f"FAC#{facility_id}")
        if profile is None:
            return None
        return Facility(facility_id, profile.name, profile.province, profile.head or "", certs)

    def provinces(self, facility_ids: Collection[str]) -> dict[str, str]:
        """Registered province of each known facility: BatchGet of their PROFILE items (100 a
        call), the one read intake makes per chunk to refuse records of unknown facilities."""
        M, ids = self._m, sorted(facility_ids)
        out: dict[str, str] = {}
        try:
            for i in range(0, len(ids), 100):
                for item in M.batch_get([(f"FAC#{f}", "PROFILE") for f in ids[i:i + 100]],
                                        attributes_to_get=["pk", "province"]):
                    if item.province:
                        out[item.pk.removeprefix("FAC#")] = item.province
        except PynamoDBException as e:
            raise read_failed("facilities") from e
        return out

    def focal_agencies(self, province: str) -> list[FocalAgency]:
        M = self._m
        try:
            ids = [i.gsi1sk.removeprefix("AGENCY#") for i in M.by_province.query(
                f"PROV#{province}", M.gsi1sk.startswith("AGENCY#"))]
        except PynamoDBException as e:
            raise read_failed("facilities") from e
        out = []
        for agency_id in ids:
            profile, certs = self._owner(f"AGENCY#{agency_id}")
            if profile is not None and profile.province == province:
                out.append(FocalAgency(agency_id, profile.name, profile.province, certs))
        return out

    def ca_certificates(self) -> list[str]:
        try:
            return [i.certificate for i in self._m.query("CA", consistent_read=True)]
        except PynamoDBException as e:
            raise read_failed("facilities") from e

    def _save(self, pk: str, gsi1sk: str, province: str, certificates: Iterable[str], now: datetime,
              **profile) -> None:
        M = self._m
        try:
            # The province is fixed at the first registration: records, counters and focal-agency
            # rights are filed under it, so a re-registration elsewhere is refused, atomically.
            M(pk, "PROFILE", gsi1pk=f"PROV#{province}", gsi1sk=gsi1sk, province=province, updated_at=iso_seconds(now),
              **profile).save(condition=M.pk.does_not_exist() | (M.province == province))
        except PynamoDBException as e:
            if is_conditional(e):
                raise ProvinceFixed("this facility or agency is registered in another province; its province "
                                    "cannot change", details={"province": province}) from e
            raise errors.DependencyUnavailable("facilities: write failed") from e
        try:
            with M.batch_write() as batch:
                for pem in certificates:
                    cert = pki.load_certificate(pem)
                    batch.save(M(pk, f"CERT#{pki.fingerprint(cert)}", certificate=pem,
                                 not_after=iso_seconds(cert.not_valid_after_utc), registered_at=iso_seconds(now)))
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("facilities: write failed") from e

    def save_facility(self, facility: Facility, now: datetime) -> None:
        self._save(f"FAC#{facility.facility_id}", f"FAC#{facility.facility_id}", facility.province,
                   facility.certificates, now, name=facility.name, head=facility.head)

    def save_focal_agency(self, agency: FocalAgency, now: datetime) -> None:
        self._save(f"AGENCY#{agency.agency_id}", f"AGENCY#{agency.agency_id}", agency.province,
                   agency.certificates, now, name=agency.name)

    def save_ca(self, certificate_pem: str, now: datetime) -> None:
        cert = pki.load_certificate(certificate_pem)
        try:
            self._m("CA", pki.fingerprint(cert), certificate=certificate_pem,
                    not_after=iso_seconds(cert.not_valid_after_utc), registered_at=iso_seconds(now)).save()
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("facilities: write failed") from e


# -- records ------------------------------------------------------------------------------------
class DynamoSigningRecords:
    """Selects and reserves records through the records table (gsi2 = FAC#<facility>#<state>)."""

    def __init__(self, tables: Tables, parallel: int = 8) -> None:
        self._t = tables
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="signing-records")

    def candidates(self, facility_id: str, *, max_people: int, now: datetime) -> list[CandidateRecord]:
        R = self._t.Record
        stamp = utc_stamp(now)
        free = ((R.signing_batch.does_not_exist() | (R.signing_until < stamp)) & R.signed_batch.does_not_exist())
        out: list[CandidateRecord] = []
        people: set[str] = set()
        try:
            for state in VERIFIED_STATES:
                for item in R.by_facility_state.query(f"FAC#{facility_id}#{state}", filter_condition=free,
                                                      page_size=500):
                    c = candidate_from_record(facility_id=item.facility_id, record_id=item.record_id,
                                              version=int(item.version), digest=item.digest,
                                              data=json.loads(item.data), matched_citizen_id=item.matched_citizen_id)
                    if c is None:
                        continue
                    if c.citizen_id not in people:
                        if len(people) == max_people:
                            break  # enough people; the rest wait for the next batch
                        people.add(c.citizen_id)
                    out.append(c)
        except PynamoDBException as e:
            raise read_failed("records") from e
        return out

    def reserve(self, batch_id: str, records: Sequence[CandidateRecord], *, until: datetime,
                now: datetime) -> set[tuple[str, str]]:
        R = self._t.Record
        stamp, until_stamp = utc_stamp(now), utc_stamp(until)

        def one(c: CandidateRecord) -> tuple[str, str] | None:
            condition = ((R.version == c.dose.version) & (R.digest == c.dose.digest)
                         & R.state.is_in(*VERIFIED_STATES) & R.signed_batch.does_not_exist()
                         & (R.signing_batch.does_not_exist() | (R.signing_batch == batch_id)
                            | (R.signing_until < stamp)))
            try:
                R(record_pk(*c.key), "REC").update(
                    actions=[R.signing_batch.set(batch_id), R.signing_until.set(until_stamp)], condition=condition)
            except PynamoDBException as e:
                if is_conditional(e):
                    return None  # changed, or another open batch holds it
                raise errors.DependencyUnavailable("records: reserve failed") from e
            return c.key

        return {k for k in self._pool.map(one, records) if k is not None}

    def current_versions(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str]]:
        out = {}
        try:
            for item in self._t.Record.batch_get([(record_pk(f, r), "REC") for f, r in keys],
                                                 attributes_to_get=["facility_id", "record_id", "version", "digest"]):
                out[(item.facility_id, item.record_id)] = (int(item.version), item.digest)
        except PynamoDBException as e:
            raise read_failed("records") from e
        return out

    def mark_signed(self, batch_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
        R = self._t.Record

        def one(key: tuple[str, str]) -> tuple[str, str] | None:
            try:
                R(record_pk(*key), "REC").update(actions=[R.signed_batch.set(batch_id)],
                                                 condition=R.signing_batch == batch_id)
            except PynamoDBException as e:
                if is_conditional(e):
                    return None  # changed since, or another batch took it after this one expired
                raise errors.DependencyUnavailable("records: mark signed failed") from e
            return key

        return {k for k in self._pool.map(one, keys) if k is not None}

    def release(self, batch_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
        R = self._t.Record

        def one(key: tuple[str, str]) -> tuple[str, str] | None:
            try:
                R(record_pk(*key), "REC").update(
                    actions=[R.signed_batch.remove(), R.signing_batch.remove(), R.signing_until.remove()],
                    condition=R.signing_batch == batch_id)
            except PynamoDBException as e:
                if is_conditional(e):
                    return None  # changed since, or another batch holds it already
                raise errors.DependencyUnavailable("records: release failed") from e
            return key

        return {k for k in self._pool.map(one, keys) if k is not None}


# -- manifests ----------------------------------------------------------------------------------
class DynamoManifestStore:
    def __init__(self, tables: Tables) -> None:
        self._m = SigningTables(tables).Signing

    def put(self, manifest: dict) -> None:
        M = self._m
        pk = f"SBATCH#{manifest['batch_id']}"
        entries = manifest["entries"]
        pages = [entries[i:i + PAGE_ENTRIES] for i in range(0, len(entries), PAGE_ENTRIES)]
        try:
            # Pages first, header last: a header always has all of its pages.
            with M.batch_write() as batch:
                for n, page in enumerate(pages):
                    batch.save(M(pk, f"PAGE#{n:05d}",
                                 entries=json.dumps(page, ensure_ascii=False, separators=(",", ":"))))
            M(pk, "HEADER", gsi1pk=f"SFAC#{manifest['facility_id']}",
              gsi1sk=f"{manifest['created_at']}#{manifest['batch_id']}", facility_id=manifest["facility_id"],
              status=OPEN, created_at=manifest["created_at"], expires_at=manifest["expires_at"],
              updated_at=manifest["created_at"], merkle_root=manifest["merkle_root"], count=manifest["count"],
              pages=len(pages)).save(condition=M.pk.does_not_exist())
        except PynamoDBException as e:
            if is_conditional(e):
                raise errors.Conflict("signing batch id already used") from e
            raise errors.DependencyUnavailable("signing: could not store the manifest") from e

    def get(self, batch_id: str) -> StoredBatch | None:
        header, pages = None, []
        try:
            for item in self._m.query(f"SBATCH#{batch_id}", consistent_read=True):
                if item.sk == "HEADER":
                    header = item
                elif item.sk.startswith("PAGE#"):
                    pages.append(item)  # sort key order = page order
        except PynamoDBException as e:
            raise read_failed("signing") from e
        if header is None:
            return None
        entries = [e for p in pages[:int(header.pages)] for e in json.loads(p.entries)]
        manifest = {"batch_id": batch_id, "facility_id": header.facility_id, "created_at": header.created_at,
                    "expires_at": header.expires_at, "entries": entries, "merkle_root": header.merkle_root,
                    "count": int(header.count), "algorithm": "sha256-merkle-rfc6962"}
        return StoredBatch(manifest, header.status)

    def set_status(self, batch_id: str, status: str, now: datetime) -> None:
        M = self._m
        # Status only moves forward: a late ATTESTED must not undo a DISPATCHED.
        condition = M.status == OPEN if status == ATTESTED else M.pk.exists()
        try:
            M(f"SBATCH#{batch_id}", "HEADER").update(
                actions=[M.status.set(status), M.updated_at.set(iso_seconds(now))], condition=condition)
        except PynamoDBException as e:
            if is_conditional(e) and status == ATTESTED:
                return
            raise errors.DependencyUnavailable("signing: could not update the batch") from e


    def chunks_queued(self, batch_id: str, facility_id: str, chunks: Sequence[QueuedChunk], *,
                      pending_until: datetime, now: datetime) -> None:
        M = self._m
        try:
            with M.batch_write() as batch:
                for c in chunks:
                    batch.save(M(f"SBATCH#{batch_id}", chunk_sk(c.chunk), facility_id=facility_id,
                                 status=CHUNK_QUEUED, first_index=c.first_index, size=len(c.people),
                                 people=json.dumps(list(c.people)), refused="[]",
                                 pending_until=utc_stamp(pending_until), updated_at=iso_seconds(now)))
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("signing: could not store the chunk status") from e

    def finish_chunk(self, batch_id: str, chunk: int, *, first_index: int, size: int, status: str,
                     refused: Sequence[int], now: datetime) -> bool:
        M = self._m
        try:
            M(f"SBATCH#{batch_id}", chunk_sk(chunk)).update(
                actions=[M.status.set(status), M.refused.set(json.dumps(list(refused))), M.updated_at.set(iso_seconds(now))],
                condition=M.pk.exists() & (M.first_index == first_index) & (M.size == size))
        except PynamoDBException as e:
            if is_conditional(e):
                return False
            raise errors.DependencyUnavailable("signing: could not update the chunk status") from e
        return True


def chunk_sk(chunk: int) -> str:
    return f"CHUNK#{chunk:05d}"


# -- audit log ----------------------------------------------------------------------------------
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


# -- countersign queue --------------------------------------------------------------------------
class SqsCountersignQueue:
    """Message bodies: {"kind": "facility-attested", "batch_id", "chunk", "chunks",
    "attestation": {sequence, entry_hash, facility_id, merkle_root, count, certificate_fingerprint}
    (claims the worker checks against the audit log),
    "entries": [{citizen_id, doses, entry_digest, index, proof: [hex]}]}; and
    {"kind": "reevaluate", "citizen_id"} (one per person, sent 10 to a SendMessageBatch)."""

    def __init__(self, sqs, url: str) -> None:
        self._sender = QueueSender(sqs, url)

    def enqueue(self, batch_id: str, attestation_ref: dict, people_chunks: Sequence[Sequence[dict]]) -> int:
        bodies = [{"kind": "facility-attested", "batch_id": batch_id, "chunk": i, "chunks": len(people_chunks),
                   "attestation": attestation_ref, "entries": list(chunk)} for i, chunk in enumerate(people_chunks)]
        for b in bodies:
            if len(json.dumps(b, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) > MAX_BATCH_BYTES:
                raise errors.ValidationError("a countersign chunk exceeds the SQS message limit; use smaller chunks")
        return self._sender.send_all(bodies)

    def reevaluate(self, citizen_ids: Sequence[str]) -> int:
        return self._sender.send_all({"kind": "reevaluate", "citizen_id": cid} for cid in citizen_ids)

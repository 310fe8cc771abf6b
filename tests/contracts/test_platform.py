"""The remaining ports, fake and real: the access log, the population registry (InMemoryRegistry,
the offline CLI's adapter, against DynamoRegistry) and the identities read from it, document signer
certificates, the QR image cache, the dead-letter queues, the JWKS source (a file, no AWS: both
halves are unit tests), the health probes, and the DSC key ring (FakeKeyRing's local key against
KmsKeyRing's KMS key with its registered DSC)."""
from __future__ import annotations

import json
import secrets
from datetime import date, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from chalicelib import errors
from chalicelib.adapters.auth.jwks import FileJwksSource
from chalicelib.auth.tokens import JwksUnavailable
from chalicelib.cleaning.access import AccessEntry, Disclosure, Reader
from chalicelib.cleaning.registry import blocking_keys
from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc
from chalicelib.intake.records import RegistryPerson
from chalicelib.issuance.domain import Identity
from chalicelib.trust.service import DscEntry
from tests.contracts.conftest import BOTH, FAKE, real
from tests.fakes import (FakeAccessLog, FakeDeadLetters, FakeDscRepository, FakeIdentities, FakeImageCache,
                         FakeJwksSource, FakeKeyRing, FakeOperatorIdentity, FakeProbe, InMemoryRegistry)

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


# -- the access log ------------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def access_log(request):
    return FakeAccessLog() if request.param == FAKE else real(request).access_log


class TestAccessLogContract:
    def test_reads_are_kept_oldest_first_by_record_and_by_reader(self, access_log, unique):
        facility = f"F{unique}"
        staff, other = Reader("facility", f"s-{unique}", facility), Reader("ministry", f"m-{unique}", "")
        for minutes, reader, record in ((2, staff, "R1"), (0, staff, "R1"), (1, other, "R1"), (3, staff, "R2")):
            access_log.record_read(AccessEntry(reader, facility, record, NOW + timedelta(minutes=minutes)))
        of_r1 = access_log.reads_of_record(facility, "R1")
        assert [(e.reader, e.at) for e in of_r1] == [(staff, NOW), (other, NOW + timedelta(minutes=1)),
                                                     (staff, NOW + timedelta(minutes=2))]
        assert [e.record_id for e in access_log.reads_by(staff.key())] == ["R1", "R1", "R2"]
        assert [e.at for e in access_log.reads_by(staff.key(), since=NOW + timedelta(minutes=2))] == [
            NOW + timedelta(minutes=2), NOW + timedelta(minutes=3)]
        assert access_log.reads_of_record(facility, "R9") == []

    def test_a_persons_latest_reads_come_newest_first_a_page_at_a_time(self, access_log, unique):
        staff, a = Reader("facility", f"s-{unique}", f"F{unique}"), f"pl{unique}"
        for minutes in range(5):
            access_log.record_read(AccessEntry(staff, f"F{unique}", f"R{minutes}", NOW + timedelta(minutes=minutes),
                                               "GET /v1/vaccination-records/{record_id}", (Disclosure(a, ("k",)),)))
        first = access_log.latest_reads_of_person(a, before=None, limit=2)
        assert [e.record_id for e in first] == ["R4", "R3"]
        rest = access_log.latest_reads_of_person(a, before=first[-1].at, limit=10)
        assert [e.record_id for e in rest] == ["R2", "R1", "R0"]

    def test_a_read_showing_several_people_is_found_under_each_person_with_their_keys(self, access_log, unique):
        staff = Reader("facility", f"s-{unique}", f"F{unique}")
        a, b = f"pa{unique}", f"pb{unique}"
        access_log.record_read(AccessEntry(staff, "", "", NOW, "GET /v1/facilities/{facility_id}/complaints",
                                           (Disclosure(a, ("C1", "C2")), Disclosure(b, ("C3",)))))
        access_log.record_read(AccessEntry(staff, f"F{unique}", "R1", NOW + timedelta(minutes=1),
                                           "GET /v1/vaccination-records/{record_id}", (Disclosure(a, ("F#R1",)),)))
        [listed, viewed] = access_log.reads_of_person(a)
        assert listed.people == (Disclosure(a, ("C1", "C2")),) and listed.reader == staff
        assert listed.route == "GET /v1/facilities/{facility_id}/complaints"
        assert (viewed.record_id, viewed.people) == ("R1", (Disclosure(a, ("F#R1",)),))
        assert [e.people for e in access_log.reads_of_person(b)] == [(Disclosure(b, ("C3",)),)]
        assert [e.at for e in access_log.reads_of_person(a, since=NOW + timedelta(seconds=30))] == [
            NOW + timedelta(minutes=1)]
        assert [e.record_id for e in access_log.reads_of_record(f"F{unique}", "R1")] == ["R1"]


# -- the population registry and identities ------------------------------------------------------
PEOPLE = [RegistryPerson("001090012345", "Nguyễn Thị Đào", date(1990, 5, 1), "F", "001"),
          RegistryPerson("001090012346", "Nguyễn Thị Đào", date(1990, 5, 1), "F", "001")]


@pytest.fixture(params=BOTH)
def registry(request, unique):
    """(the registry holding PEOPLE under ids of this test's own, those people)"""
    people = [RegistryPerson(f"{p.citizen_id[:6]}{int(unique, 16) % 10**5:05d}{i}", p.full_name, p.date_of_birth,
                             p.sex, p.province_code) for i, p in enumerate(PEOPLE)]
    if request.param == FAKE:
        return InMemoryRegistry(people), people
    c = real(request)
    c.registry.import_people(people)
    return c.registry, people


class TestRegistryContract:
    def test_a_person_is_found_by_id_and_by_each_blocking_key(self, registry):
        impl, people = registry
        assert impl.get(people[0].citizen_id) == people[0] and impl.get("999999999999") is None
        for key in blocking_keys(people[0].full_name, people[0].date_of_birth):
            found = {p.citizen_id for p in impl.candidates(key)}
            assert {p.citizen_id for p in people} <= found, key
        assert impl.candidates("n|nobody|1900") == []
        ids = [p.citizen_id for p in people]
        assert impl.get_many([*ids, "999999999999"]) == {p.citizen_id: p for p in people}

    def test_a_chunk_reads_its_people_and_blocks_in_bulk_as_one_by_one(self, registry):
        impl, people = registry
        ids = [people[0].citizen_id, "999999999999", people[1].citizen_id, people[0].citizen_id]
        assert impl.get_many(ids) == {p.citizen_id: p for p in people}
        assert impl.get_many([]) == {}
        keys = blocking_keys(people[0].full_name, people[0].date_of_birth) + ["n|nobody|1900"]
        blocks = impl.candidates_many(keys)
        assert set(blocks) == set(keys) and blocks["n|nobody|1900"] == []
        for key in keys:
            assert sorted(p.citizen_id for p in blocks[key]) == sorted(p.citizen_id for p in impl.candidates(key))


def own_token(unique: str) -> str:
    """A name token no other test's person has (letters only), so the blocks it names are this test's."""
    return "".join("abcdefghijklmnop"[int(ch, 16)] for ch in unique).capitalize()


@pytest.fixture(params=BOTH)
def load_registry(request):
    """Loads people in the given imports, one after the other (the fake holds each person once)."""
    def load(*imports):
        if request.param == FAKE:
            return InMemoryRegistry({p.citizen_id: p for batch in imports for p in batch}.values())
        c = real(request)
        for batch in imports:
            c.registry.import_people(batch)
        return c.registry
    return load


class TestRegistryBlocksContract:
    def test_a_block_shared_by_several_people_lists_each_once(self, load_registry, unique):
        token, serial = own_token(unique), int(unique, 16) % 10**5
        born = date(1975, 4, 30)
        people = [RegistryPerson(f"079075{serial:05d}{i}", f"{family} {token}", born, sex, "079")
                  for i, (family, sex) in enumerate((("Lê Văn", "M"), ("Phạm Thị", "F"), ("Lê", "M")))]
        impl = load_registry(people)
        shared = f"d|19750430|{token.lower()}"
        blocks = impl.candidates_many([shared, shared, "d|19750430|nobody"])
        assert sorted(p.citizen_id for p in blocks[shared]) == sorted(p.citizen_id for p in people)
        assert blocks[shared] == impl.candidates(shared) and blocks["d|19750430|nobody"] == []
        assert {p.citizen_id: p for p in blocks[shared]} == {p.citizen_id: p for p in people}

    def test_a_person_imported_again_is_one_candidate(self, load_registry, unique):
        token, serial = own_token(unique), int(unique, 16) % 10**5
        person = RegistryPerson(f"001080{serial:05d}7", f"Đỗ Văn {token}", date(1980, 2, 3), "M", "001")
        other = RegistryPerson(f"001080{serial:05d}8", f"Đỗ Thị {token}", date(1980, 2, 3), "F", "001")
        impl = load_registry([person], [person, other], [person])
        for key in blocking_keys(person.full_name, person.date_of_birth):
            found = [p.citizen_id for p in impl.candidates_many([key])[key]]
            assert found.count(person.citizen_id) == 1, key
        assert [p.citizen_id for p in impl.candidates(f"d|19800203|{token.lower()}")] == sorted(
            [person.citizen_id, other.citizen_id])


@pytest.fixture(params=BOTH)
def identities(request, unique):
    person = RegistryPerson(f"0010{int(unique, 16) % 10**8:08d}", "Trần Văn Bình", date(1988, 3, 2), "M", "001")
    identity = Identity(person.citizen_id, person.full_name, "1988-03-02")
    if request.param == FAKE:
        return FakeIdentities(identity), person
    c = real(request)
    c.registry.import_people([person])
    return c.identities, person


class TestIdentitySourceContract:
    def test_a_passport_gets_the_registry_identity(self, identities):
        impl, person = identities
        assert impl.identity(person.citizen_id) == Identity(person.citizen_id, "Trần Văn Bình", "1988-03-02")
        assert impl.identity("999999999999") is None
        assert impl.identities([person.citizen_id, "999999999999"]) == {
            person.citizen_id: Identity(person.citizen_id, "Trần Văn Bình", "1988-03-02")}


# -- document signer certificates ------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def dscs(request):
    return FakeDscRepository() if request.param == FAKE else real(request).dscs


class TestDscRepositoryContract:
    def test_a_dsc_is_kept_with_its_key_reference(self, dscs, unique):
        key = generate_key("ES256")
        csca = issue_csca(key, now=NOW, valid_days=3650, random_bytes=secrets.token_bytes)
        dsc = issue_dsc(generate_key("ES256").public_key(), csca_cert=csca, csca_key=key, now=NOW, valid_days=365,
                        random_bytes=secrets.token_bytes)
        dscs.put(DscEntry(f"kid-{unique}", dsc, f"alias/{unique}", NOW.isoformat(timespec="seconds")))
        [mine] = [e for e in dscs.all() if e.kid == f"kid-{unique}"]
        assert (mine.certificate, mine.key_ref, mine.registered_at) == (dsc, f"alias/{unique}",
                                                                        "2026-01-05T08:00:00+00:00")


# -- the QR image cache ----------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def image_cache(request):
    return FakeImageCache() if request.param == FAKE else real(request).image_cache


class TestImageCacheContract:
    def test_an_image_is_read_back_as_stored(self, image_cache, unique):
        assert image_cache.get(f"qr/{unique}.png") is None
        image_cache.put(f"qr/{unique}.png", b"\x89PNG...", "image/png")
        assert image_cache.get(f"qr/{unique}.png") == b"\x89PNG..."


# -- the dead-letter queues ------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def dead_letters(request):
    """(the dead letters, a function listing (body, code, message) of what was sent to a DLQ)"""
    if request.param == FAKE:
        fake = FakeDeadLetters()
        return fake, lambda logical: [(m["body"], m["error_code"], m["error_message"])
                                      for m in fake.peek(logical, 100)]
    c = real(request)
    return c.dead_letters, lambda logical: [(m["body"], m["error_code"], m["error_message"])
                                            for m in c.dead_letters.peek(logical, 100)]


class TestDeadLettersContract:
    def test_a_message_goes_to_its_queues_dlq_with_its_reason(self, dead_letters, unique):
        letters, listed = dead_letters
        body = json.dumps({"batch_id": f"SB{unique}"})
        letters.send("countersign", body, "COUNTERSIGN_CHUNK_REFUSED", "refused: " + "x" * 2000)
        [(got, code, message)] = [m for m in listed("countersign") if m[0] == body]
        assert code == "COUNTERSIGN_CHUNK_REFUSED" and message == ("refused: " + "x" * 2000)[:1000]


# -- the operator identity (who answers for a dlq reveal) -------------------------------------------
@pytest.fixture(params=BOTH)
def operator_identity(request):
    return FakeOperatorIdentity() if request.param == FAKE else real(request).operator_identity


class TestOperatorIdentityContract:
    def test_the_operator_is_named_by_an_arn_the_same_every_time(self, operator_identity):
        who = operator_identity.who()
        assert who.startswith("arn:aws") and who == operator_identity.who()


# -- the JWKS source (a file: both halves run without AWS) -----------------------------------------
@pytest.fixture(params=["fake", "file"])
def jwks(request, tmp_path):
    """(the source, a function publishing a JWKS document, a function making it unreadable)"""
    doc = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "eA", "y": "eQ"}]}
    if request.param == "fake":
        fake = FakeJwksSource(*doc["keys"])
        return fake, doc, lambda: setattr(fake, "fail", True)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(doc))
    return FileJwksSource(path), doc, path.unlink


class TestJwksSourceContract:
    def test_the_document_is_read_and_an_unreadable_one_is_unavailable(self, jwks):
        source, doc, break_it = jwks
        assert source.fetch() == doc
        break_it()
        with pytest.raises(JwksUnavailable) as e:
            source.fetch()
        assert isinstance(e.value, errors.DependencyUnavailable)


# -- health probes ---------------------------------------------------------------------------------
@pytest.fixture(params=BOTH)
def probes(request):
    if request.param == FAKE:
        return [FakeProbe(n) for n in ("dynamodb", "sqs", "s3", "kms")]
    return real(request).health_probes


class TestProbeContract:
    def test_each_aws_service_has_a_probe_that_answers_when_it_is_up(self, probes):
        assert [p.name for p in probes] == ["dynamodb", "sqs", "s3", "kms"]
        for p in probes:
            p.check()


def test_a_probe_of_a_service_down_raises_dependency_unavailable():
    # (the real probes against an unreachable AWS: tests/integration/test_infra_and_health.py)
    with pytest.raises(errors.DependencyUnavailable):
        FakeProbe("s3", down=True).check()



# -- the DSC key ring (signing passports) ---------------------------------------------------------
@pytest.fixture(params=BOTH)
def key_ring(request):
    """(the key ring, a trust store of its DSCs)"""
    if request.param == FAKE:
        ring = FakeKeyRing()
        ring(NOW)
        return ring, ring.trust
    from chalicelib.adapters.dcc.kms_signer import public_key_of
    from chalicelib.dcc import TrustStore

    c = real(request)
    alias = c.settings.key_alias("dsc-es256")
    csca_key = generate_key("ES256")
    start = datetime.now(timezone.utc) - timedelta(days=1)
    csca = issue_csca(csca_key, now=start, valid_days=3650, random_bytes=secrets.token_bytes)
    dsc = issue_dsc(public_key_of(c.client("kms"), alias), csca_cert=csca, csca_key=csca_key, now=start,
                    valid_days=365, random_bytes=secrets.token_bytes)
    c.trust.register_dsc(dsc.public_bytes(Encoding.PEM), key_ref=alias, now=start)
    return c.key_ring, TrustStore.from_certificates([dsc])


class TestKeyRingContract:
    def test_the_current_signer_signs_passports_its_dsc_verifies(self, key_ring):
        from chalicelib.dcc import build_vaccination_payload, issue_many, verify_hc1

        ring, trust = key_ring
        now = datetime.now(timezone.utc)
        signer = ring(now)
        assert signer.alg == "ES256" and len(signer.kid) == 8
        payloads = [build_vaccination_payload(full_name="Nguyễn Thị Đào", dob="1990-05-01", product="EU/1/20/1528",
                                              dose_number=2, series_doses=2, vaccination_date="2021-09-01",
                                              uvci=f"URN:UVCI:01:VN:CONTRACT{i:018d}#C",
                                              issuer="Ministry of Health of Viet Nam") for i in range(3)]
        for hc1 in issue_many(payloads, signer, now=now, valid_days=30):
            result = verify_hc1(hc1, trust, now=now + timedelta(minutes=1))
            assert result.valid, result.errors

"""Intake authorises on what is stored and what will be stored (the real services, built by the
composition root over the fakes of tests/fakes/): canonical field names, the stored owner, the facility registry,
idempotency namespaces, conditional versions, stale copies and never-cleaned records."""
from __future__ import annotations

import pytest

from chalicelib import errors
from chalicelib.auth.principal import Principal, Role
from chalicelib.intake.service import MAX_SCOPES_PER_CHUNK, Writer
from chalicelib.wiring import Container
from tests.fakes import fake_container

F1_TOKEN = Principal("s-f1", Role.FACILITY, facility_id="F1", province_code="001")
F1_NO_PROV = Principal("s-f1b", Role.FACILITY, facility_id="F1")
P001 = Principal("s-p1", Role.PROVINCE, province_code="001")
P079 = Principal("s-p79", Role.PROVINCE, province_code="079")
MINISTRY = Principal("s-m", Role.MINISTRY)
REGISTRY = {"F1": "001", "F2": "001", "F3": "079"}


def rec(facility="F1", record_id="R1", province="001", lot="L1", **extra) -> dict:
    return {"record_id": record_id, "facility_id": facility, "citizen_id": "001090123456",
            "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-17", "sex": "M", "province_code": province,
            "vaccine_product": "AstraZeneca", "lot_number": lot, "dose_number": "1",
            "vaccination_date": "2021-08-20", **extra}


def submit(w: Container, p: Principal, records: list, key: str = "k1", facility_id: str | None = None) -> dict:
    return w.submission.submit(records=records, idempotency_key=key, facility_id=facility_id, writer=p)


def stored(w: Container, facility="F1", record_id="R1") -> dict | None:
    return w.record_store.items.get((facility, record_id))


def intake_world(facilities: dict[str, str]) -> Container:
    """The real intake, submission and correction services over fakes, these facilities registered."""
    from tests.fakes import FakeFacilityRegistry

    return fake_container(facility_registry=FakeFacilityRegistry(facilities))


@pytest.fixture
def w() -> Container:
    return intake_world(REGISTRY)


# -- what is sent: the validated record, not the raw JSON -----------------------------------------
@pytest.mark.parametrize("field", ["Facility_ID", "FACILITY_ID", " facility_id ", "facility_Id"])
def test_a_facility_name_spelled_otherwise_is_authorised_on_its_canonical_value(w, field):
    row = rec()
    del row["facility_id"]
    row[field] = "F2"
    with pytest.raises(errors.Forbidden) as e:
        submit(w, F1_TOKEN, [row])
    assert e.value.code == "OUT_OF_SCOPE" and w.record_store.items == {} and w.record_store.requests["put_many"] == 0


def test_a_province_field_spelled_otherwise_is_authorised_too(w):
    row = rec(facility="F3")
    del row["province_code"]
    row["Province_Code"] = "079"
    with pytest.raises(errors.Forbidden):
        submit(w, P001, [row])
    assert w.record_store.items == {}


def test_one_record_out_of_scope_refuses_the_whole_call_and_stores_nothing(w):
    with pytest.raises(errors.Forbidden):
        submit(w, P001, [rec(record_id="R1"), rec(facility="F3", record_id="R2", province="079")])
    assert w.record_store.items == {} and w.api_calls.items == {}


def test_pairs_are_counted_on_canonical_values(w):
    for i in range(MAX_SCOPES_PER_CHUNK + 1):
        w.facility_registry.register(f"G{i}", "001")
    rows = [{**{k: v for k, v in rec(record_id=f"R{i}").items() if k != "facility_id"}, "FACILITY_ID": f"G{i}"}
            for i in range(MAX_SCOPES_PER_CHUNK + 1)]
    with pytest.raises(errors.ValidationError):
        submit(w, P001, rows)
    assert w.record_store.items == {}


# -- facilities exist before their records -------------------------------------------------------
def test_records_only_of_registered_facilities_under_their_province(w):
    out = submit(w, MINISTRY, [rec(facility="F9", record_id="R1"), rec(facility="F3", record_id="R2"),
                               rec(facility="F3", record_id="R3", province="079")])
    codes = [r.get("errors", [{}])[0].get("code") for r in out["results"]]
    assert codes == ["UNKNOWN_FACILITY", "FACILITY_NOT_IN_PROVINCE", None]
    assert list(w.record_store.items) == [("F3", "R3")]


def test_a_repeated_row_shares_the_fate_of_its_first_copy(w):
    out = submit(w, MINISTRY, [rec(facility="F9"), rec(facility="F9"), rec(), rec()])
    assert [r["status"] for r in out["results"]] == ["rejected", "rejected", "accepted", "duplicate"]
    assert out["results"][1]["errors"][0]["code"] == "UNKNOWN_FACILITY" and out["results"][3]["version"] == 1
    assert (out["accepted"], out["duplicates"], out["rejected"]) == (2, 1, 2)


def test_an_upload_speaks_for_its_province_only(w):
    rows = [(2, rec(record_id="R1")), (3, rec(facility="F3", record_id="R2", province="079")),
            (4, rec(facility="F3", record_id="R3", province="001")), (5, rec(facility="F9", record_id="R4"))]
    out = w.intake.process_rows("b1", rows, writer=Writer.upload("001"), default_province="001")
    assert [(e.row_number, e.code) for e in out.rejections] == [
        (3, "OUTSIDE_UPLOAD_PROVINCE"), (4, "FACILITY_NOT_IN_PROVINCE"), (5, "UNKNOWN_FACILITY")]
    assert list(w.record_store.items) == [("F1", "R1")]


def test_facilities_are_looked_up_once_per_chunk(w):
    rows = [(i, rec(facility=f, record_id=f"R{i}")) for i, f in enumerate(["F1", "F2", "F1", "F2"] * 50)]
    w.intake.process_rows("b1", rows, writer=Writer.upload("001"), default_province="001")
    assert w.facility_registry.requests["provinces"] == 1
    assert (w.record_store.requests["get_many"], w.record_store.requests["put_many"]) == (1, 1)


# -- what is stored: the owner of a record never changes ------------------------------------------
def test_a_stored_record_is_never_moved_to_another_province(w):
    submit(w, F1_TOKEN, [rec()])
    w.facility_registry.force_province("F1", "079")  # the facility moved: its old records stay where they are
    out = submit(w, F1_NO_PROV, [rec(province="079", lot="L2")], key="k2")
    assert out["results"][0]["errors"][0]["code"] == "PROVINCE_CHANGE_NOT_ALLOWED"
    # and the new province cannot reach the record filed under the old one
    with pytest.raises(errors.Forbidden):
        submit(w, P079, [rec(province="079", lot="L3")], key="k3")
    assert (stored(w)["province_code"], stored(w)["version"]) == ("001", 1)


def test_an_upload_cannot_change_a_record_stored_under_another_province(w):
    submit(w, F1_TOKEN, [rec()])
    w.facility_registry.force_province("F1", "079")
    out = w.intake.process_rows("b1", [(2, rec(province="079", lot="L2"))], writer=Writer.upload("079"),
                                default_province="079")
    assert [e.code for e in out.rejections] == ["PROVINCE_CHANGE_NOT_ALLOWED"]
    assert stored(w)["version"] == 1


def test_corrections_are_authorised_against_the_stored_owner(w):
    submit(w, F1_TOKEN, [rec()])
    for intruder in (P079, Principal("s-f3", Role.FACILITY, facility_id="F3")):
        with pytest.raises((errors.Forbidden, errors.NotFound)):
            w.corrections.correct("F1", "R1", writer=intruder, changes={"lot_number": "X"})
    with pytest.raises(errors.ValidationError):
        w.corrections.correct("F1", "R1", writer=P001, changes={"province_code": "079"})
    assert stored(w)["version"] == 1
    assert w.corrections.correct("F1", "R1", writer=P001, changes={"lot_number": "L2"})["version"] == 2


# -- idempotency keys belong to their caller ------------------------------------------------------
def test_the_same_key_from_two_callers_is_two_calls(w):
    a = submit(w, P001, [rec(record_id="RA")], key="same")
    b = submit(w, P079, [rec(facility="F3", record_id="RB", province="079")], key="same")
    assert a["batch_id"] != b["batch_id"] and not b["replayed"] and b["accepted"] == 1
    # a national caller sending the very same body never receives the province's stored answer
    c = submit(w, MINISTRY, [rec(record_id="RA")], key="same")
    assert not c["replayed"] and c["batch_id"] not in (a["batch_id"], b["batch_id"])
    assert c["results"][0]["status"] == "duplicate"
    # while the province's own retry is replayed
    assert submit(w, P001, [rec(record_id="RA")], key="same")["replayed"]


# -- lost updates --------------------------------------------------------------------------------
def rival_writes_first(w: Container, rival: dict) -> None:
    """Another writer, over the same records and registry, stores `rival` just before `w`'s
    next write: that write finds the version it decided on gone."""
    other = fake_container(record_store=w.record_store, facility_registry=w.facility_registry)
    w.record_store.before_next_put = lambda: submit(other, F1_TOKEN, [rival], key="rival")


def test_a_lost_write_is_decided_again_after_the_winner(w):
    submit(w, F1_TOKEN, [rec(lot="L1")])
    rival_writes_first(w, rec(lot="RIVAL"))
    out = submit(w, F1_TOKEN, [rec(lot="MINE")], key="k2")
    # the rival stored version 2; this call is told the version it really stored: 3
    assert out["results"][0] == {"row": 1, "status": "updated", "record_id": "R1", "version": 3}
    item = stored(w)
    assert item["version"] == 3 and item["data"]["lot_number"] == "MINE" and len(item["earlier_digests"]) == 2


def test_a_lost_write_that_now_equals_the_winner_is_a_duplicate(w):
    submit(w, F1_TOKEN, [rec(lot="L1")])
    rival_writes_first(w, rec(lot="SAME"))
    out = submit(w, F1_TOKEN, [rec(lot="SAME")], key="k2")
    assert out["results"][0]["status"] == "duplicate" and stored(w)["version"] == 2


def test_a_correction_that_loses_is_applied_to_the_new_version(w):
    submit(w, F1_TOKEN, [rec(lot="L1", phone="0912345678")])
    rival_writes_first(w, rec(lot="L1", phone="0987654321"))
    out = w.corrections.correct("F1", "R1", writer=F1_TOKEN, changes={"lot_number": "FIXED"})
    item = stored(w)
    assert out["version"] == 3 == item["version"]
    # both changes survive: the rival's phone and the correction's lot
    assert (item["data"]["phone"], item["data"]["lot_number"]) == ("0987654321", "FIXED")


def test_a_version_is_not_written_over_a_cleaning_result_it_did_not_read(w):
    submit(w, F1_TOKEN, [rec(lot="L1")])

    w.record_store.before_next_put = lambda: w.record_store.mark_cleaned(("F1", "R1"), "MISMATCH")
    submit(w, F1_TOKEN, [rec(lot="L2")], key="k2")
    # the new version carries the outcome counted for the old one, so cleaning can move the count
    assert (stored(w)["version"], stored(w)["counted_state"]) == (2, "MISMATCH")


# -- earlier versions and never-cleaned records ---------------------------------------------------
def test_a_stale_copy_never_reverts_a_correction_but_the_owner_may_restore_it(w):
    submit(w, F1_TOKEN, [rec(lot="L1")])
    w.corrections.correct("F1", "R1", writer=F1_TOKEN, changes={"lot_number": "L2"})
    out = submit(w, F1_TOKEN, [rec(lot="L1")], key="stale")
    assert out["results"][0]["status"] == "duplicate" and stored(w)["data"]["lot_number"] == "L2"
    # going back is an explicit correction
    assert w.corrections.correct("F1", "R1", writer=F1_TOKEN, changes={"lot_number": "L1"})["version"] == 3
    assert stored(w)["data"]["lot_number"] == "L1"


def test_a_stored_but_never_cleaned_record_is_queued_again_on_its_next_submission(w):
    submit(w, F1_TOKEN, [rec()])
    w.cleaning_queue.messages.clear()  # the first queueing was lost (a crash between the write and the queue)
    out = submit(w, F1_TOKEN, [rec()], key="k2")
    assert out["results"][0]["status"] == "duplicate" and w.cleaning_queue.refs == [("F1", "R1", 1)]
    w.record_store.mark_cleaned(("F1", "R1"))
    w.cleaning_queue.messages.clear()
    submit(w, F1_TOKEN, [rec()], key="k3")
    assert w.cleaning_queue.refs == []

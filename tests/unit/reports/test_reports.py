"""Reports: formulas, the service over the fake counters (tests/fakes/), CSV export, reconciliation logic,
routes and the dashboard files. No sockets."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone

import pytest

from chalicelib import errors
from chalicelib.identity.provinces import PROVINCES
from chalicelib.dcc.uvci import make_uvci
from chalicelib.reports.domain import CSV_HEADER, daily_series, derive, provinces_csv, raw_counts
from chalicelib.reports.reconcile import Drift, PassportFact, Reconciler, RecordFact, compare, recompute
from chalicelib.reports.service import ReportService
from tests.fakes import (FakeAuditLog, FakeAuditSource, FakeCounters, FakeManifestStore, FakePassports, FakeRecords,
                         fake_container)

NOW = datetime(2022, 5, 20, 9, 30, tzinfo=timezone.utc)


def test_derived_figures_follow_the_documented_formulas():
    # Given 10 records: 4 verified (1 after normalising), 3 needing correction, 3 not checked yet;
    # 5 people signed, 4 passports stored of which 1 re-issue (revoking the first version)
    row = derive(raw_counts({"received": 10, "verified": 3, "verified_normalized": 1, "mismatched": 1,
                             "not_found": 1, "invalid": 1, "signed_by_facility": 5, "passports_issued": 4,
                             "passports_revoked": 1, "complaints_received": 3, "complaints_resolved": 1}))
    assert row["verified"] == 4 and row["needs_correction"] == 3
    assert row["cleaning_backlog"] == 3
    assert row["people_with_passport"] == 3  # the re-issue did not add a person
    assert row["issuing_progress"] == 0.6
    assert row["complaint_backlog"] == 2 and row["complaints_overdue"] == 0
    # nobody signed yet: no ratio rather than a division by zero
    assert derive(raw_counts({}))["issuing_progress"] is None


def test_daily_series_is_continuous_oldest_first_with_zeros():
    series = daily_series({date(2022, 5, 19): 7}, date(2022, 5, 20), 3)
    assert series == [{"date": "2022-05-18", "passports_issued": 0}, {"date": "2022-05-19", "passports_issued": 7},
                      {"date": "2022-05-20", "passports_issued": 0}]


def test_every_province_is_listed_with_its_name_and_zeros_where_nothing_happened():
    svc = ReportService(FakeCounters({("NATIONAL", "TOTAL"): {"received": 5}, ("PROV#079", "TOTAL"): {"received": 5}}),
                        lambda: NOW)
    out = svc.provinces()
    assert len(out["provinces"]) == 63 == len(PROVINCES)
    hcm = next(p for p in out["provinces"] if p["province_code"] == "079")
    assert hcm["province_name"] == "Hồ Chí Minh City" and hcm["doses_received"] == 5
    hn = next(p for p in out["provinces"] if p["province_code"] == "001")
    assert hn["province_name"] == "Hà Nội" and hn["doses_received"] == 0
    assert out["national"]["doses_received"] == 5


def test_a_province_comes_with_its_facilities_and_unknown_codes_are_not_found():
    fake = FakeCounters({("PROV#001", "TOTAL"): {"received": 3}, ("FAC#F2", "TOTAL"): {"received": 2},
                         ("FAC#F1", "TOTAL"): {"received": 1}, ("FAC#X", "TOTAL"): {"received": 9}},
                        {"F1": "001", "F2": "001", "X": "079"})
    out = ReportService(fake, lambda: NOW).province("1")  # spreadsheets drop the zeros
    assert out["province"]["province_code"] == "001"
    assert [(f["facility_id"], f["doses_received"]) for f in out["facilities"]] == [("F1", 1), ("F2", 2)]
    with pytest.raises(errors.NotFound):
        ReportService(fake, lambda: NOW).province("003")  # not a province code


def test_daily_report_validates_days_and_reads_the_window():
    fake = FakeCounters({("NATIONAL", "DAY#2022-05-20"): {"passports_issued": 4},
                         ("NATIONAL", "DAY#2022-04-01"): {"passports_issued": 99}})
    out = ReportService(fake, lambda: NOW).daily("7")
    assert len(out["series"]) == 7 and out["series"][-1] == {"date": "2022-05-20", "passports_issued": 4}
    assert sum(d["passports_issued"] for d in out["series"]) == 4
    for bad in ("0", "367", "x", ""):
        with pytest.raises(errors.ValidationError):
            ReportService(fake, lambda: NOW).daily(bad)


def test_csv_has_a_bom_keeps_vietnamese_names_and_escapes_formulas():
    rows = [{"province_code": "001", "province_name": "Hà Nội", **derive(raw_counts({"received": 2}))},
            {"province_code": "999", "province_name": "=HYPERLINK(\"http://x\")", **derive(raw_counts({}))}]
    text = provinces_csv(rows)
    assert text.startswith("\ufeff") and "\r\n" in text
    parsed = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert tuple(parsed[0]) == CSV_HEADER
    assert parsed[1][:3] == ["001", "Hà Nội", "2"]
    assert parsed[2][1].startswith("'=")
    assert parsed[2][CSV_HEADER.index("issuing_progress")] == ""  # None is an empty cell


def test_recompute_mirrors_the_writers():
    records = [RecordFact("F1", "001", "VERIFIED"), RecordFact("F1", "001", "MISMATCH"),
               RecordFact("F2", "079", None)]
    passports = [PassportFact("F1", "001", 1, "2022-05-20"), PassportFact("F1", "001", 2, "2022-05-21"),
                 PassportFact("F9", None, 1, "2022-05-21")]
    out = recompute(records, passports)
    assert out[("NATIONAL", "TOTAL")] == {"received": 3, "verified": 1, "mismatched": 1,
                                          "passports_issued": 3, "passports_revoked": 1}
    assert out[("FAC#F2", "TOTAL")] == {"received": 1}
    assert out[("PROV#001", "TOTAL")]["passports_revoked"] == 1
    assert out[("NATIONAL", "DAY#2022-05-21")] == {"passports_issued": 2}
    assert out[("PROV#001", "DAY#2022-05-21")] == {"passports_issued": 1}
    assert ("PROV#None", "TOTAL") not in out


def test_recompute_counts_a_ministry_revocation_once_on_the_revoked_version():
    # F1 issued v1, the ministry revoked it; F2 later issued v2 over that revocation
    passports = [PassportFact("F1", "001", 1, "2022-05-20", revoked_in_place=True),
                 PassportFact("F2", "001", 2, "2022-05-21", issued_over_revocation=True)]
    out = recompute([], passports)
    assert out[("NATIONAL", "TOTAL")] == {"passports_issued": 2, "passports_revoked": 1}
    assert out[("FAC#F1", "TOTAL")]["passports_revoked"] == 1
    assert "passports_revoked" not in out[("FAC#F2", "TOTAL")]


def test_compare_reports_only_audited_counters_and_missing_scopes():
    stored = {("NATIONAL", "TOTAL"): {"received": 3, "corrected": 5, "signed_by_facility": 2},
              ("FAC#GONE", "TOTAL"): {"verified": 1}}
    wanted = {("NATIONAL", "TOTAL"): {"received": 3}, ("PROV#001", "DAY#2022-05-20"): {"passports_issued": 1}}
    assert compare(stored, wanted) == [Drift("FAC#GONE", "TOTAL", "verified", 1, 0),
                                       Drift("PROV#001", "DAY#2022-05-20", "passports_issued", 0, 1)]


class MovedMeanwhile(FakeCounters):
    """Counters an event moves between the reconciliation's read and its fix; records the fixes."""

    def __init__(self, items, moved):
        super().__init__(items)
        self.moved, self.writes = set(moved), []

    def set_if_unchanged(self, pk, sk, counter, expected, value):
        if (pk, counter) in self.moved:
            return False
        self.writes.append((pk, sk, counter, expected, value))
        return super().set_if_unchanged(pk, sk, counter, expected, value)


def audit_source(**stores) -> FakeAuditSource:
    """The reconciliation's view of the fakes of the tables it scans."""
    fakes = {"records": FakeRecords(), "passports": FakePassports(), "counters": FakeCounters(),
             "manifests": FakeManifestStore(), "audit": FakeAuditLog(), **stores}
    return FakeAuditSource(**fakes)


def test_reconciler_fixes_what_did_not_move_and_says_what_did():
    records = FakeRecords()
    records.add("F1", "R1", "001090012345", province="001")  # received and VERIFIED
    counters = MovedMeanwhile({("NATIONAL", "TOTAL"): {"received": 1, "verified": 1},
                               ("PROV#001", "TOTAL"): {"received": 1, "verified": 4},
                               ("FAC#F1", "TOTAL"): {"received": 2, "verified": 1}}, moved={("FAC#F1", "received")})
    source = audit_source(records=records, counters=counters)
    assert [d.to_dict()["difference"] for d in Reconciler(source).run()] == [1, 3]
    fixed = Reconciler(source).run(fix=True)
    assert [(d.pk, d.counter, d.fixed) for d in fixed] == [("FAC#F1", "received", False),
                                                           ("PROV#001", "verified", True)]
    assert counters.writes == [("PROV#001", "TOTAL", "verified", 4, 1)]


A, B, C, D = "001090000001", "001090000002", "001090000003", "001090000004"


def test_a_held_person_is_listed_as_held_not_stranded_and_keeps_their_claims():
    from datetime import datetime, timezone

    from chalicelib.reports.reconcile import Held, Stranded
    from chalicelib.signing.service import QueuedChunk

    audit, manifests, passports, records = FakeAuditLog(), FakeManifestStore(), FakePassports(), FakeRecords()
    keys = {10: "batch:SB1", 12: "batch:SB2"}  # the attestations of SB1 and SB2 are the log's 10th and 12th entries
    for i in range(1, 13):
        audit.append({"type": "batch-attestation", "i": i}, unique_key=keys.get(i, f"k{i}"))
    # One chunk of four attested people of batch SB2, processed (DONE)
    manifests.chunks_queued("SB2", "F1", [QueuedChunk(0, 0, (A, B, C, D))], pending_until=NOW, now=NOW)
    manifests.finish_chunk("SB2", 0, first_index=0, size=4, status="DONE", refused=[], now=NOW)
    # A: a passport from SB1, revoked and held after it: SB2's dose waits for the lift
    passports.issue(A, 1, make_uvci(lambda n: bytes([1] * n)), attestation_sequence=10)
    passports.revoke_by_ministry(A, 15)
    # B: a passport from SB1 only: SB2's dose was lost
    passports.issue(B, 1, make_uvci(lambda n: bytes([2] * n)), attestation_sequence=10)
    records.add("F1", "RB", B, signed_batch="SB2")
    # C: re-evaluated from SB2's dose too
    passports.issue(C, 1, make_uvci(lambda n: bytes([3] * n)),
                    attestation={"kind": "re-evaluation", "batches": ["SB1", "SB2"], "sequence": 10})
    # D: issued on SB2, then revoked: nothing owed from SB2
    passports.issue(D, 1, make_uvci(lambda n: bytes([4] * n)), batch_id="SB2", attestation_sequence=12)
    passports.revoke_by_ministry(D, 15)
    source = audit_source(audit=audit, manifests=manifests, passports=passports, records=records)
    now = datetime.now(timezone.utc)
    listed = Reconciler(source).unissued(now, fix=True)
    assert listed == [Held("SB2", 0, 0, "F1", 15), Stranded("SB2", 0, 1, "F1", "DONE", False, 1)]
    assert [h.to_dict()["kind"] for h in listed] == ["held", "stranded"]
    assert records.items[("F1", "RB")]["signing_batch"] is None  # B's claim released, offered again
    assert Reconciler(source).stranded(now) == [Stranded("SB2", 0, 1, "F1", "DONE", False)]


def test_a_person_whose_passport_carries_a_later_batchs_dose_is_not_stranded():
    """SQS keeps no order: the earlier batch (SB1) was countersigned after the later one's (SB2)
    claim, so its version shows SB2's dose and rests on SB2, though its sequence is SB1's."""
    from chalicelib.reports.reconcile import Stranded
    from chalicelib.signing.service import QueuedChunk

    audit, manifests, passports = FakeAuditLog(), FakeManifestStore(), FakePassports()
    keys = {10: "batch:SB1", 12: "batch:SB2"}
    for i in range(1, 13):
        audit.append({"type": "batch-attestation", "i": i}, unique_key=keys.get(i, f"k{i}"))
    manifests.chunks_queued("SB2", "F2", [QueuedChunk(0, 0, (A, B))], pending_until=NOW, now=NOW)
    manifests.finish_chunk("SB2", 0, first_index=0, size=2, status="DONE", refused=[], now=NOW)
    # A: issued on SB1 (sequence 10) with SB2's dose; B: issued on SB1 without it (SB2's was lost)
    passports.issue(A, 1, make_uvci(lambda n: bytes([1] * n)),
                    attestation={"batch_id": "SB1", "sequence": 10, "batches": ["SB1", "SB2"]})
    passports.issue(B, 1, make_uvci(lambda n: bytes([2] * n)),
                    attestation={"batch_id": "SB1", "sequence": 10, "batches": ["SB1"]})
    source = audit_source(audit=audit, manifests=manifests, passports=passports, records=FakeRecords())
    assert Reconciler(source).stranded(datetime.now(timezone.utc)) == [Stranded("SB2", 0, 1, "F2", "DONE", False)]


def test_counter_updates_touch_every_scope_and_index_the_facility():
    from chalicelib.adapters.counters import counter_updates, scope_of
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.settings import Settings

    Counter = Tables(Settings(stage="test")).Counter
    updates = counter_updates(Counter, "F1", "001", {"signed_by_facility": 3, "complaints_received": 0})
    assert [(scope_of(i.pk), i.sk) for i, _ in updates] == [("NATIONAL", "TOTAL"), ("PROV#001", "TOTAL"),
                                                            ("FAC#F1", "TOTAL")]
    assert [len(a) for _, a in updates] == [1, 1, 4]  # FAC# also gets province_code, gsi1pk, gsi1sk
    assert counter_updates(Counter, "F1", "001", {"corrected": 0}) == []
    with pytest.raises(ValueError):
        counter_updates(Counter, "F1", "001", {"not_a_counter": 1})


def test_aggregated_counter_updates_write_each_shared_scope_once_per_chunk():
    from chalicelib.adapters.counters import aggregate_counter_updates, scope_of
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.settings import Settings

    Counter = Tables(Settings(stage="test")).Counter
    events = [("F1", "001", {"verified": 1}), ("F1", "001", {"verified": 1, "mismatched": 0}),
              ("F2", "002", {"mismatched": 1}), ("F2", "002", {"mismatched": 1, "not_found": -1}),
              ("F3", "002", {"verified": 1, "invalid": -1}), ("F3", "002", {"verified": -1, "invalid": 1})]
    updates = aggregate_counter_updates(Counter, events)
    keys = [(scope_of(i.pk), i.sk) for i, _ in updates]
    # F3's two events cancel out: nothing to write for it; every other scope exactly once.
    assert sorted(keys) == sorted([("NATIONAL", "TOTAL"), ("PROV#001", "TOTAL"), ("PROV#002", "TOTAL"),
                                   ("FAC#F1", "TOTAL"), ("FAC#F2", "TOTAL")])
    by_pk = {scope_of(i.pk): sorted(str(a) for a in actions) for i, actions in updates}
    # invalid nets to 0 nationally: not written at all.
    assert by_pk["NATIONAL"] == ["mismatched {'N': '2'}", "not_found {'N': '-1'}", "verified {'N': '2'}"]
    assert by_pk["PROV#002"] == ["mismatched {'N': '2'}", "not_found {'N': '-1'}"]
    assert by_pk["FAC#F1"][-1] == "verified {'N': '2'}" and len(by_pk["FAC#F1"]) == 4  # + its province index
    with pytest.raises(ValueError):
        aggregate_counter_updates(Counter, [("F1", "001", {"not_a_counter": 1})])


@pytest.fixture
def client():
    from chalice.test import Client

    from app import app
    from chalicelib.settings import get_settings
    from chalicelib.wiring import set_container

    # The reports of 2022-05-20 over fake counters; the app's own clock stays real (tokens are minted now).
    reports = fake_container(clock=lambda: NOW, counters=FakeCounters({
        ("NATIONAL", "TOTAL"): {"received": 7}, ("PROV#001", "TOTAL"): {"received": 7},
        ("NATIONAL", "DAY#2022-05-20"): {"passports_issued": 2}})).reports
    # The session's settings: they trust the test token issuer's JWKS (a local file).
    c = fake_container(get_settings(), reports=reports)
    set_container(c)
    with Client(app) as cl:
        yield cl
    set_container(None)


def test_report_routes_answer_json_and_csv(client, bearer):
    from chalicelib.auth import dev_issuer
    from chalicelib.auth.principal import Role

    ministry = bearer(dev_issuer.staff(Role.MINISTRY))
    http = client.http

    class Authed:
        @staticmethod
        def get(path):
            return http.get(path, headers=ministry)

    client = type("C", (), {"http": Authed})
    out = json.loads(client.http.get("/v1/reports/provinces").body)
    assert out["national"]["doses_received"] == 7 and len(out["provinces"]) == 63
    for path in ("/v1/reports/provinces.csv", "/v1/reports/provinces?format=csv"):
        resp = client.http.get(path)
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in resp.headers["Content-Disposition"]
        assert resp.body.decode("utf-8").startswith("\ufeffprovince_code,")
        assert "Hà Nội" in resp.body.decode("utf-8")
    assert json.loads(client.http.get("/v1/reports/provinces/001").body)["province"]["doses_received"] == 7
    assert client.http.get("/v1/reports/provinces/999").status_code == 404
    daily = json.loads(client.http.get("/v1/reports/daily?days=2").body)
    assert daily["series"][-1] == {"date": "2022-05-20", "passports_issued": 2}
    assert client.http.get("/v1/reports/daily?days=1000").status_code == 400


def test_dashboard_is_served_from_the_package_with_no_outside_references(client):
    page = client.http.get("/dashboard")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    html = page.body.decode("utf-8")
    assert 'src="/dashboard/dashboard.js"' in html and 'href="/dashboard/dashboard.css"' in html
    js = client.http.get("/dashboard/dashboard.js")
    css = client.http.get("/dashboard/dashboard.css")
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert css.headers["Content-Type"].startswith("text/css")
    for text in (html, js.body.decode("utf-8"), css.body.decode("utf-8")):
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    for resp in (page, js, css):
        assert resp.headers["Referrer-Policy"] == "no-referrer" and resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert "form-action 'none'" in resp.headers["Content-Security-Policy"]
    assert client.http.get("/dashboard/..%2Fservice.py").status_code == 404
    assert client.http.get("/dashboard/routes.py").status_code == 404

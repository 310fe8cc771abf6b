"""The composition root takes overrides, and tests/fakes/ has a fake for every adapter it builds."""
from __future__ import annotations

import pytest

from chalicelib.settings import Settings
from chalicelib.wiring import Container
from tests.fakes import FakeRecords, fake_adapters, fake_container

# Adapters that wrap another port and hold no I/O of their own: over fakes, they stay real.
PURE_ADAPTERS = {"identities", "facility_heads", "countersign_messages"}  # built over the fakes they take
# How the root reaches AWS at all (clients are made on demand, never by a container over fakes).
INFRASTRUCTURE = {"tables", "queue_urls", "token_verifier", "signing_kms"}


def test_an_override_is_what_the_services_are_built_on():
    from chalicelib.auth.principal import Principal, Role
    from tests.fakes import FakeFacilityRegistry

    records = FakeRecords()
    c = fake_container(record_store=records, facility_registry=FakeFacilityRegistry({"F1": "001"}))
    row = {"record_id": "R1", "facility_id": "F1", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-17",
           "province_code": "001", "vaccine_product": "AstraZeneca", "dose_number": "1",
           "vaccination_date": "2021-08-20"}
    c.submission.submit(records=[row], idempotency_key="k1", facility_id=None,
                        writer=Principal("s", Role.FACILITY, facility_id="F1"))
    assert c.record_store is records and list(records.items) == [("F1", "R1")]


def test_a_misspelt_override_is_refused_not_ignored():
    with pytest.raises(TypeError) as e:
        Container(Settings(stage="test"), recordstore=FakeRecords())
    assert "recordstore" in str(e.value)


def test_a_container_over_the_fakes_builds_everything_without_aws():
    c = fake_container()
    for name in sorted(Container.overridable() - INFRASTRUCTURE):
        built = getattr(c, name)
        modules = {type(x).__module__ for x in (built if isinstance(built, list) else [built])}
        if name not in PURE_ADAPTERS:
            assert not any(m.startswith("chalicelib.adapters") for m in modules), (name, modules)
    assert c._clients == {}  # no boto3 client was made: unit tests never open sockets


def test_every_fake_replaces_something_the_root_builds():
    assert set(fake_adapters()) <= Container.overridable()

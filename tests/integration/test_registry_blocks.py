"""The registry's blocks on LocalStack: a chunk's candidate search is two batched reads (the block
items, then their members) whatever the number of keys, never a Query per key; and a block over
the candidate cap is searched in part with a trace (a warning each time, a count at import), never
truncated silently."""
from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from chalicelib.cleaning.registry import person_keys
from chalicelib.intake.records import RegistryPerson

pytestmark = pytest.mark.integration


def letters(unique: str) -> str:
    return "".join("abcdefghijklmnop"[int(ch, 16)] for ch in unique).capitalize()


@pytest.fixture
def requests(monkeypatch):
    """DynamoDB requests by operation, of every botocore client created from here on."""
    import botocore.session

    counts: Counter = Counter()
    create = botocore.session.Session.create_client

    def create_client(session, *a, **kw):
        client = create(session, *a, **kw)
        client.meta.events.register("before-call.dynamodb", lambda event_name, **_: counts.update(
            [event_name.rsplit(".", 1)[1]]))
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    return counts


def test_a_chunks_blocking_search_is_two_batched_reads_not_a_query_per_key(stack, requests, unique):
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry
    from chalicelib.adapters.dynamo import Tables

    settings, _ = stack
    token, serial = letters(unique), int(unique, 16) % 10**4
    people = [RegistryPerson(f"001090{serial:04d}{i:02d}", f"Nguyễn Văn {token} {name}", date(1990, 1 + i % 12, 1 + i),
                             "M", "001") for i, name in enumerate(("An", "Bình", "Cường", "Dũng", "Giang") * 4)]
    DynamoRegistry(Tables(settings)).import_people(people)
    keys = list(dict.fromkeys(k for p in people for k in person_keys(p)))
    assert len(keys) > 60
    requests.clear()
    # Given a fresh worker (an empty cache), when one chunk's records need these blocks
    blocks = DynamoRegistry(Tables(settings)).candidates_many(keys + ["n|nobody|1900"])
    # Then every person is found under each of their keys, with two requests, not one per key
    for p in people:
        assert all(p in blocks[k] for k in person_keys(p))
    assert blocks["n|nobody|1900"] == []
    assert dict(requests) == {"BatchGetItem": 2}, dict(requests)


def test_a_block_over_the_cap_is_searched_in_part_and_reported(stack, caplog, unique):
    from chalicelib.adapters.cleaning.registry_dynamo import CANDIDATE_CAP, DynamoRegistry
    from chalicelib.adapters.dynamo import Tables

    settings, _ = stack
    token, serial = letters(unique), int(unique, 16) % 10**3
    # Given more people under one blocking key than a search reads (a data problem: blocks are small)
    crowd = [RegistryPerson(f"079{serial:03d}{i:06d}", f"Trần {token} Văn{'abcdefghij'[i % 10]}", date(1960, 3, 3),
                            "M", "079") for i in range(CANDIDATE_CAP + 5)]
    tables = Tables(settings)
    registry = DynamoRegistry(tables)
    registry.import_people(crowd[:150])
    assert registry.oversized_blocks == 0
    caplog.clear()
    registry.import_people(crowd[150:])
    # Then the import that fills it past the cap counts it, and says so
    assert registry.oversized_blocks == 2  # d|19600303|tran and d|19600303|<token>
    [warning] = [r for r in caplog.records if "over the candidate cap" in r.getMessage()]
    assert (warning.levelname, warning.count, warning.cap) == ("WARNING", 2, CANDIDATE_CAP)
    # and a search reads its first CANDIDATE_CAP people in pseudonym order (blocks hold pseudonyms,
    # not ids), answered in id order, with a warning naming its size only
    caplog.clear()
    found = registry.candidates(f"d|19600303|{token.lower()}")
    chosen = sorted((p.citizen_id for p in crowd), key=tables.citizen)[:CANDIDATE_CAP]
    assert [p.citizen_id for p in found] == sorted(chosen)
    [warning] = [r for r in caplog.records if "candidate cap" in r.getMessage()]
    assert warning.count == CANDIDATE_CAP + 5
    said = " ".join(v for r in caplog.records for v in (r.getMessage(), *r.__dict__.values()) if isinstance(v, str))
    assert token.lower() not in said.lower() and "1960" not in said


def test_one_import_chunk_that_alone_fills_a_block_past_the_cap_is_counted(stack, unique):
    from chalicelib.adapters.cleaning.registry_dynamo import CANDIDATE_CAP, DynamoRegistry
    from chalicelib.adapters.dynamo import Tables

    settings, _ = stack
    token, serial = letters(unique), int(unique, 16) % 10**3
    crowd = [RegistryPerson(f"048{serial:03d}{i:06d}", f"Hồ {token} Thị{'abcdefghij'[i % 10]}", date(1961, 4, 4),
                            "F", "048") for i in range(CANDIDATE_CAP + 1)]
    registry = DynamoRegistry(Tables(settings))
    registry.import_people(crowd)
    assert registry.oversized_blocks == 2  # d|19610404|ho and d|19610404|<token>
    assert len(registry.candidates(f"d|19610404|{token.lower()}")) == CANDIDATE_CAP


def test_the_registry_import_command_says_how_many_blocks_are_over_the_cap(stack, tmp_path, unique):
    from chalicelib.adapters.cleaning.registry_dynamo import CANDIDATE_CAP
    from tests.unit.cli.conftest import run

    token, serial = letters(unique), int(unique, 16) % 10**3
    rows = [f"092{serial:03d}{i:06d},Võ {token} Minh,1972-06-06,M,092" for i in range(CANDIDATE_CAP + 1)]
    (tmp_path / "registry.csv").write_text("citizen_id,full_name,date_of_birth,sex,province_code\n"
                                           + "\n".join(rows) + "\n", encoding="utf-8")
    answer = run(["registry", "import", tmp_path / "registry.csv"])
    assert answer.code == 0, answer.err
    # every key of these people: n|minh <token> vo|1972, d|19720606|minh, ...|<token>, ...|vo
    assert f"warning: 4 blocking keys hold more than {CANDIDATE_CAP} people" in answer.err
    assert token.lower() not in answer.err.lower() and "092" not in answer.err

from chalicelib.intake.service import MAX_SCOPES_PER_CHUNK, _chunks


def rows(n, facilities):
    return [(i + 2, {"facility_id": f"F{i % facilities}", "province_code": "001"}) for i in range(n)]


def test_chunks_close_at_the_row_limit():
    sizes = [len(c) for c in _chunks(rows(1200, 1), 500)]
    assert sizes == [500, 500, 200]


def test_chunks_close_before_exceeding_the_transaction_scope_budget():
    chunks = list(_chunks(rows(1000, 200), 500))
    for c in chunks:
        assert len({r["facility_id"] for _, r in c}) <= MAX_SCOPES_PER_CHUNK
    assert sum(len(c) for c in chunks) == 1000
    assert [r for c in chunks for r in c] == rows(1000, 200)  # order kept, nothing lost

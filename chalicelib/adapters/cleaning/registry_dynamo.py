"""Population registry held in DynamoDB (the registry table), loaded from a registry file.

Each person is stored once under P#<pseudonym of the citizen id>, its citizen id, name and birth date
sealed (chalicelib/adapters/dynamo.py). Each blocking key is one item, BK#<pseudonym of the key> / BLOCK,
holding the string set of the citizen ids indexed under it: a person's data lives in one place,
so a re-imported or corrected person is read as they are now, and the block only says who shares
the key. A chunk's candidate search (`candidates_many`) is then two batched reads: a BatchGet of
its block items, and `get_many` of their members (100 keys per request, pynamodb sends the
UnprocessedKeys again), instead of one Query per key.

Blocks are small by design (chalicelib/cleaning/registry.py). A block holding more than
`CANDIDATE_CAP` people is a data problem: a search reads its first `CANDIDATE_CAP` ids in id
order, as the Query with a limit of 200 did before, and logs a warning each time (with the
block's size, never its key: a key is a name and a birth date); `import_people` counts the
blocks it leaves over the cap so the operator who loads the file sees them.

Upgrade: registries imported before this layout hold BK#<key> / <citizen_id> rows that nothing
reads any more; import the registry file again (README, "Population registry").
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from itertools import islice
from typing import Iterable, Sequence

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, cancelled_items
from chalicelib.cleaning.registry import person_keys
from chalicelib.intake.records import RegistryPerson

BLOCK_SK = "BLOCK"
CANDIDATE_CAP = 200
IMPORT_CHUNK = 2000  # people per import chunk: each distinct block of a chunk is written once
TX_ITEMS = 100  # DynamoDB's limit per TransactWriteItems


class DynamoRegistry:
    def __init__(self, tables: Tables, cache_size: int = 4096, parallel: int = 8) -> None:
        self._t = tables
        # Records of one batch share names and birth years; a small cache saves repeated reads.
        self._cache: OrderedDict[str, list[RegistryPerson]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        # An import's block transactions are independent: several in flight cut its time, not its
        # request count.
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="registry")
        self.oversized_blocks = 0  # blocks the last import left over CANDIDATE_CAP

    @staticmethod
    def _person(item) -> RegistryPerson:
        return RegistryPerson(item.citizen_id, item.full_name, date.fromisoformat(item.date_of_birth),
                              item.sex, item.province_code)

    def get(self, citizen_id: str) -> RegistryPerson | None:
        Person = self._t.Person
        try:
            return self._person(Person.get(self._t.person_pk(citizen_id), "P"))
        except Person.DoesNotExist:
            return None
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("registry: read failed") from e

    def get_many(self, citizen_ids: Sequence[str]) -> dict[str, RegistryPerson]:
        return self._by_pseudonym([self._t.citizen(i) for i in dict.fromkeys(citizen_ids) if i])

    def _by_pseudonym(self, pseudonyms: Sequence[str]) -> dict[str, RegistryPerson]:
        """People by the pseudonyms their items are keyed by (blocks list pseudonyms), by citizen id."""
        try:
            return {item.citizen_id: self._person(item) for item in
                    self._t.Person.batch_get([(f"P#{p}", "P") for p in dict.fromkeys(pseudonyms)])}
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("registry: read failed") from e

    def candidates(self, block_key: str) -> list[RegistryPerson]:
        return self.candidates_many([block_key])[block_key]

    def candidates_many(self, block_keys: Sequence[str]) -> dict[str, list[RegistryPerson]]:
        keys = list(dict.fromkeys(block_keys))
        with self._lock:
            out = {k: self._cache[k] for k in keys if k in self._cache}
        missing = [k for k in keys if k not in out]
        if not missing:
            return out
        members = self._members(missing)
        people = self._by_pseudonym(sorted({i for ids in members.values() for i in ids}))
        by_pseudonym = {self._t.citizen(cid): p for cid, p in people.items()}
        # (the cap chose them in pseudonym order; callers get them in id order, like every Registry)
        found = {k: sorted((by_pseudonym[i] for i in members.get(k, ()) if i in by_pseudonym),
                           key=lambda p: p.citizen_id) for k in missing}
        with self._lock:
            for k, block in found.items():
                self._cache[k] = block
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        out.update(found)
        return out

    def _members(self, keys: list[str]) -> dict[str, list[str]]:
        """The first CANDIDATE_CAP members (pseudonyms) of each block that exists, in their order."""
        block_of = {self._block_pk(k): k for k in keys}
        try:
            items = list(self._t.Block.batch_get([(pk, BLOCK_SK) for pk in block_of],
                                                 attributes_to_get=["pk", "members"]))
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("registry: read failed") from e
        out = {}
        for item in items:
            ids = sorted(item.members or ())
            if len(ids) > CANDIDATE_CAP:
                _warn_oversized("registry block over the candidate cap: searched its first ids only", len(ids))
            out[block_of[item.pk]] = ids[:CANDIDATE_CAP]
        return out

    def _block_pk(self, key: str) -> str:
        # Blocking keys are made of name parts and birth dates: hashed like citizen ids.
        return f"BK#{self._t.pseudonyms.pseudonym(key, kind='block')}"

    def import_people(self, people: Iterable[RegistryPerson], progress=None) -> int:
        """Stores the people, then adds them to their blocks: each distinct block of a chunk is one
        ADD to its set (a re-import adds nothing), 100 blocks per TransactWriteItems (the only batch
        write that can update), a few transactions in flight."""
        Person = self._t.Person
        n = 0
        self.oversized_blocks = 0
        it = iter(people)
        while chunk := list(islice(it, IMPORT_CHUNK)):
            blocks: dict[str, set[str]] = {}
            try:
                # People first: a block never names someone who cannot be read.
                with Person.batch_write() as batch:
                    for p in chunk:
                        batch.save(Person(self._t.person_pk(p.citizen_id), "P", citizen_id=p.citizen_id,
                                          full_name=p.full_name, date_of_birth=p.date_of_birth.isoformat(),
                                          sex=p.sex, province_code=p.province_code))
                        for key in person_keys(p):
                            blocks.setdefault(key, set()).add(self._t.citizen(p.citizen_id))
            except PynamoDBException as e:
                raise errors.DependencyUnavailable("registry: write failed") from e
            # (a chunk that alone fills a block past the cap: no condition lets it through)
            crowded = [(k, ids) for k, ids in blocks.items() if len(ids) > CANDIDATE_CAP]
            for key, ids in crowded:
                self._add_one(key, ids)
            self.oversized_blocks += len(crowded)
            todo = [(k, ids) for k, ids in blocks.items() if len(ids) <= CANDIDATE_CAP]
            groups = [todo[i:i + TX_ITEMS] for i in range(0, len(todo), TX_ITEMS)]
            # The first in this thread: it builds the client the others share (one, not one per thread).
            if groups:
                self.oversized_blocks += sum([self._add_members(groups[0]),
                                              *self._pool.map(self._add_members, groups[1:])])
            before, n = n, n + len(chunk)
            if progress and n // 1000 > before // 1000:
                progress(n)
        if self.oversized_blocks:
            _warn_oversized("registry import left blocks over the candidate cap", self.oversized_blocks)
        return n

    def _add_members(self, group: list[tuple[str, set[str]]]) -> int:
        """Adds ids to up to 100 blocks in one transaction; returns how many are now over the cap.

        Each update holds only while its block stays within the cap however many of its ids are
        new, so the common case costs nothing more. The blocks that might pass it are updated one
        by one instead, answering with their size."""
        Block = self._t.Block
        for _attempt in range(5):
            if not group:
                return 0
            try:
                with TransactWrite(connection=self._t.connection) as tx:
                    for key, ids in group:
                        tx.update(Block(self._block_pk(key), BLOCK_SK), actions=[Block.members.add(ids)],
                                  condition=Block.members.does_not_exist()
                                  | (size(Block.members) <= CANDIDATE_CAP - len(ids)))
                return 0
            except TransactWriteError as e:
                near_cap = cancelled_items(e, "ConditionalCheckFailed")
                if not near_cap and not cancelled_items(e, "TransactionConflict"):
                    raise errors.DependencyUnavailable("registry: write failed") from e
                # (a conflict: another import wrote one of these blocks meanwhile; ADD again is harmless)
                if near_cap:
                    over = sum(self._add_one(*group[i]) > CANDIDATE_CAP for i in sorted(near_cap))
                    return over + self._add_members([b for i, b in enumerate(group) if i not in near_cap])
                time.sleep(0.05 * 2 ** _attempt)
            except PynamoDBException as e:
                raise errors.DependencyUnavailable("registry: write failed") from e
        raise errors.DependencyUnavailable("registry: write failed (blocks kept conflicting)")

    def _add_one(self, key: str, ids: set[str]) -> int:
        Block = self._t.Block
        item = Block(self._block_pk(key), BLOCK_SK)
        try:
            item.update(actions=[Block.members.add(ids)])  # answers with the block as updated
        except PynamoDBException as e:
            raise errors.DependencyUnavailable("registry: write failed") from e
        return len(item.members or ())


def _warn_oversized(message: str, count: int) -> None:
    from chalicelib.platform.logging import get_logger

    get_logger().warning(message, count=count, cap=CANDIDATE_CAP)

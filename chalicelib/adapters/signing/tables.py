"""The signing context's two tables: pynamodb models of the facilities and signing tables, built
per Settings like adapters/dynamo.py's Tables, and their item layouts (overloaded keys, see
infra/spec.py). Their adapters are the other modules of this package.

facilities  pk FAC#<facility_id>     sk PROFILE        name, province, head; gsi1 PROV#<province> / FAC#<id>
            pk FAC#<facility_id>     sk CERT#<sha256>  certificate (PEM), not_after, registered_at
            pk AGENCY#<agency_id>    sk PROFILE        name, province;       gsi1 PROV#<province> / AGENCY#<id>
            pk AGENCY#<agency_id>    sk CERT#<sha256>  certificate (PEM), not_after, registered_at
            pk CA                    sk <sha256>       government CA certificate (PEM) trusted for signers
signing     pk SBATCH#<batch_id>     sk HEADER         facility_id, created_at, expires_at, merkle_root, count,
                                                       pages, status (OPEN/ATTESTED/DISPATCHED);
                                                       gsi1 SFAC#<facility_id> / <created_at>#<batch_id>
            pk SBATCH#<batch_id>     sk PAGE#<00000>   entries (JSON list, up to 200: items stay < 400 KB; sealed)
            pk SBATCH#<batch_id>     sk CHUNK#<00000>  a dispatched countersign message: status (QUEUED/DONE/
                                                       DEAD_LETTERED), facility_id, first_index, size, people
                                                       (citizen ids, JSON, sealed), refused (entry indexes),
                                                       pending_until
            pk AUDIT                 sk HEAD           sequence, entry_hash of the chain's last entry
            pk AUDIT                 sk SEQ#<000000000001>  sequence, prev_hash, entry_hash, entry (JSON), unique_key
            pk AUDITKEY#<unique_key> sk AUDITKEY       sequence (one entry per key: one attestation per batch)
            pk DSC                   sk <kid>          (adapters/trust/trust_list.py: DSC certificates)
records     signing_batch, signing_until, signed_batch on the record item (see dynamo.py)
"""
from __future__ import annotations

from functools import cached_property

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.adapters.dynamo import SealedFields, Tables, gsi, model_meta


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

        class SigningItem(SealedFields, Model):
            Meta = model_meta(s, "signing")
            # A manifest's entries and a chunk's people name citizens: sealed (adapters/dynamo.py).
            seal_groups = {"sealed": ("entries", "people")}
            logical, tables = "signing", self.tables
            sealed = UnicodeAttribute(null=True)
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
            # Stored as `count`; named otherwise here because Model.count() is pynamodb's item count.
            entry_count = NumberAttribute(null=True, attr_name="count")
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

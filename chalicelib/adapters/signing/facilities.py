"""DynamoDB adapter of the facility registry port: facility and focal agency profiles, their
certificates (every one ever registered, for rotation) and the government CAs trusted to issue
signer certificates, in the facilities table (layout in tables.py).
"""
from __future__ import annotations

from datetime import datetime
from typing import Collection, Iterable

from pynamodb.exceptions import PynamoDBException

from chalicelib import errors
from chalicelib.adapters.dynamo import Tables, is_conditional, read_failed
from chalicelib.adapters.signing.tables import SigningTables
from chalicelib.signing import facility_pki as pki
from chalicelib.signing.facilities import Facility, FocalAgency, ProvinceFixed
from chalicelib.timestamps import iso_seconds


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

"""Writes a synthetic data set: registry.csv, records.(csv|jsonl|xlsx), truth.csv and
facilities.csv (the facilities the records name, with their province: intake accepts records only
of registered facilities, so they are registered first with `facility import`)."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from chalicelib.intake.records import RECORD_FIELDS, REGISTRY_FIELDS
from chalicelib.synth.generator import DirtyRecord, Generator, Person


@dataclass(frozen=True)
class SynthSummary:
    people: int
    records: int
    erroneous: int
    absent: int
    files: tuple[str, ...]


def write_registry(path: Path, people: list[Person]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(REGISTRY_FIELDS)
        w.writerows((p.citizen_id, p.full_name, p.date_of_birth.isoformat(), p.sex, p.province_code)
                    for p in people)


def write_records(path: Path, records: list[DirtyRecord], fmt: str) -> None:
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(RECORD_FIELDS)
            w.writerows([r.row[k] for k in RECORD_FIELDS] for r in records)
    elif fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r.row, ensure_ascii=False) + "\n")
    elif fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("records")
        ws.append(list(RECORD_FIELDS))
        for r in records:
            ws.append([r.row[k] for k in RECORD_FIELDS])
        wb.save(path)
    else:
        raise ValueError(f"unknown records format {fmt!r}")


FACILITY_COLUMNS = ("facility_id", "name", "province_code", "head")


def write_facilities(path: Path, records: list[DirtyRecord]) -> None:
    # Synthetic facility ids are <province>-F<nnn>: the province is the id's prefix.
    ids = sorted({r.row["facility_id"] for r in records})
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(FACILITY_COLUMNS)
        w.writerows((fid, f"Trạm Y tế {fid}", fid.split("-", 1)[0], "BS. Nguyễn Thị Lan") for fid in ids)


def write_truth(path: Path, records: list[DirtyRecord]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(("record_id", "true_citizen_id", "error_kinds"))
        w.writerows((r.row["record_id"], r.true_citizen_id, "|".join(r.error_kinds)) for r in records)


def generate(out_dir: Path, *, people: int, records: int, error_rate: float, seed: int,
             absent_rate: float = 0.03, fmt: str = "csv", facility_province: str | None = None,
             facilities: int = 20) -> SynthSummary:
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = Generator(seed, facilities=facilities)
    registry = gen.people(people)
    dirty = gen.dirty_records(registry, records, error_rate=error_rate, absent_rate=absent_rate,
                              facility_province=facility_province)
    names = ("registry.csv", f"records.{fmt}", "truth.csv", "facilities.csv")
    write_registry(out_dir / names[0], registry)
    write_records(out_dir / names[1], dirty, fmt)
    write_truth(out_dir / names[2], dirty)
    write_facilities(out_dir / names[3], dirty)
    erroneous = sum(1 for r in dirty if any(k != "absent" for k in r.error_kinds))
    absent = sum(1 for r in dirty if not r.true_citizen_id)
    return SynthSummary(people, len(dirty), erroneous, absent, names)

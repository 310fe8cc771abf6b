"""`synth` and `clean`: synthetic data sets and offline cleaning of a batch against a registry
file, for provinces without cloud access and for checking the engine on known truth."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from chalicelib.cli import _types as t
from chalicelib.cli._errors import about
from chalicelib.cli._util import command


def register(sub) -> None:
    p = command(sub, "synth", "Write a synthetic registry, dirty vaccination records and truth.", _synth)
    p.add_argument("--people", type=t.positive_int, required=True, help="registry size")
    p.add_argument("--records", type=t.positive_int, required=True, help="number of vaccination records")
    p.add_argument("--error-rate", type=t.fraction, default=0.15, help="share of records with errors")
    p.add_argument("--absent-rate", type=t.fraction, default=0.03,
                   help="share of records about people absent from the registry")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same files)")
    p.add_argument("--format", choices=("csv", "jsonl", "xlsx"), default="csv",
                   help="format of the records file")
    p.add_argument("--facility-province", type=t.province, help="every dose given at facilities of this province "
                   "(one province's file); default: mostly the person's own province")
    p.add_argument("--facilities", type=t.whole_number(1, 999), default=20,
                   help="facilities per province that give the doses (default 20)")
    p.add_argument("--out", type=t.output_dir, required=True, help="output directory")

    p = command(sub, "clean", "Match a batch of vaccination records against a registry file.", _clean)
    p.add_argument("--registry", type=t.readable_file, required=True, help="registry CSV (citizen_id, "
                   "full_name, date_of_birth, sex, province_code)")
    p.add_argument("--records", type=t.readable_file, required=True, help="records: .csv, .jsonl or .xlsx")
    p.add_argument("--out", type=t.output_file, required=True, help="results, one JSON object per line")
    p.add_argument("--rejections", type=t.output_file, help="also write rejected rows as a CSV report")
    p.add_argument("--facility", type=t.facility_id, help="facility_id for rows that lack one")
    p.add_argument("--province", type=t.province, help="province_code for rows that lack one")


def _synth(args: argparse.Namespace) -> int:
    from chalicelib.synth.files import generate

    with about("--out"):
        summary = generate(args.out, people=args.people, records=args.records,
                           error_rate=args.error_rate, seed=args.seed, absent_rate=args.absent_rate,
                           fmt=args.format, facility_province=args.facility_province,
                           facilities=args.facilities)
    print(f"wrote {', '.join(summary.files)} to {args.out}: {summary.people} people, "
          f"{summary.records} records ({summary.erroneous} with errors, {summary.absent} absent)")
    return 0


def load_registry(path: Path):
    from chalicelib.cleaning import InMemoryRegistry
    from chalicelib.cli.registry_commands import registry_people

    with about("--registry"):
        return InMemoryRegistry(registry_people(path, "--registry"))


def _clean(args: argparse.Namespace) -> int:
    from collections import Counter

    from chalicelib.cleaning import Matcher
    from chalicelib.cleaning.service import clean_rows
    from chalicelib.intake.readers import read_rows
    from chalicelib.intake.records import FieldError
    from chalicelib.intake.report import write_rejections

    matcher = Matcher(load_registry(args.registry))
    counts: Counter[str] = Counter()
    rejected: list[FieldError] = []
    with about("--records"), args.records.open("rb") as src:
        rows = read_rows(src, filename=args.records.name, required_columns=_required(args))
        with about("--out"):
            out = args.out.open("w", encoding="utf-8")
        with out:
            for result in clean_rows(matcher, rows, default_facility=args.facility,
                                     default_province=args.province):
                counts[result.outcome.value] += 1
                rejected.extend(result.errors)
                out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    if args.rejections:
        with about("--rejections"), args.rejections.open("w", encoding="utf-8", newline="") as f:
            write_rejections(f, rejected)
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return 0


def _required(args: argparse.Namespace) -> tuple[str, ...]:
    from chalicelib.intake.records import REQUIRED_COLUMNS

    extra = []
    if not args.facility:
        extra.append("facility_id")
    if not args.province:
        extra.append("province_code")
    return REQUIRED_COLUMNS + tuple(extra)

"""Operator commands for infrastructure: `python -m infra <command> --help`.

bootstrap  create every resource of infra/spec.py through the AWS APIs (LocalStack for local use)
template   print the CloudFormation template of the resources
replica-template  the signing-key replicas' template, deployed in each further signing Region
policies   write the per-function IAM policy files Chalice reads (.chalice/policy-<stage>-<fn>.json)
package    `chalice package` merged with the resources template and ReportBatchItemFailures
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _prefix(args) -> str:
    return args.prefix or f"vaxpass-{args.stage}"


def cmd_bootstrap(args) -> int:
    from chalicelib.settings import Settings
    from infra.bootstrap import bootstrap

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "ap-southeast-1"
    created = bootstrap(_prefix(args), region=region, endpoint_url=endpoint,
                        replica_regions=Settings.from_env().signing_region_list)
    print(json.dumps({"endpoint": endpoint or "aws", "region": region, "tables": created.tables,
                      "queues": created.queues, "dlqs": created.dlqs, "buckets": created.buckets,
                      "keys": created.keys}, indent=2))
    return 0


def cmd_template(args) -> int:
    from infra.cloudformation import dumps, template

    sys.stdout.write(dumps(template(_prefix(args))))
    return 0


def cmd_replica_template(args) -> int:
    from infra.cloudformation import dumps, replica_template

    sys.stdout.write(dumps(replica_template(_prefix(args))))
    return 0


def write_policies(stage: str, prefix: str) -> list[Path]:
    from infra import spec
    from infra.cloudformation import dumps, policy

    written = []
    for fn in spec.FUNCTIONS:
        path = ROOT / ".chalice" / f"policy-{stage}-{fn.name}.json"
        path.write_text(dumps(policy(fn, prefix)))
        written.append(path)
    return written


def cmd_policies(args) -> int:
    for p in write_policies(args.stage, _prefix(args)):
        print(p.relative_to(ROOT))
    return 0


def sqs_event_sources(sam: dict) -> dict[str, str]:
    out = {}
    for rid, res in sam.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for ename, ev in (res.get("Properties", {}).get("Events") or {}).items():
            if ev.get("Type") == "SQS":
                out[rid] = ename
    return out


def package(stage: str, prefix: str, out: Path) -> Path:
    """Runs chalice package twice: once to learn the SQS event names chalice generates, then with
    the merge template that adds our resources and ReportBatchItemFailures to those events."""
    from infra.cloudformation import dumps, merge_template

    write_policies(stage, prefix)
    out.mkdir(parents=True, exist_ok=True)
    chalice = [str(Path(sys.executable).parent / "chalice"), "--project-dir", str(ROOT)]
    env = dict(os.environ)
    # chalice package needs a region only to fill ARNs; the template stays region-agnostic.
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION", "ap-southeast-1"))
    # Chalice imports the app under the stage's VAXPASS_STAGE; a local dev issuer configured in
    # this shell is refused outside local/test (settings.py) and is no part of a deployment.
    for name in ("VAXPASS_JWKS_URL", "VAXPASS_DEV_JWT_KEY_FILE"):
        env.pop(name, None)
    first = out / "first"
    subprocess.run(chalice + ["package", "--stage", stage, str(first)], check=True, env=env)
    sam = json.loads((first / "sam.json").read_text())
    merge = out / "merge.json"
    merge.write_text(dumps(merge_template(prefix, sqs_event_sources(sam))))
    final = out / "sam"
    subprocess.run(chalice + ["package", "--stage", stage, "--merge-template", str(merge), str(final)],
                   check=True, env=env)
    return final / "sam.json"


def cmd_package(args) -> int:
    path = package(args.stage, _prefix(args), Path(args.out))
    print(path)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, func, helptext in (
        ("bootstrap", cmd_bootstrap, "create all resources via the AWS APIs (AWS_ENDPOINT_URL selects LocalStack)"),
        ("template", cmd_template, "print the CloudFormation template of the resources"),
        ("replica-template", cmd_replica_template,
         "print the CloudFormation template of the signing-key replicas (one stack per further signing Region)"),
        ("policies", cmd_policies, "write per-function IAM policy files for Chalice"),
        ("package", cmd_package, "chalice package merged with infra resources"),
    ):
        sp = sub.add_parser(name, help=helptext, description=helptext)
        sp.add_argument("--stage", default=os.environ.get("VAXPASS_STAGE", "local"),
                        choices=["local", "dev", "prod"])
        sp.add_argument("--prefix", help="resource name prefix (default vaxpass-<stage>)")
        if name == "package":
            sp.add_argument("--out", default="build/package", help="output directory")
        sp.set_defaults(func=func)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

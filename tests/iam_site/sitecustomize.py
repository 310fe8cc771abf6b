"""Put on PYTHONPATH by tests/e2e/test_demo.py: every Python process the demo starts (`chalice
local`, the event runner) records its functions' AWS calls to $IAM_CALLS_FILE for
tests/integration/test_iam_recorded_calls.py (infra/aws_calls.py says how)."""
import os

if os.environ.get("IAM_CALLS_FILE"):
    from pathlib import Path

    from infra.aws_calls import install

    install(Path(os.environ["IAM_CALLS_FILE"]))

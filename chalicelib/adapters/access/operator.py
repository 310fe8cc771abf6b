"""STS adapter of the operator identity (chalicelib/access/dead_letters.py::OperatorIdentity): the
ARN of the credentials the CLI runs with, which is who answers for a reveal of dead letters."""
from __future__ import annotations

from chalicelib.adapters.aws_errors import aws_call


class StsOperatorIdentity:
    def __init__(self, sts) -> None:
        self._sts = sts

    def who(self) -> str:
        with aws_call("sts get_caller_identity"):
            return str(self._sts.get_caller_identity()["Arn"])

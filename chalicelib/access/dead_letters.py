"""`dlq list`: dead letters masked for the operator, or revealed to a named operator and logged.

The operator is whoever the CLI's AWS credentials are (the `OperatorIdentity` port: STS
GetCallerIdentity). Those credentials are what lets them read the dead-letter queue and decrypt it
with the data key at all, so they are the identity that answers for a reveal; a name typed on the
command line would be the operator's word only. A reveal is logged before anything is printed,
under the pseudonym of each citizen found in the messages (their `GET /v1/access-log/me` shows
it), and under the DLQ itself (`access-log record --facility-id dlq:<queue> --record-id reveal`).
"""
from __future__ import annotations

from typing import Protocol

from chalicelib.access.masking import mask_message
from chalicelib.access.service import PersonAccessLog
from chalicelib.cleaning.access import Reader

REVEAL_RECORD = "reveal"


class DeadLetterPeek(Protocol):
    def peek(self, logical: str, limit: int = 10) -> list[dict]: ...


class OperatorIdentity(Protocol):
    def who(self) -> str:
        """The ARN of the credentials this process acts with; DependencyUnavailable if unknown."""


class DeadLetterInspection:
    def __init__(self, dead_letters: DeadLetterPeek, access: PersonAccessLog, operator: OperatorIdentity) -> None:
        self._dlq = dead_letters
        self._access = access
        self._operator = operator

    def list(self, queue: str, limit: int, *, reveal: bool = False) -> list[dict]:
        messages = self._dlq.peek(queue, limit)
        masked = [mask_message(m) for m in messages]
        if not reveal:
            return [m for m, _ in masked]
        people: dict[str, list[str]] = {}
        for message, (_, found) in zip(messages, masked):
            for citizen_id in found:
                people.setdefault(citizen_id, []).append(str(message.get("message_id", "")))
        self._access.shown(Reader("operator", self._operator.who(), ""), f"cli dlq list {queue} --reveal", people,
                           record=(f"dlq:{queue}", REVEAL_RECORD))
        return messages

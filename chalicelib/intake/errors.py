"""File-level intake failures. Each has a stable code so the upload report and HTTP layer can say
what to fix without parsing messages. Per-row problems are never raised: they become rejections."""
from __future__ import annotations

from chalicelib.errors import ValidationError


class BadFile(ValidationError):
    code = "BAD_FILE"


class UnknownFormat(BadFile):
    code = "UNKNOWN_FORMAT"


class BinaryFile(BadFile):
    code = "BINARY_FILE"


class WrongEncoding(BadFile):
    code = "WRONG_ENCODING"


class LineTooLong(BadFile):
    code = "LINE_TOO_LONG"


class MissingColumns(BadFile):
    code = "MISSING_COLUMNS"


class EmptyFile(BadFile):
    code = "EMPTY_FILE"


class MalformedFile(BadFile):
    code = "MALFORMED_FILE"

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


class DuplicateColumns(BadFile):
    code = "DUPLICATE_COLUMNS"


class InvalidUnicode(BadFile):
    """Text that no encoder can write: a lone surrogate, e.g. a JSON `\\ud800` escape."""

    code = "INVALID_UNICODE"


class FileTooLarge(BadFile):
    code = "FILE_TOO_LARGE"


class FileTooLargeUncompressed(FileTooLarge):
    """An .xlsx whose parts expand beyond the limits (a zip bomb), refused before parsing."""

    code = "FILE_TOO_LARGE_UNCOMPRESSED"

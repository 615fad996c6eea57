"""Format readers: bytes of one attachment in, a ``parsers.document.Document`` out.

One module per format; ``read_document`` picks the reader from the file's magic
bytes (``detect_format``), never from its name alone.
"""

from parsers.formats.detect import FORMATS, detect_format
from parsers.formats.errors import (
    ConversionError,
    CorruptFileError,
    EmptyFileError,
    EncryptedFileError,
    FormatError,
    LimitExceededError,
    UnsafeContentError,
    UnsupportedFormatError,
)
from parsers.formats.limits import Limits
from parsers.formats.reader import read_document

__all__ = [
    "FORMATS",
    "ConversionError",
    "CorruptFileError",
    "EmptyFileError",
    "EncryptedFileError",
    "FormatError",
    "LimitExceededError",
    "Limits",
    "UnsafeContentError",
    "UnsupportedFormatError",
    "detect_format",
    "read_document",
]

"""A PDF's streams inflated under a budget: a compressed bomb is refused before it grows.

pdfminer (under pdfplumber) inflates every stream it needs - content streams, fonts, CMaps,
object and xref streams - in ``PDFStream.decode`` with an unbounded ``zlib.decompress``, and
keeps the result in its object cache until the document is closed: a 100 KB PDF whose one
content stream inflates to 512 MB of spaces took the reading worker to 604 MB. ``decode`` is
the one place every stream goes through, so while ``stream_budget`` is active (around the
reading of one document) it is wrapped: before pdfminer decodes a stream, its filter chain is
run step by step with bounded decoders (``zlib.decompressobj().decompress(data, max_length)``
for FlateDecode, pdfminer's own incremental LZW decoder, a counted RunLengthDecode), and as
soon as one step would produce more than what is left of ``Limits.max_pdf_stream_bytes`` (the
total of all decoded streams of the document) the read stops with ``LimitExceededError``
("pdf_stream"). Only then does pdfminer decode the stream itself, within the budget.

A stream whose filters cannot make more than what is left of the budget (zlib at most about
1032:1, and so on) is not inflated twice. ASCIIHex halves and DCT/JPX/JBIG2 pass through (a
filter after them is still checked); ASCII85 (a ``z`` is four bytes) is checked by its bound;
CCITTFax is pdfminer's business only when image bytes are asked for, which the reader never does. Outside ``stream_budget`` (another user of
pdfminer in the same process) ``decode`` behaves exactly as pdfminer's.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import zlib
from collections.abc import Iterator

from pdfminer.ascii85 import ascii85decode, asciihexdecode
from pdfminer.lzw import LZWDecoder
from pdfminer.pdftypes import (
    LITERALS_ASCII85_DECODE,
    LITERALS_ASCIIHEX_DECODE,
    LITERALS_DCT_DECODE,
    LITERALS_FLATE_DECODE,
    LITERALS_JBIG2_DECODE,
    LITERALS_JPX_DECODE,
    LITERALS_LZW_DECODE,
    LITERALS_RUNLENGTH_DECODE,
    PDFStream,
)

from parsers.formats.errors import LimitExceededError
from parsers.formats.limits import human_size

CHUNK = 1024 * 1024  # bytes fed to / taken from a bounded decoder at a time
PASS_THROUGH = (*LITERALS_DCT_DECODE, *LITERALS_JPX_DECODE, *LITERALS_JBIG2_DECODE)


class _Budget:
    def __init__(self, filename: str, limit: int):
        self.filename = filename
        self.limit = limit
        self.used = 0  # decoded bytes of the streams pdfminer holds for this document
        self.refused: LimitExceededError | None = None

    def refuse(self) -> LimitExceededError:
        self.refused = LimitExceededError(
            self.filename, "pdf_stream", f"数据流解压后超过 {human_size(self.limit)} 的上限")
        return self.refused


_active: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("pdf_stream_budget", default=None)
_pdfminer_decode = PDFStream.decode


@contextlib.contextmanager
def stream_budget(filename: str, limit: int) -> Iterator[_Budget]:
    """Bound every stream pdfminer decodes inside the block; the budget's ``refused`` is set when
    a stream was over (raised from ``decode`` too, but a library may catch it on the way)."""
    budget = _Budget(filename, limit)
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)


def _bounded_decode(stream: PDFStream) -> None:
    budget = _active.get()
    if budget is None:
        _pdfminer_decode(stream)
        return
    if budget.refused is not None:
        raise budget.refused
    _check(stream, budget)
    _pdfminer_decode(stream)
    budget.used += len(stream.data or b"")
    if budget.used > budget.limit:  # a filter this module does not pre-check (never expected)
        raise budget.refuse()


def _check(stream: PDFStream, budget: _Budget) -> None:
    """Raise before pdfminer inflates ``stream`` past what is left of the budget."""
    data = stream.rawdata or b""
    left = budget.limit - budget.used
    filters = [f for f, _params in stream.get_filters()]
    if _upper_bound(len(data), filters) <= left:
        return  # cannot grow past the budget: no need to inflate it twice
    if stream.decipher and stream.objid is not None and stream.genno is not None:
        data = stream.decipher(stream.objid, stream.genno, data, stream.attrs)
    for n, f in enumerate(filters):
        keep = n + 1 < len(filters)  # the last step is only counted, never held
        if f in LITERALS_FLATE_DECODE:
            data = _inflate(data, left, keep)
        elif f in LITERALS_LZW_DECODE:
            data = _unlzw(data, left, keep)
        elif f in LITERALS_RUNLENGTH_DECODE:
            data = _unrunlength(data, left, keep)
        elif f in LITERALS_ASCII85_DECODE:
            if 4 * len(data) > left:
                raise budget.refuse()
            data = ascii85decode(data)
        elif f in LITERALS_ASCIIHEX_DECODE:
            data = asciihexdecode(data)  # half its input at most; what follows it may expand
        elif f in PASS_THROUGH:
            continue  # pdfminer hands image codecs' bytes on as they are
        else:  # CCITTFax (decoded for image bytes only, never asked for here), or one pdfminer refuses itself
            return
        if data is None:
            raise budget.refuse()


def _upper_bound(size: int, filters: list) -> float:
    """The most ``filters`` can make of ``size`` bytes (zlib at most ~1032:1, LZW 12-bit codes at most
    4096 bytes each, RunLength 128 bytes from 2, ASCII85 4 from 1)."""
    bound = float(size)
    for f in filters:
        if f in LITERALS_FLATE_DECODE:
            bound *= 1032
        elif f in LITERALS_LZW_DECODE:
            bound = bound * 8 / 9 * 4096
        elif f in LITERALS_RUNLENGTH_DECODE:
            bound *= 64
        elif f in LITERALS_ASCII85_DECODE:
            bound *= 4
    return bound


def _inflate(data: bytes, limit: int, keep: bool) -> bytes | None:
    """FlateDecode of at most ``limit`` bytes (None when there is more; b"" unless ``keep``). Damaged
    data ends the output where zlib stops, as pdfminer's fallback does."""
    decoder = zlib.decompressobj()
    out: list[bytes] = []
    total = 0
    view = memoryview(data)
    position = 0
    pending = b""
    try:
        while not decoder.eof:
            if not pending:
                if position >= len(view):
                    break
                pending = view[position:position + CHUNK]
                position += CHUNK
            piece = decoder.decompress(pending, CHUNK)
            pending = decoder.unconsumed_tail
            total += len(piece)
            if total > limit:
                return None
            if keep:
                out.append(piece)
    except zlib.error:
        pass
    return b"".join(out)


def _unlzw(data: bytes, limit: int, keep: bool) -> bytes | None:
    out: list[bytes] = []
    total = 0
    for piece in LZWDecoder(io.BytesIO(data)).run():
        total += len(piece)
        if total > limit:
            return None
        if keep:
            out.append(piece)
    return b"".join(out)


def _unrunlength(data: bytes, limit: int, keep: bool) -> bytes | None:
    """RunLengthDecode (PDF 1.7, 7.4.5) of at most ``limit`` bytes."""
    out = bytearray()
    total = 0
    i, n = 0, len(data)
    while i < n:
        length = data[i]
        if length == 128:
            break
        if length < 128:
            piece = data[i + 1:i + 2 + length]
            i += 2 + length
        elif i + 1 < n:
            piece = data[i + 1:i + 2] * (257 - length)
            i += 2
        else:
            break
        total += len(piece)
        if total > limit:
            return None
        if keep:
            out += piece
    return bytes(out)


PDFStream.decode = _bounded_decode  # type: ignore[method-assign]  # see the module's docstring

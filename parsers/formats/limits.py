"""Resource limits for reading one untrusted attachment.

The readers check the limits they can check cheaply (sizes, counts, ratios,
depth) before they expand anything; the sandbox enforces the rest (address
space, CPU, wall time, no file writes) on the child process that reads.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


def human_size(nbytes: int) -> str:
    """12.5 MB / 300 KB, for messages to senders."""
    if nbytes >= MB:
        return f"{nbytes / MB:.1f} MB".replace(".0 MB", " MB")
    return f"{max(1, round(nbytes / 1024))} KB"


def columns_note(filename: str, sheet: str, max_columns: int) -> str:
    """What the column limit left unread, for the sender and staff."""
    return (f"附件“{filename}”工作表“{sheet}”第 {max_columns} 列以后的内容未读取（超过 {max_columns} 列的上限）"
            f" / columns after {max_columns} not read")


@dataclass(frozen=True)
class Limits:
    # RLIMIT_AS of the reading child, so its RSS can never pass it either. The worker starts with about
    # 160 MB of address space (interpreter, parsers, libraries) of which about 50 MB resident; the largest
    # legitimate files measured (bench/bench_memory.py --workers-only: a 34 MB scanned PDF, 5,000-row forms)
    # peak at 239 MB of address space, 134 MB resident
    address_space_mb: int = 512
    cpu_seconds: int = 30  # CPU time per attachment in the child
    wall_timeout_s: float = 60.0  # the parent kills the child after this
    max_attachment_bytes: int = 50 * MB  # the raw attachment itself
    max_unzipped_bytes: int = 200 * MB  # total declared size of everything unpacked from one attachment
    max_compression_ratio: int = 100  # per archive member (uncompressed / compressed)
    ratio_check_min_bytes: int = 1 * MB  # members smaller than this are never a bomb, whatever their ratio
    max_zip_members: int = 1000
    max_zip_depth: int = 3  # an archive inside an archive inside an archive, no deeper
    max_rows: int = 100_000  # per sheet / table
    max_columns: int = 1000  # cells right of this column are ignored
    max_pdf_pages: int = 300
    max_pdf_stream_bytes: int = 64 * MB  # all streams of one PDF, inflated (parsers/formats/pdf_streams.py)
    max_text_chars: int = 2_000_000  # running text kept per document
    conversion_timeout_s: float = 60.0  # LibreOffice conversion of .doc/.et/.wps
    conversion_address_space_mb: int = 2048  # RLIMIT_AS of LibreOffice (through prlimit)
    tasks_per_worker: int = 200  # the sandbox replaces its worker after this many attachments
    pages_per_worker: int = 0  # ... or after this many pages read (0: no cap; the OCR worker's cap goes here)
    max_worker_rss_mb: int = 0  # ... or once the worker's resident memory passes this after a task (0: no bound)
    # OCR of scans and photos runs in a child of its own (parsers.sandbox, parsers.ocr):
    # An OCR worker is reused for several scans (model loading costs 1-3 s). Measured (bench/bench_ocr.py,
    # README "OCR speed"): a fresh worker peaks at 1.1-1.3 GB of address space on its first page; glibc keeps
    # the first page's freed tensors in its heap (about 1.1-1.3 GB mapped, 0.5-0.6 GB resident between pages),
    # so a reused worker peaks at 1.4-1.6 GB on its later pages, then stays level (36 pages measured).
    ocr_address_space_mb: int = 2048
    ocr_pages_per_worker: int = 24  # a new OCR worker after this many pages
    ocr_worker_max_rss_mb: int = 1024  # ... or when the idle worker holds more than this
    ocr_cpu_seconds: int = 120  # CPU time per scanned attachment
    ocr_wall_timeout_s: float = 180.0
    ocr_max_pages: int = 8  # pages of one PDF read by OCR
    ocr_max_pixels: int = 100_000_000  # an image's canvas, checked before decoding

"""Attachment readers and form parsers: bytes in, typed dataclasses out; no database, no network."""

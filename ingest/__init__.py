"""Sources (IMAP, local), the pipeline, classification, the CLI, the scheduler.

Importing this package installs the GB-family charset repair first, before
anything has a chance to decode (and cache) a ``gb2312`` codec look-up.
"""

from ingest.pipeline import charsets as _charsets

_charsets.install()

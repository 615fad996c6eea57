"""Is an OLE2 compound file password-protected? (msoffcrypto-tool answers)

A password-protected .xlsx/.docx is not a zip any more: Office, WPS and
LibreOffice store it as an OLE2 file with ``EncryptionInfo`` and
``EncryptedPackage`` streams. A protected .xls/.doc keeps its BIFF/Word
streams but marks them encrypted (a FILEPASS record, the fEncrypted flag).
Either way the sender has to remove the password; telling them "the file is
corrupt" would send them looking for the wrong fault.
"""

from __future__ import annotations

import io
import logging

from parsers.formats.detect import OLE2_MAGIC

log = logging.getLogger(__name__)


def is_encrypted_ole(data: bytes) -> bool:
    """True when ``data`` is an OLE2 file msoffcrypto-tool recognises as encrypted."""
    if not data.startswith(OLE2_MAGIC):
        return False
    import msoffcrypto

    try:
        return bool(msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted())
    except Exception as exc:  # noqa: BLE001 - a stranger's bytes: any failure means "cannot tell", not a crash
        log.debug("msoffcrypto could not inspect the OLE2 file: %s: %s", type(exc).__name__, exc)
        return False

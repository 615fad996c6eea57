"""What staff and other programs read: the daily digest, workbooks, dossiers, the JSON export, and the
message views behind ``zxjyck messages``/``show`` and the console. Read-only over the store."""

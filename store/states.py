"""Message states and kinds: plain names, importable without the ORM (the command line's choices use them)."""

# Message states (docs/DESIGN.md): received -> processed | needs_review | failed
RECEIVED, PROCESSED, NEEDS_REVIEW, FAILED = "received", "processed", "needs_review", "failed"
MESSAGE_STATUSES = (RECEIVED, PROCESSED, NEEDS_REVIEW, FAILED)
MESSAGE_KINDS = ("application", "weekly_report", "bounce", "auto_reply", "status_query", "other")

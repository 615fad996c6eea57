"""What each kind of message leads to, and what staff decide.

Every workflow runs inside the message's processing transaction: the records it writes and the notices
it queues (each with a dedupe key) commit together or not at all, so a replay never sends twice.
"""

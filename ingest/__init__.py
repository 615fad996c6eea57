"""The service itself: mail in, decisions recorded, notices queued, staff outputs out.

Sub-packages, in the order a message meets them (docs/ARCHITECTURE.md draws the flow):

- ``sources``   fetch raw mail: the IMAP poller (connection, IDLE, leases, marking) and local files;
- ``pipeline``  store each raw message once, decode it, classify it, have its attachments read;
- ``workflows`` what a message leads to (weekly report, application, bounce, reminder, staff decision):
                a pure decision, then the records and notices written in the message's transaction;
- ``runtime``   the long-running parts: polling runs, the daemon and its scheduled jobs, health;
- ``outputs``   what staff read: digest, workbooks, dossiers, the JSON export, message views;
- ``cli``       the ``zxjyck`` command, thin over the above.

``app`` (the running context), ``config`` (typed settings) and ``errors`` serve them all.

Importing this package has no side effect: the GB-family charset repair
(pipeline/charsets.py) is installed by the CLI's main() and the decoding entry points, on first use.
"""

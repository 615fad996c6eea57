"""Where raw mail comes from: IMAP (163.com and any RFC 3501 server) and local Maildir/.eml files.

Sources hand over bytes and a way to mark them done; they never parse, classify or decide.
"""

"""Sources (IMAP, local), the pipeline, classification, workflows, staff outputs, the daemon and the CLI.

Importing this package has no side effect: the GB-family charset repair
(ingest/pipeline/charsets.py) is installed by the decoding entry points on first use.
"""

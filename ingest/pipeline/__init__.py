"""One message's way through the service: store, decode, classify, analyse, then hand to a workflow.

``store`` keeps the raw bytes (archive + row) before anything else happens; ``run`` claims stored
messages and processes them with retries; ``process`` decodes, classifies and reads the attachments
(through the sandboxed analyser); ``decode``/``charsets`` turn hostile MIME into text.
"""

"""Exceptions of the ingest package (sources, pipeline, configuration)."""


class IngestError(Exception):
    """Base of every error raised by sources, the pipeline and the CLI layer."""

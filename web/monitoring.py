"""What monitors read without a login, and the console's access log.

``GET /healthz``: ``{"status": "ok"|"unhealthy", "checks": {...}}`` (200 or 503) from the same verdict as
`zxjyck status` (ingest.runtime.health); names and "ok"/"fail" only, no addresses, subjects or error texts.

``GET /metrics``: the Prometheus text format, made by prometheus-client from collectors that read the store at
scrape time, so the figures are those of every process sharing it (the daemon, `zxjyck poll`, the console).
The duration histograms are built from the durations stored on each message (``messages.processing_ms``, its
last processing) and each scan (``attachments.ocr_ms``): the buckets count stored rows, so a replay replaces a
message's duration rather than adding one. Off unless ``[web] metrics = true``; then only for client addresses
in ``[web] metrics_allow`` (others get 403).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import case, func
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ingest.app import App
from ingest.runtime.health import health
from store.db import session_scope
from store.models import Attachment, Message, Outbox
from store.states import MESSAGE_STATUSES

log = logging.getLogger(__name__)
access_log = logging.getLogger("web.access")
PROCESSING_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
OCR_BUCKETS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
OUTBOX_STATUSES = ("pending", "sent", "failed", "suppressed")


# ---------------------------------------------------------------- /healthz


def health_document(app: App) -> tuple[dict, bool]:
    found = health(app)
    checks = {name: "fail" if failing else "ok" for name, failing in found.checks.items()}
    return {"status": "ok" if found.healthy else "unhealthy", "checks": checks}, found.healthy


async def healthz(request: Request) -> Response:
    app: App = request.app.state.zxjyck
    try:
        doc, healthy = await run_in_threadpool(health_document, app)
    except Exception as exc:  # the store away is an unhealthy service, said without a traceback
        log.warning("/healthz: the health could not be read: %s", exc.__class__.__name__)
        return JSONResponse({"status": "unhealthy", "checks": {"store": "fail"}}, status_code=503)
    return JSONResponse(doc, status_code=200 if healthy else 503)


# ---------------------------------------------------------------- /metrics


def client_allowed(address: str | None, allowed: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in allowed)


def _histogram(name: str, doc: str, column, buckets: tuple[float, ...], session) -> HistogramMetricFamily:
    """Cumulative buckets counted by the database over the stored durations (milliseconds) of ``column``."""
    counters = [func.sum(case((column <= bound * 1000, 1), else_=0)) for bound in buckets]
    row = session.exec(select(func.count(column), func.coalesce(func.sum(column), 0), *counters)
                       .where(column.is_not(None))).one()
    total, ms_sum, counts = int(row[0] or 0), float(row[1] or 0), [int(c or 0) for c in row[2:]]
    pairs = [(repr(bound), count) for bound, count in zip(buckets, counts, strict=True)] + [("+Inf", total)]
    return HistogramMetricFamily(name, doc, buckets=pairs, sum_value=ms_sum / 1000)


class StoreCollector:
    """Reads the store at every scrape (prometheus_client calls ``collect``)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        found = health(self.app)
        messages = GaugeMetricFamily("zxjyck_messages", "Stored messages by processing status", labels=["status"])
        for status in MESSAGE_STATUSES:
            messages.add_metric([status], found.counts.get(status, 0))
        yield messages
        yield GaugeMetricFamily("zxjyck_backlog_messages", "Messages received and not yet processed",
                                value=found.backlog)
        outbox = GaugeMetricFamily("zxjyck_outbox_notices", "Notices in the outbox by status", labels=["status"])
        for status in OUTBOX_STATUSES:
            outbox.add_metric([status], found.outbox.get(status, 0))
        yield outbox
        yield GaugeMetricFamily("zxjyck_outbox_unresolved_notices",
                                "Failed or bounced notices staff have neither resent nor dismissed",
                                value=found.unresolved)
        last = found.last_ok_poll.finished_at if found.last_ok_poll and found.last_ok_poll.finished_at else None
        if last is not None:  # never polled: no sample rather than a made-up age
            yield GaugeMetricFamily("zxjyck_last_good_poll_age_seconds", "Seconds since the last successful poll",
                                    value=(self.app.now() - last).total_seconds())
        checks = GaugeMetricFamily("zxjyck_check_failing", "1 when a health check fails now (as zxjyck status)",
                                   labels=["check"])
        for name, failing in found.checks.items():
            checks.add_metric([name], 1 if failing else 0)
        yield checks
        yield GaugeMetricFamily("zxjyck_healthy", "1 when zxjyck status would say healthy", value=int(found.healthy))
        with session_scope(self.app.engine) as session:
            yield _histogram("zxjyck_processing_seconds", "Processing time of each stored message (its last "
                             "processing: decoding, attachments, classification, writing)", Message.processing_ms,
                             PROCESSING_BUCKETS, session)
            yield _histogram("zxjyck_ocr_seconds", "OCR time of each stored scan or photo", Attachment.ocr_ms,
                             OCR_BUCKETS, session)
            yield GaugeMetricFamily("zxjyck_outbox_dismissed_notices", "Failed or bounced notices staff dismissed",
                                    value=session.exec(select(func.count()).select_from(Outbox)
                                                       .where(Outbox.dismissed_at.is_not(None))).one())


def render_metrics(app: App) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(app))
    return generate_latest(registry)


async def metrics(request: Request) -> Response:
    app: App = request.app.state.zxjyck
    web = app.settings.web
    if not web.metrics:
        return PlainTextResponse("not found", status_code=404)
    client = request.client.host if request.client else None
    if not client_allowed(client, web.metrics_allow):
        log.info("/metrics refused to %s (not in [web] metrics_allow)", client)
        return PlainTextResponse("forbidden", status_code=403)
    body = await run_in_threadpool(render_metrics, app)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# ---------------------------------------------------------------- access log


class AccessLog:
    """Pure ASGI middleware: one line per request (client, method, path without its query, status, time, size).
    Never the query string (a login's ``next``, search words), cookies or other headers."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        seen = {"status": 500, "bytes": 0}

        async def recording(message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            client = scope.get("client") or ("-", 0)
            path = scope.get("path", "")
            access_log.info("%s %s %s %d %.0fms %dB", client[0], scope.get("method", "-"), path, seen["status"],
                            (time.perf_counter() - started) * 1000, seen["bytes"],
                            extra={"client": client[0], "method": scope.get("method", "-"), "path": path,
                                   "status": seen["status"], "bytes": seen["bytes"],
                                   "duration_ms": round((time.perf_counter() - started) * 1000, 1)})

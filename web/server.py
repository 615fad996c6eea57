"""`zxjyck web`: the console served by uvicorn on [web] bind (or --bind), beside the daemon on the same store."""

from __future__ import annotations

import logging

from ingest.app import open_app
from ingest.config import ConfigError, Settings, parse_bind

log = logging.getLogger(__name__)


def serve(settings: Settings, bind: str | None = None) -> int:
    import uvicorn

    from web.app import create_app

    try:
        host, port = parse_bind(bind or settings.web.bind)
    except ValueError as exc:
        raise ConfigError(f"--bind {bind!r}: {exc} / 地址格式应为 HOST:PORT") from exc
    app = open_app(settings, create=False)  # the console never creates or migrates the store
    # our access log (web/monitoring.py), not uvicorn's; log_config=None: uvicorn's own lines go through our
    # handler too, in the [log] format
    logging.getLogger("web.access").setLevel(logging.INFO)
    try:
        log.warning("staff console on http://%s:%d/ (Ctrl-C to stop)", host, port)
        # X-Forwarded-For/-Proto are believed only from [web] trusted_proxies (the client is the right-most
        # address not among them); the scheme they give decides Secure cookies and the login throttle's key
        trusted = list(settings.web.trusted_proxies)
        uvicorn.run(create_app(app), host=host, port=port, log_level="warning", access_log=False, log_config=None,
                    proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None, server_header=False)
    finally:
        app.close()
    return 0

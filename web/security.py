"""Sessions, CSRF tokens, login throttling and the security headers of the console.

- The session cookie holds a random token; the store keeps only its sha256, the
  user, the expiry and the session's CSRF token. Logout deletes the row.
- Every form carries the CSRF token; before login, a separate random cookie is
  compared with the login form's hidden field (double submit).
- Failed logins are counted per user name and per client address; after
  ``FREE_ATTEMPTS`` failures each further attempt must wait, doubling up to
  ``MAX_WAIT``, and the password is not even checked while the wait lasts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import delete, select

from ingest.app import App
from store.db import session_scope
from store.models import LoginFailure, User, WebSession

SESSION_COOKIE = "zxjyck_session"
LOGIN_CSRF_COOKIE = "zxjyck_login_csrf"
FREE_ATTEMPTS = 5
FIRST_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=15)

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given).encode(), str(expected).encode())


@dataclass(frozen=True)
class Login:
    """The signed-in user of a request."""

    user_id: int
    name: str
    role: str
    csrf: str
    session_id: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def start_session(app: App, user_id: int, address: str, hours: float) -> str:
    """A new session for the user; returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = app.now()
    with session_scope(app.engine) as session:
        session.exec(delete(WebSession).where(WebSession.expires_at < now))
        session.add(WebSession(token_hash=token_hash(token), user_id=user_id, csrf_token=secrets.token_urlsafe(32),
                               created_at=now, expires_at=now + timedelta(hours=hours), address=address[:64]))
    return token


def current_login(app: App, token: str | None) -> Login | None:
    if not token or len(token) > 200:
        return None
    with session_scope(app.engine) as session:
        row = session.exec(select(WebSession).where(WebSession.token_hash == token_hash(token))).first()
        if row is None or row.expires_at <= app.now():
            return None
        user = session.get(User, row.user_id)
        if user is None or user.disabled:
            return None
        return Login(user.id or 0, user.name, user.role, row.csrf_token, row.id or 0)


def end_session(app: App, token: str | None) -> None:
    if not token:
        return
    with session_scope(app.engine) as session:
        session.exec(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


def _wait(row: LoginFailure | None, now: datetime) -> timedelta:
    if row is None or row.count < FREE_ATTEMPTS:
        return timedelta(0)
    wait = min(FIRST_WAIT * (2 ** (row.count - FREE_ATTEMPTS)), MAX_WAIT)
    return max(timedelta(0), row.last_at + wait - now)


def throttle_keys(name: str, address: str) -> list[str]:
    return [f"user:{name[:64].lower()}", f"addr:{address[:64]}"]


def login_wait(app: App, keys: list[str]) -> timedelta:
    """How long these keys must still wait before a password is checked again."""
    now = app.now()
    with session_scope(app.engine) as session:
        return max((_wait(session.get(LoginFailure, key), now) for key in keys), default=timedelta(0))


def record_failure(app: App, keys: list[str]) -> None:
    now = app.now()
    with session_scope(app.engine) as session:
        for key in keys:
            row = session.get(LoginFailure, key) or LoginFailure(key=key, count=0, last_at=now)
            row.count, row.last_at = row.count + 1, now
            session.add(row)


def clear_failures(app: App, keys: list[str]) -> None:
    with session_scope(app.engine) as session:
        session.exec(delete(LoginFailure).where(LoginFailure.key.in_(keys)))

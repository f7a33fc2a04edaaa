"""Who may use the admin API and the ops console: the holder of `SEVSYNC_ADMIN_TOKEN`.

The API takes the token as a bearer header. The console's login form exchanges it for a session
cookie that never holds the token itself: an expiry and an HMAC of it keyed with the token, so that a
changed token ends every session. Forms carry a CSRF value derived from the session the same way.
Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

BEARER_PREFIX = "bearer "
SESSION_COOKIE = "sevsync_session"
SESSION_SECONDS = 8 * 3600


class AdminToken:
    """The configured admin token; compares candidates without leaking timing."""

    def __init__(self, token: str) -> None:
        if not token.strip():
            raise ValueError("the admin token is empty")
        self._key = token.encode("utf-8")

    def matches(self, candidate: str | None) -> bool:
        if candidate is None:
            return False
        return hmac.compare_digest(_bytes(candidate), self._key)

    def matches_header(self, authorization: str | None) -> bool:
        """Whether an `Authorization: Bearer <token>` header carries the token."""
        if authorization is None or authorization[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
            return False
        return self.matches(authorization[len(BEARER_PREFIX) :].strip())

    def _sign(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()

    def new_session(self, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
        return f"{expires}.{self._sign('session', str(expires))}"

    def session_valid(self, cookie: str | None, now: float | None = None) -> bool:
        if not cookie:
            return False
        expires, _, signature = cookie.partition(".")
        if not expires.isdigit() or not hmac.compare_digest(
            _bytes(signature), self._sign("session", expires).encode()
        ):
            return False
        return int(expires) > (now if now is not None else time.time())

    def csrf_for(self, session: str) -> str:
        return self._sign("csrf", session)

    def csrf_valid(self, session: str | None, candidate: str | None) -> bool:
        if not session or not candidate:
            return False
        return hmac.compare_digest(_bytes(candidate), self.csrf_for(session).encode())


def _bytes(text: str) -> bytes:
    # Header values keep bytes that are not UTF-8 as lone surrogates (aiohttp decodes them with
    # surrogateescape): they must compare unequal, not fail to encode.
    return text.encode("utf-8", errors="surrogateescape")

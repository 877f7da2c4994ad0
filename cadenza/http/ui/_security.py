"""The dashboard's guards: a CSRF token on every action, and the token asked for once.

CSRF: every page sets (once) a random cookie `cadenza_csrf` (HttpOnly,
SameSite=Strict); the page carries `HMAC(secret, cookie)` as its CSRF token,
which htmx sends back in the `X-CSRF-Token` header (forms also carry it as
the `csrf` field). A POST whose token does not match its own cookie is
refused with 403 before anything is read or changed. The secret is new for
each app, so a token never outlives the server that issued it.

The token: with `create_app(rt, token=...)`, the dashboard answers only a
browser that has logged in once at `/ui/login` (a cookie `cadenza_session`,
HttpOnly, SameSite=Strict, holding an HMAC of the token, never the token)
or a request carrying the API's `Authorization: Bearer TOKEN`. Anything
else is sent to the login page (a GET) or refused with 401 (a POST).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

CSRF_COOKIE = "cadenza_csrf"
SESSION_COOKIE = "cadenza_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"


class Refused(Exception):
    """A request the guards turn away: `status` (401 or 403) and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


class Guard:
    """CSRF tokens for one app, and the login check when the app has a token."""

    def __init__(self, token: str | None):
        self._secret = secrets.token_bytes(32)
        self._token = token
        self._session = None if token is None else _mac(token.encode(), "cadenza-ui-session")

    @property
    def needs_login(self) -> bool:
        return self._token is not None

    # -- CSRF --------------------------------------------------------------------------

    def csrf_seed(self, request: Request) -> tuple[str, bool]:
        """The request's CSRF cookie value, or a new one (then True: set the cookie)."""
        seed = request.cookies.get(CSRF_COOKIE)
        if seed and 20 <= len(seed) <= 100:
            return seed, False
        return secrets.token_urlsafe(32), True

    def csrf_token(self, seed: str) -> str:
        return _mac(self._secret, seed)

    def check_csrf(self, request: Request, field: str | None) -> None:
        """Raise `Refused(403)` unless the header or form field holds this cookie's token."""
        seed = request.cookies.get(CSRF_COOKIE)
        given = request.headers.get(CSRF_HEADER) or field or ""
        if not seed:
            raise Refused(403, "CSRF check failed: no CSRF cookie; reload the page and try again")
        if not hmac.compare_digest(given.encode(), self.csrf_token(seed).encode()):
            raise Refused(403, "CSRF check failed: missing or wrong CSRF token; reload the page")

    # -- the token -----------------------------------------------------------------------

    def session_value(self) -> str:
        if self._session is None:
            raise RuntimeError("no token: there is no session to open")
        return self._session

    def logged_in(self, request: Request) -> bool:
        """True without a token; else with the session cookie or the API's bearer token."""
        if self._token is None or self._session is None:
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self._session.encode()):
            return True
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return self.token_matches(header[7:].strip())
        return self.token_matches(request.headers.get("x-authorization", "").strip())

    def token_matches(self, given: str) -> bool:
        if self._token is None or not given:
            return False
        return hmac.compare_digest(given.encode(), self._token.encode())

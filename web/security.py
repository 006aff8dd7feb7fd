"""Cookie secret, CSRF protection and response headers of the web app.

Sessions are Starlette's signed cookies (itsdangerous), HttpOnly and SameSite=Strict, Secure when
served over HTTPS. Every state-changing request (POST) must pass two checks: an ``Origin``
(or, failing that, ``Sec-Fetch-Site``) that is this site, and the session's CSRF token in the form
field ``csrf`` or the ``X-CSRF-Token`` header, compared in constant time. Pages carry a strict
Content-Security-Policy: only this site's own script, style and connections.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECRET_FILE = "web-secret"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'; object-src 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def load_secret(secret: str | None, secret_file: str | None, root: Path) -> str:
    """The configured secret, else the secret file's content, else a generated one kept in
    ``root/web-secret`` (mode 0600) so that sessions survive a restart."""
    if secret:
        if len(secret) < 16:
            raise ValueError("[web] secret must have at least 16 characters")
        return secret
    path = Path(secret_file).expanduser() if secret_file else root / SECRET_FILE
    if path.is_file():
        text = path.read_text().strip()
        if len(text) < 16:
            raise ValueError(f"{path}: the secret must have at least 16 characters")
        return text
    if secret_file:
        raise ValueError(f"[web] secret_file {path} does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def same_origin(request: Request) -> bool:
    """A browser names where a request comes from; refuse anything that is not this site."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def check_post(request: Request, form_token: str | None = None) -> None:
    """Raise 403 unless the request is same-origin and carries the session's CSRF token."""
    if not same_origin(request):
        raise HTTPException(403, "cross-site request refused")
    sent = form_token or request.headers.get("x-csrf-token") or ""
    expected = request.session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, "missing or wrong CSRF token (reload the page)")


class LoginThrottle:
    """At most ``attempts`` wrong passwords per account name in ``window_s``; then the name waits
    until the oldest failure leaves the window. In memory: a restart forgets, which is fine for
    slowing down guessing (the Argon2 cost slows each guess too)."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.refused = 0

    def wait_s(self, name: str, now: float | None = None) -> float:
        """0 when ``name`` may try now, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            failures = self._failures.get(name.lower())
            while failures and failures[0] <= now - self.window_s:
                failures.popleft()
            if not failures or len(failures) < self.attempts:
                return 0.0
            self.refused += 1
            return failures[0] + self.window_s - now

    def failed(self, name: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._failures) > 10_000:  # a flood of made-up names must not grow memory
                recent = now - self.window_s
                self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > recent}
            self._failures.setdefault(name.lower(), deque()).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name.lower(), None)


class SecurityHeaders:
    """Adds the headers above to every response (pure ASGI: streaming responses stay streamed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)

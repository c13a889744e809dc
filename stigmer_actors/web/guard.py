"""The dashboard behind the daemon's API keys (``serve --api-keys``): one WSGI middleware.

Every page and stream needs a key the daemon accepts (any role: the dashboard only reads,
so ``viewer`` is enough). A program sends it as ``Authorization: Bearer KEY``; a browser
signs in once at ``/login``, which checks the key and keeps it in a cookie that scripts
cannot read (HttpOnly), that is sent to this site only (SameSite=Strict) and, under TLS,
only over TLS (Secure). ``/static/`` (CSS and the script, nothing of the executions) is
served to anyone. Without a key: a page redirects to ``/login``, anything else gets 401.

A refused key costs the same as an unknown one, and neither is ever logged.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, quote

from stigmer_actors.security.keyring import KeyRing

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

COOKIE = "stigmer_key"
MAX_FORM_BYTES = 4096
"""A sign-in form larger than this is refused (413): a key is ~50 characters."""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · stigmer-actors</title>
<link rel="stylesheet" href="/static/dashboard.css"></head>
<body><main class="login"><h1>stigmer-actors</h1>
<p>This daemon needs an API key (<code>stigmer-actors keys create NAME --role viewer</code>).</p>
{problem}<form method="post" action="/login?next={next}">
<label>API key <input type="password" name="key" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></main></body></html>
"""


def guarded(keys: KeyRing, secure: bool) -> Callable[[WsgiApp], WsgiApp]:
    """The middleware for ``keys``; ``secure``: the dashboard is served over TLS."""

    def wrap(app: WsgiApp) -> WsgiApp:
        def guard(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/login":
                return _login(keys, secure, environ, start_response)
            if path.startswith("/static/") or keys.identify(_presented(environ)) is not None:
                return app(environ, start_response)
            if environ.get("REQUEST_METHOD") == "GET" and "text/html" in environ.get("HTTP_ACCEPT", ""):
                target = path + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
                start_response("303 See Other", [("Location", "/login?next=" + quote(target, safe=""))])
                return [b""]
            return _plain(start_response, "401 Unauthorized",
                          "an API key is needed: send 'Authorization: Bearer KEY' or sign in at /login",
                          [("WWW-Authenticate", 'Bearer realm="stigmer-actors"')])

        return guard

    return wrap


def _presented(environ: dict[str, Any]) -> str:
    """The key the request carries (header first, then the sign-in cookie), or ''."""
    header: str = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookies: str = environ.get("HTTP_COOKIE", "")
    for part in cookies.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return ""


def _login(keys: KeyRing, secure: bool, environ: dict[str, Any],
           start_response: Callable[..., Any]) -> Iterable[bytes]:
    target = _local(parse_qs(environ.get("QUERY_STRING", "")).get("next", ["/"])[0])
    if environ.get("REQUEST_METHOD") != "POST":
        return _form(start_response, "200 OK", target, "")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if not 0 <= length <= MAX_FORM_BYTES:
        return _plain(start_response, "413 Content Too Large",
                      f"a sign-in form is at most {MAX_FORM_BYTES} bytes")
    body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
    key = parse_qs(body).get("key", [""])[0].strip()
    if keys.identify(key) is None:
        return _form(start_response, "401 Unauthorized", target, "That key is not accepted here.")
    cookie = f"{COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
    start_response("303 See Other", [("Location", target), ("Set-Cookie", cookie)])
    return [b""]


def _local(target: str) -> str:
    """Only a path on this site may be where sign-in returns to (no open redirect)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def _form(start_response: Callable[..., Any], status: str, target: str, problem: str) -> Iterable[bytes]:
    shown = f'<p class="error">{html.escape(problem)}</p>\n' if problem else ""
    body = _PAGE.format(problem=shown, next=quote(target, safe="")).encode()
    start_response(status, [("Content-Type", "text/html; charset=utf-8"),
                            ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
    return [body]


def _plain(start_response: Callable[..., Any], status: str, text: str,
           headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
    body = (text + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))), *(headers or [])])
    return [body]

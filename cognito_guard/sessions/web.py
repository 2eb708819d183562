"""The framework-neutral HTTP pieces of web sign-in: request and response, cookies, CSRF, return_to.

Adapters turn their framework's request into a :class:`WebRequest` and a :class:`WebResponse`
back into their framework's response; every rule below lives here once.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from ..issuers import is_loopback_host

__all__ = [
    "CSRF_HEADER",
    "ROUTES",
    "UNSAFE_METHODS",
    "CookieRules",
    "WebRequest",
    "WebResponse",
    "csrf_satisfied",
    "mounted_routes",
    "safe_return_to",
]

log = logging.getLogger("cognito_guard")

CSRF_HEADER = "x-csrf"
"""The header (value ``1``) a cookie-authenticated unsafe request must carry."""

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

ROUTES = (("login", "GET"), ("callback", "GET"), ("logout", "POST"), ("user", "GET"))
"""The sign-in routes every adapter mounts below the prefix, with their one method."""


def mounted_routes(prefix: str) -> tuple[tuple[str, str, str], ...]:
    """``(path, endpoint name, method)`` of each sign-in route below ``prefix``: what an adapter
    mounts.

    Example: ``mounted_routes("/auth")[0]  # ("/auth/login", "cognito_guard_sign_in_login", "GET")``
    """
    return tuple(
        (f"{prefix}/{name}", f"cognito_guard_sign_in_{name}", method) for name, method in ROUTES
    )


SameSite = Literal["Lax", "Strict", "None"]

# Printable ASCII without space; a path, then optionally a query. No scheme, no authority.
_PATH = re.compile(r"/[!-~]*", re.ASCII)


@dataclass(frozen=True)
class WebRequest:
    """What the sign-in flow needs of one HTTP request (header names in lower case).

    ``websocket`` marks a WebSocket handshake: authenticated by the cookie, it must come from the
    request's own origin (browsers send cookies on cross-site handshakes, and no CORS preflight
    protects them).
    ``framework_csrf`` is how an adapter tells the CSRF rule (:func:`csrf_satisfied`) that the
    request passed its framework's own CSRF protection (Django's ``CsrfViewMiddleware`` check,
    Flask-WTF's ``CSRFProtect``): a function answering True or False, asked only for a
    cookie-authenticated unsafe request without ``X-CSRF: 1``, so a framework check that costs
    something (reading the form) runs only then. None: the framework has no such check.

    ``framework_csrf`` is how an adapter tells the CSRF rule (:func:`csrf_satisfied`) that the
    request passed its framework's own CSRF protection (Django's ``CsrfViewMiddleware`` check,
    Flask-WTF's ``CSRFProtect``): a function answering True or False, asked only for a
    cookie-authenticated unsafe request without ``X-CSRF: 1``, so a framework check that costs
    something (reading the form) runs only then. None: the framework has no such check.

    Example::

        WebRequest("GET", "/auth/login", {"return_to": "/orders"}, {"host": "app.example.com"},
                   cookies={}, scheme="https")
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict, repr=False)
    scheme: str = "https"
    websocket: bool = False
    framework_csrf: Callable[[], bool] | None = field(default=None, repr=False, compare=False)

    @property
    def host(self) -> str:
        """The host name of the ``Host`` header (no port, no brackets)."""
        value = self.headers.get("host", "")
        try:
            return urlsplit("//" + value).hostname or ""
        except ValueError:
            return ""

    def header(self, name: str) -> str:
        """The value of header ``name`` (any case), or ``""``."""
        return self.headers.get(name.lower(), "")

    @property
    def same_origin(self) -> bool:
        """True when the ``Origin`` header names this request's own ``Host``."""
        origin = self.header("origin")
        if not origin:
            return False
        try:
            return urlsplit(origin).netloc == self.header("host")
        except ValueError:
            return False

    @property
    def wants_json(self) -> bool:
        """True when the client asks for JSON rather than a page (a single-page app's fetch)."""
        accept = self.header("accept").lower()
        return "application/json" in accept and "text/html" not in accept


@dataclass(frozen=True)
class WebResponse:
    """A framework-neutral answer: status, headers (``Set-Cookie`` may repeat) and body."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @classmethod
    def json(
        cls, value: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
    ) -> WebResponse:
        """A JSON answer that no cache keeps."""
        return cls(
            status,
            (("Content-Type", "application/json"), ("Cache-Control", "no-store"), *headers),
            json.dumps(value).encode(),
        )

    @classmethod
    def redirect(cls, location: str, headers: tuple[tuple[str, str], ...] = ()) -> WebResponse:
        """A 302 to ``location``."""
        return cls(302, (("Location", location), ("Cache-Control", "no-store"), *headers))

    @classmethod
    def page(
        cls, status: int, title: str, text: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> WebResponse:
        """A small HTML page; ``title`` and ``text`` are escaped here."""
        body = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
            "<p><a href='/'>Back to the start page</a></p></body></html>"
        )
        return cls(
            status,
            (
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                *headers,
            ),
            body.encode(),
        )

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case)."""
        return [value for key, value in self.headers if key.lower() == name.lower()]


def csrf_satisfied(request: WebRequest) -> bool:
    """Whether ``request``, authenticated by the session cookie, may go on (the CSRF rule).

    A safe method always may; an unsafe one (``POST``, ``PUT``, ``PATCH``, ``DELETE``) when it
    carries ``X-CSRF: 1`` (a cross-site page cannot add the header without a CORS preflight), or
    when it passed the framework's own CSRF protection (``request.framework_csrf``, asked last):
    an HTML form cannot send a header, but it can send the framework's CSRF token.

    Example: ``csrf_satisfied(WebRequest("POST", "/orders", headers={"x-csrf": "1"}))  # True``
    """
    if request.method not in UNSAFE_METHODS or request.header(CSRF_HEADER) == "1":
        return True
    check = request.framework_csrf
    return check is not None and check() is True


def safe_return_to(value: str | None) -> str:
    """``value`` when it is a same-origin relative path (``/orders?x=1``), else ``"/"``.

    Refused: absolute URLs, scheme-relative ``//host``, ``/\\host`` (browsers read ``\\`` as
    ``/``), control characters and anything else that is not printable ASCII.

    Example: ``safe_return_to("//evil.example")  # -> "/"``
    """
    if not value or not _PATH.fullmatch(value):
        return "/"
    if value.startswith(("//", "/\\")) or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


@dataclass(frozen=True)
class CookieRules:
    """How the session cookie (and the short-lived sign-in cookie) are set.

    ``__Host-`` prefixed, ``Secure``, ``HttpOnly``, ``Path=/``, no ``Domain``; ``SameSite=Lax``
    by default (a ``Strict`` cookie is not sent on the redirect back from Cognito), whatever the
    request looks like: a TLS-terminating proxy may well forward plain http with
    ``Host: 127.0.0.1``. Only with ``insecure_dev_cookies=True`` (development; usually set
    through ``WebSignIn(insecure_dev_cookies=True)``) do requests on plain http to a loopback
    host get the cookie without ``Secure`` and without the prefix, which browsers would refuse
    there.

    Example::

        rules = CookieRules()
        rules.name(request)             # "__Host-cognito_session", on every request
        CookieRules(insecure_dev_cookies=True).name(request)  # "cognito_session" on
                                                              # http://127.0.0.1 only
    """

    name_base: str = "cognito_session"
    same_site: SameSite = "Lax"
    insecure_dev_cookies: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", self.name_base):
            raise ConfigurationError("the cookie name must be 1-64 letters, digits or '_'")
        if self.same_site not in ("Lax", "Strict", "None"):
            raise ConfigurationError("same_site must be 'Lax', 'Strict' or 'None'")
        if not isinstance(self.insecure_dev_cookies, bool):
            raise ConfigurationError("insecure_dev_cookies must be True or False")

    def insecure(self, request: WebRequest) -> bool:
        """True when ``request`` gets the development cookie: only with ``insecure_dev_cookies``,
        and then only on plain http to a loopback host."""
        return (
            self.insecure_dev_cookies
            and request.scheme == "http"
            and is_loopback_host(request.host)
        )

    def name(self, request: WebRequest, suffix: str = "") -> str:
        """The cookie name for ``request``."""
        base = self.name_base + suffix
        return base if self.insecure(request) else "__Host-" + base

    def set(self, request: WebRequest, value: str, max_age: int, suffix: str = "") -> str:
        """A ``Set-Cookie`` value."""
        insecure = self.insecure(request)
        attributes = [f"{self.name(request, suffix)}={value}", "Path=/", f"Max-Age={max_age}"]
        attributes.append("HttpOnly")
        if not insecure:
            attributes.append("Secure")
        same_site = self.same_site
        if same_site == "None" and insecure:
            same_site = "Lax"  # SameSite=None needs Secure; browsers drop such a cookie
        attributes.append(f"SameSite={same_site}")
        return "; ".join(attributes)

    def clear(self, request: WebRequest, suffix: str = "") -> str:
        """A ``Set-Cookie`` value that deletes the cookie."""
        return self.set(request, "", 0, suffix)

    def read(self, request: WebRequest, suffix: str = "") -> str | None:
        """The cookie's value on ``request``, or None."""
        value = request.cookies.get(self.name(request, suffix))
        return value or None

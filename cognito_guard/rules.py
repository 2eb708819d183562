"""Path rules: which :class:`~cognito_guard.bearer.Requirement` a request must meet.

One implementation for the plain WSGI and ASGI middlewares. ``protect`` maps path prefixes to the
requirement of everything below them::

    PathRules({
        "/": Requirement(),                         # deny by default: any valid token
        "/health": None,                            # public
        "GET /orders": Requirement.of(scopes="orders/read"),
        "POST /orders": Requirement.of(scopes="orders/write"),
        "WEBSOCKET /feed": Requirement(),           # WebSocket handshakes (ASGI)
    })

- A key is ``"/prefix"`` (every method) or ``"METHOD /prefix"``. A prefix covers itself and what
  lies below it on a segment boundary: ``/orders`` covers ``/orders``, ``/orders/`` and
  ``/orders/42``, not ``/orders-archive``.
- The longest matching prefix wins; at equal length a rule for the request's method beats a
  method-less one. ``HEAD`` requests are matched by ``GET`` rules too, as frameworks answer them
  with the GET handler. ``None`` makes a path public, and so does matching no rule.
- Paths are matched as they are, never normalised: a path with ``.``, ``..`` or empty segments
  (``/health/../orders``, ``/orders//7``, their percent-encoded forms ``%2e%2e`` and ``%2f``
  included), or one not starting with ``/``, raises :class:`~cognito_guard.InvalidPathError`
  (400 ``invalid_request``). Normalising would let the rules judge one path while the
  application routes another: a router matching ``/admin/../public`` against a mount at
  ``/admin`` hands it to the admin application. A trailing slash is not an empty segment.
- The default is ``{"/": Requirement()}``: every path needs a valid token. A bare
  ``Requirement`` means ``{"/": requirement}``. ``{}`` is refused (it would protect nothing,
  which is more likely a mistake than a wish): write ``{"/": None}`` to make everything public.
- A method must be an HTTP method (or ``WEBSOCKET``): ``"GETS /orders"`` would match no request
  and leave the path to a weaker rule, so it is a :class:`~cognito_guard.ConfigurationError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from urllib.parse import unquote

from .bearer import Requirement
from .errors import ConfigurationError, InvalidPathError

__all__ = ["PathRules", "Protect"]

Protect = Requirement | Mapping[str, Requirement | None]
"""What the middlewares accept as ``protect``."""


def _fault(path: str) -> str | None:
    """What makes ``path`` unfit for prefix rules, or None when it is fit."""
    if not path.startswith("/"):
        return "does not start with '/'"
    # Servers decode %2e and %2f before the application sees the path; decoding once more
    # covers a server that does not, and an application that decodes a second time.
    text = unquote(path) if "%" in path else path
    if "//" in text:  # any "//" is an empty segment: only the first and a trailing one are empty
        return "has an empty segment"
    if "/." in text:
        for segment in text.split("/"):
            if segment in (".", ".."):
                return f"has a {segment!r} segment"
    return None


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
_METHODS = (*HTTP_METHODS, "WEBSOCKET")


def closest_method(word: str, methods: tuple[str, ...] = HTTP_METHODS) -> str | None:
    """The method ``word`` is probably a misspelling of (``"GETS"`` -> ``"GET"``), or None."""
    close = difflib.get_close_matches(word.upper(), methods, n=1, cutoff=0.6)
    return close[0] if close else None


def _parse_key(key: object) -> tuple[str | None, str]:
    text = key.strip() if isinstance(key, str) else ""
    method, _, prefix = text.rpartition(" ")
    method = method.strip()
    if not prefix.startswith("/") or (method and not method.isalpha()):
        raise ConfigurationError(
            f"protect key {key!r} must be '/prefix' or 'METHOD /prefix' (e.g. 'GET /orders')"
        )
    if method and method.upper() not in _METHODS:
        close = closest_method(method, _METHODS)
        hint = f"did you mean {close!r}?" if close else f"use one of {', '.join(_METHODS)}"
        raise ConfigurationError(
            f"protect key {key!r}: {method!r} is not an HTTP method, so the rule would match no "
            f"request; {hint}"
        )
    if "?" in prefix or "#" in prefix:
        raise ConfigurationError(
            f"protect key {key!r}: rules match paths, never query strings or fragments"
        )
    fault = _fault(prefix)
    if fault is not None:
        raise ConfigurationError(
            f"protect key {key!r}: the path {fault}, and requests with such paths are refused "
            "(400), so the rule would match none"
        )
    return (method.upper() or None), prefix.rstrip("/") or "/"


class PathRules:
    """The requirement of each request, by method and path (see the module documentation).

    Example::

        rules = PathRules({"/": Requirement(), "/health": None})
        rules.requirement_for("GET", "/orders/42")   # -> Requirement()
        rules.requirement_for("GET", "/health")      # -> None (public)
    """

    def __init__(self, protect: Protect | None = None) -> None:
        if protect is None:
            protect = Requirement()
        if isinstance(protect, Requirement):
            protect = {"/": protect}
        if not isinstance(protect, Mapping):
            raise ConfigurationError(
                "protect must be a Requirement or a mapping of path rules "
                f"({{'/': Requirement(), '/health': None}}), not {type(protect).__name__}"
            )
        if not protect:
            raise ConfigurationError(
                "protect={} protects nothing: leave protect out to require a valid token on every "
                "path, or write {'/': None} if every path is really meant to be public"
            )
        seen: dict[tuple[str | None, str], object] = {}
        self._rules: list[tuple[str | None, str, Requirement | None]] = []
        for key, requirement in protect.items():
            if requirement is not None and not isinstance(requirement, Requirement):
                raise ConfigurationError(
                    f"protect[{key!r}] must be a Requirement or None, not {requirement!r}"
                )
            method, prefix = _parse_key(key)
            # "/orders" and "/orders/" are one rule: two values for it would silently override.
            if (method, prefix) in seen:
                raise ConfigurationError(
                    f"protect keys {seen[method, prefix]!r} and {key!r} cover the same paths"
                )
            seen[method, prefix] = key
            self._rules.append((method, prefix, requirement))

    def requirement_for(self, method: str, path: str) -> Requirement | None:
        """The requirement for a request, or None when the path is public.

        ``path`` is the decoded path the application routes (``""`` counts as ``/``). One with
        ``.``, ``..`` or empty segments, or not starting with ``/``, raises
        :class:`~cognito_guard.InvalidPathError` before any rule is chosen.
        """
        if not path:
            path = "/"
        fault = _fault(path)
        if fault is not None:
            raise InvalidPathError(f"the request path {fault}")
        method = method.upper()
        best: tuple[int, int] = (-1, -1)
        found: Requirement | None = None
        for rule_method, prefix, requirement in self._rules:
            if rule_method is None:
                weight = 0
            elif rule_method == method:
                weight = 2
            elif rule_method == "GET" and method == "HEAD":
                weight = 1
            else:
                continue
            covers = prefix == "/" or path == prefix or path.startswith(prefix + "/")
            if covers and (len(prefix), weight) > best:
                best, found = (len(prefix), weight), requirement
        return found

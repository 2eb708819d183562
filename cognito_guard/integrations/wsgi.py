"""Plain WSGI middleware: Cognito bearer tokens for any WSGI application.

Example::

    from cognito_guard.bearer import Requirement
    from cognito_guard.integrations.wsgi import CognitoWSGIMiddleware

    application = CognitoWSGIMiddleware(
        application,
        verifier,                               # None: built from the COGNITO_* environment
        {
            "/": Requirement(),                 # everything needs a valid token ...
            "/health": None,                    # ... except the health check
            "GET /orders": Requirement.of(scopes="orders/read"),
            "POST /orders": Requirement.of(scopes="orders/write"),
        },
    )

    def orders(environ, start_response):
        claims = environ["cognito_guard.claims"]   # CognitoClaims, or None without a token

What is protected is said by ``requirement``:

- a :class:`~cognito_guard.bearer.Requirement` (default ``Requirement()``): every request needs a
  valid token meeting it;
- ``None``: nothing is required;
- a mapping of rules ``"/prefix"`` or ``"METHOD /prefix"`` to a ``Requirement`` (protected) or
  ``None`` (open). The rule with the longest prefix wins, a rule naming the method beating one
  that does not; a prefix matches on segment boundaries (``/orders`` matches ``/orders`` and
  ``/orders/7``, not ``/orders-archive``); a ``GET`` rule applies to ``HEAD`` too. Paths no rule
  matches are open, so add ``"/": Requirement()`` to protect by default;
- a callable ``(environ) -> Requirement | None`` for anything else.

Rules match ``PATH_INFO`` (below the mount point) with repeated slashes collapsed.

On an open path a token is still verified when one comes, so the application can use the
claims; a bad one is not an error there: the claims are None and
``environ["cognito_guard.error"]`` holds the rejection. On a protected path a request that fails
gets the shared answer (400, 401, 403 or 503 with its ``WWW-Authenticate`` or ``Retry-After``
header and a small JSON body) and never reaches the application.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeAlias

from ..bearer import BearerGuard, Requirement
from ..config import verifier_from_env
from ..errors import CognitoGuardError, ConfigurationError
from ..verifier import CognitoVerifier

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication

__all__ = [
    "CLAIMS_KEY",
    "ERROR_KEY",
    "CognitoWSGIMiddleware",
    "Environ",
    "PathRules",
    "Rule",
    "RuleFunction",
]

CLAIMS_KEY = "cognito_guard.claims"
ERROR_KEY = "cognito_guard.error"

Environ: TypeAlias = "dict[str, Any]"
PathRules: TypeAlias = "Mapping[str, Requirement | None]"
RuleFunction: TypeAlias = "Callable[[Environ], Requirement | None]"
Rule: TypeAlias = "Requirement | PathRules | RuleFunction | None"
"""What :class:`CognitoWSGIMiddleware` accepts as ``requirement``."""

_SLASHES = re.compile(r"/{2,}")
_RULE = re.compile(r"(?:(?P<method>[A-Za-z]+)\s+)?(?P<prefix>/\S*)")
_UNSET = Requirement()


class _PrefixRules:
    """``"[METHOD ]/prefix" -> Requirement | None``, longest prefix first."""

    def __init__(self, rules: Mapping[str, Requirement | None]) -> None:
        parsed: list[tuple[int, int, str | None, str, Requirement | None]] = []
        seen: dict[tuple[str | None, str], str] = {}
        for key, requirement in rules.items():
            match = _RULE.fullmatch(key.strip()) if isinstance(key, str) else None
            if match is None:
                raise ConfigurationError(f"WSGI rule {key!r} must be '/prefix' or 'METHOD /prefix'")
            if requirement is not None and not isinstance(requirement, Requirement):
                raise ConfigurationError(f"WSGI rule {key!r} must map to a Requirement or None")
            method = match["method"].upper() if match["method"] else None
            prefix = _SLASHES.sub("/", match["prefix"]).rstrip("/")
            # "/orders" and "/orders/" are one rule; two values for it would be a silent override.
            if (method, prefix) in seen:
                raise ConfigurationError(
                    f"WSGI rules {seen[method, prefix]!r} and {key!r} cover the same paths"
                )
            seen[method, prefix] = key
            parsed.append((len(prefix), method is not None, method, prefix, requirement))
        parsed.sort(key=lambda rule: (rule[0], rule[1]), reverse=True)
        self._rules = [(method, prefix, req) for _, _, method, prefix, req in parsed]

    def __call__(self, environ: Environ) -> Requirement | None:
        path = _SLASHES.sub("/", environ.get("PATH_INFO") or "/")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        methods = {method, "GET"} if method == "HEAD" else {method}
        for rule_method, prefix, requirement in self._rules:
            if rule_method is not None and rule_method not in methods:
                continue
            if path == prefix or path.startswith(prefix + "/") or not prefix:
                return requirement
        return None


class CognitoWSGIMiddleware:
    """WSGI middleware that verifies bearer tokens and enforces :class:`Requirement` rules.

    Example::

        app.wsgi_app = CognitoWSGIMiddleware(app.wsgi_app, verifier, {"/api": Requirement()})

    Args:
        app: the WSGI application to protect.
        verifier: the verifier; None builds one from the ``COGNITO_*`` environment variables now
            (a :class:`~cognito_guard.ConfigurationError` at start-up when they are wrong).
        requirement: what is protected; see the module documentation. The default protects
            every path with "any valid token".
        realm: the ``realm`` of the ``WWW-Authenticate`` challenges.

    Sets ``environ["cognito_guard.claims"]`` (the claims, or None) and
    ``environ["cognito_guard.error"]`` (a rejected token's error on an open path, else None).
    """

    def __init__(
        self,
        app: WSGIApplication,
        verifier: CognitoVerifier | None = None,
        requirement: Rule = _UNSET,
        *,
        realm: str | None = None,
    ) -> None:
        self.app = app
        self.guard = BearerGuard(
            verifier if verifier is not None else verifier_from_env(), realm=realm
        )
        if requirement is None or isinstance(requirement, Requirement):
            fixed = requirement
            self._rule: RuleFunction = lambda _environ: fixed
        elif isinstance(requirement, Mapping):
            self._rule = _PrefixRules(requirement)
        elif callable(requirement):
            self._rule = requirement
        else:
            raise ConfigurationError(
                "requirement must be a Requirement, None, a mapping of path rules or a callable"
            )

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        requirement = self._rule(environ)
        environ[CLAIMS_KEY] = None
        environ[ERROR_KEY] = None
        header = environ.get("HTTP_AUTHORIZATION")
        try:
            claims = self.guard.authenticate([] if header is None else [header])
            environ[CLAIMS_KEY] = claims
            if requirement is not None:
                self.guard.authorize(claims, requirement)
        except CognitoGuardError as exc:
            if requirement is None:
                environ[ERROR_KEY] = exc
                return self.app(environ, start_response)
            return self._answer(exc, start_response)
        return self.app(environ, start_response)

    def _answer(self, exc: CognitoGuardError, start_response: StartResponse) -> list[bytes]:
        answer = self.guard.answer(exc)
        body = answer.json()
        status = f"{answer.status} {HTTPStatus(answer.status).phrase}"
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *answer.headers,
        ]
        start_response(status, headers)
        return [body]

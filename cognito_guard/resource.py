"""RFC 9728 protected-resource metadata: the document, its well-known URL, the challenge.

A client that meets a 401 learns from ``resource_metadata="<url>"`` in the ``WWW-Authenticate``
challenge where the resource describes itself; the document there names the authorization
servers (here: the user pools) whose tokens the resource accepts, the scopes it knows and how it
takes a token. The client then asks the pool for a token with ``resource=<the resource>``
(RFC 8707), which Cognito puts in the access token's ``aud`` and which a verifier given
``audience=<the resource>`` demands.

Framework-neutral and without I/O: an adapter answers requests for
:attr:`ProtectedResource.metadata_path` with :meth:`ProtectedResource.response` (the document,
public and cacheable) and adds :meth:`ProtectedResource.challenge` to its 401s.

Example::

    resource = ProtectedResource.for_verifier("https://api.example.com/orders", verifier)
    resource.metadata_url    # https://api.example.com/.well-known/oauth-protected-resource/orders
    resource.document()      # {"resource": ..., "authorization_servers": [...], ...}
    resource.challenge('Bearer error="invalid_token"')
    # 'Bearer error="invalid_token", resource_metadata="https://api.example.com/.well-known/...'
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .issuers import canonical_issuer, is_loopback_host
from .verifier import CognitoVerifier

__all__ = [
    "METADATA_CACHE_CONTROL",
    "WELL_KNOWN",
    "MetadataResponse",
    "ProtectedResource",
    "check_resource",
    "metadata_url",
]

WELL_KNOWN = "/.well-known/oauth-protected-resource"
"""The well-known path of RFC 9728 section 3."""

METADATA_CACHE_CONTROL = "public, max-age=3600"
"""The ``Cache-Control`` of the document: the same for every client, and it changes only with a
deployment, so clients and shared caches may keep it an hour."""

_METHODS = "GET, HEAD, OPTIONS"


def check_resource(resource: str) -> str:
    """Return ``resource`` if it can identify a protected resource, else raise ConfigurationError.

    RFC 9728 section 1.2: an ``https`` URL with a host and without a fragment (plain ``http`` on a
    loopback host is accepted for local development). A query is refused too: RFC 8707 advises
    against one, and the metadata URL built from it could not be told apart by its path alone.

    Example: ``check_resource("https://api.example.com")``
    """
    if not isinstance(resource, str) or not resource:
        raise ConfigurationError(f"resource must be a non-empty string, not {resource!r}")
    try:
        parts = urlsplit(resource)
        host = parts.hostname or ""
    except ValueError as exc:
        raise ConfigurationError(f"resource {resource!r} is not a valid URL") from exc
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host))
    if not secure or not host:
        raise ConfigurationError(
            f"resource {resource!r} must be an https URL (plain http only on a loopback host), "
            "such as 'https://api.example.com'"
        )
    if "#" in resource or parts.query or "?" in resource:
        raise ConfigurationError(f"resource {resource!r} must have no query and no fragment")
    if not resource.isprintable() or " " in resource:
        raise ConfigurationError(f"resource {resource!r} contains whitespace or control characters")
    return resource


def metadata_url(resource: str) -> str:
    """The URL of ``resource``'s metadata document (RFC 9728 section 3.1).

    The well-known path goes between the host and the resource's path, the slash that ends the
    host being dropped: ``https://api.example.com`` and ``https://api.example.com/`` both give
    ``https://api.example.com/.well-known/oauth-protected-resource``, and
    ``https://api.example.com/orders`` gives
    ``https://api.example.com/.well-known/oauth-protected-resource/orders``.
    """
    parts = urlsplit(check_resource(resource))
    path = "" if parts.path == "/" else parts.path
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}{path}"


def _quote(value: str) -> str:
    # A checked resource URL holds no quote, backslash or control character; stay safe anyway.
    return "".join(ch for ch in value if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\')


def _names(value: Iterable[str], what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str) or not item or " " in item or not item.isprintable():
            raise ConfigurationError(f"{what} must be names without whitespace, got {item!r}")
    return items


@dataclass(frozen=True)
class MetadataResponse:
    """A framework-neutral HTTP response of the metadata path: status, headers and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class ProtectedResource:
    """The RFC 9728 metadata of one protected resource (an API, an MCP server).

    Build it with :meth:`for_verifier`, which takes the authorization servers from the
    verifier's pools. ``resource`` is the resource identifier exactly as clients use it (the
    ``resource=`` of their token requests, the ``aud`` of their tokens).

    Example::

        resource = ProtectedResource.for_verifier(
            "https://mcp.example.com/mcp", verifier, scopes_supported=["orders/read"]
        )
        body = resource.body()             # serve at resource.metadata_path, application/json
    """

    resource: str
    authorization_servers: tuple[str, ...]
    scopes_supported: tuple[str, ...] = ()
    resource_name: str | None = None

    def __post_init__(self) -> None:
        check_resource(self.resource)
        servers = _names(self.authorization_servers, "authorization_servers")
        if not servers:
            raise ConfigurationError("authorization_servers must name at least one issuer")
        object.__setattr__(self, "authorization_servers", servers)
        scopes = _names(self.scopes_supported, "scopes_supported")
        object.__setattr__(self, "scopes_supported", scopes)
        if self.resource_name is not None and not isinstance(self.resource_name, str):
            raise ConfigurationError("resource_name must be a string")

    @classmethod
    def for_verifier(
        cls,
        resource: str,
        verifier: CognitoVerifier,
        *,
        scopes_supported: Iterable[str] | None = None,
        resource_name: str | None = None,
    ) -> ProtectedResource:
        """The metadata of ``resource`` protected by ``verifier``.

        ``authorization_servers`` lists one issuer per pool of the verifier: the first of its
        accepted spellings of that pool (the original ``cognito-idp`` form unless the verifier
        accepts only the updated one), which is the issuer the pool's discovery document states.
        ``scopes_supported`` defaults to the scopes the verifier demands of every token.

        A verifier with ``audience=`` must accept ``resource`` as an audience: clients ask for
        tokens for ``resource``, which the verifier would then refuse.
        """
        check_resource(resource)
        if verifier.audiences and resource not in verifier.audiences:
            raise ConfigurationError(
                f"resource {resource!r} is not one of the verifier's audiences "
                f"{list(verifier.audiences)}: clients would get tokens it refuses"
            )
        servers: dict[str, str] = {}
        for issuer in verifier.issuers:
            servers.setdefault(canonical_issuer(issuer), issuer)
        scopes = verifier.scopes if scopes_supported is None else scopes_supported
        return cls(resource, tuple(servers.values()), tuple(scopes), resource_name)

    @property
    def metadata_url(self) -> str:
        """The well-known URL of the metadata document (RFC 9728 section 3.1)."""
        return metadata_url(self.resource)

    @property
    def metadata_path(self) -> str:
        """The path part of :attr:`metadata_url`, for an application's router."""
        return urlsplit(self.metadata_url).path

    def document(self) -> dict[str, Any]:
        """The metadata document (RFC 9728 section 2) as a JSON-ready dict.

        ``resource``, ``authorization_servers``, ``bearer_methods_supported`` (``["header"]``:
        the ``Authorization`` header is the only place a token is read) and, when set,
        ``scopes_supported`` and ``resource_name``.
        """
        document: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": list(self.authorization_servers),
        }
        if self.scopes_supported:
            document["scopes_supported"] = list(self.scopes_supported)
        document["bearer_methods_supported"] = ["header"]
        if self.resource_name is not None:
            document["resource_name"] = self.resource_name
        return document

    def body(self) -> bytes:
        """The document as UTF-8 JSON, to serve with ``Content-Type: application/json``."""
        return self._body

    @cached_property
    def _body(self) -> bytes:
        # Frozen: the document never changes, so it is encoded once.
        return json.dumps(self.document()).encode()

    def response(self, method: str) -> MetadataResponse:
        """The answer to a ``method`` request for :attr:`metadata_path`: what adapters send.

        ``GET`` (and ``HEAD``, without the body): 200 with the JSON document, cacheable by
        anyone (:data:`METADATA_CACHE_CONTROL`) and readable from any origin
        (``Access-Control-Allow-Origin: *``: the document is public and no credentials are
        involved, and browser-based clients such as MCP inspectors fetch it cross-origin).
        ``OPTIONS``: 204, the CORS preflight of such a fetch. Any other method: 405.

        Example: ``response = resource.response("GET")  # .status, .headers, .body``
        """
        if method in ("GET", "HEAD"):
            body = self._body
            headers = (
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", METADATA_CACHE_CONTROL),
                ("Access-Control-Allow-Origin", "*"),
            )
            return MetadataResponse(200, headers, body if method == "GET" else b"")
        if method == "OPTIONS":
            preflight = (
                ("Allow", _METHODS),
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", _METHODS),
                ("Access-Control-Allow-Headers", "*"),
                ("Access-Control-Max-Age", "3600"),
            )
            return MetadataResponse(204, preflight, b"")
        return MetadataResponse(
            405, (("Allow", _METHODS), ("Content-Length", "0"), ("Cache-Control", "no-store")), b""
        )

    @property
    def challenge_parameter(self) -> str:
        """``resource_metadata="<metadata_url>"``, the auth-param of RFC 9728 section 5.1."""
        return f'resource_metadata="{_quote(self.metadata_url)}"'

    def challenge(self, www_authenticate: str) -> str:
        """``www_authenticate`` (a ``Bearer`` challenge) with :attr:`challenge_parameter` added.

        Example: ``challenge("Bearer")  # -> 'Bearer resource_metadata="https://..."'``
        """
        if www_authenticate.strip() == "Bearer":
            return f"Bearer {self.challenge_parameter}"
        return f"{www_authenticate}, {self.challenge_parameter}"

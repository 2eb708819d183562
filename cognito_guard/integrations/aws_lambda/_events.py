"""Reading Lambda events and writing proxy answers: every event shape in one place.

Nothing here verifies anything: it finds the ``Authorization`` values, the method and path, the
route ARN and the claims an API Gateway authorizer already checked, and writes a rejection in the
shape of the event that came in.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from ...bearer import Answer
from ...errors import ConfigurationError

__all__ = [
    "AuthorizerKind",
    "ProxyKind",
    "RouteArn",
    "authorization_values",
    "authorizer_kind",
    "bare_or_bearer",
    "gateway_claims",
    "proxy_kind",
    "proxy_rejection",
    "request_line",
]

Event = Mapping[str, Any]
ProxyKind = Literal["v1", "v2", "alb"]
AuthorizerKind = Literal["token", "request", "websocket", "http", "appsync"]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _context(event: Event) -> Mapping[str, Any]:
    return _mapping(event.get("requestContext"))


# -- what kind of event ------------------------------------------------------------------------


def proxy_kind(event: Event) -> ProxyKind:
    """``v1`` (REST API, HTTP API payload 1.0), ``v2`` (HTTP API 2.0, function URL) or ``alb``."""
    context = _context(event)
    if "elb" in context:
        return "alb"
    if event.get("version") == "2.0" or "http" in context:
        return "v2"
    if "httpMethod" in event:
        return "v1"
    raise ConfigurationError(
        "the event is not an API Gateway, ALB or function URL request: a cognito_guard Lambda "
        "decorator only protects handlers invoked through one of them"
    )


def authorizer_kind(event: Event) -> AuthorizerKind:
    """Which authorizer event this is; a :class:`ConfigurationError` for any other event."""
    kind = event.get("type")
    if kind == "TOKEN":
        return "token"
    if kind == "REQUEST":
        if event.get("version") == "2.0":
            return "http"
        arn = event.get("methodArn")
        if isinstance(arn, str) and arn.endswith("/$connect"):
            return "websocket"
        return "request"
    if "authorizationToken" in event and "apiId" in _context(event):
        return "appsync"
    raise ConfigurationError(
        "the event is not an API Gateway (TOKEN or REQUEST) or AppSync authorizer event: attach "
        "this function to an API as its Lambda authorizer"
    )


# -- headers, method, path ---------------------------------------------------------------------


def authorization_values(event: Event) -> list[str]:
    """Every ``Authorization`` header value of a request event, names matched case-insensitively.

    ``multiValueHeaders`` (REST API, ALB with multi-value headers) holds every value; ``headers``
    holds the last one (REST API), the only one (ALB), or the comma-joined ones (HTTP API 2.0).
    Either may be absent or null.
    """
    for field in ("multiValueHeaders", "headers"):
        headers = _mapping(event.get(field))
        values: list[str] = []
        for name, value in headers.items():
            if not isinstance(name, str) or name.lower() != "authorization":
                continue
            if isinstance(value, str):
                values.append(value)
            elif isinstance(value, Sequence):
                values.extend(item for item in value if isinstance(item, str))
        if values:
            return values
    return []


def bare_or_bearer(values: Sequence[str]) -> list[str]:
    """``values`` with a lone bare token written as ``Bearer <token>``.

    An authorizer's token source is often sent without the scheme (AppSync clients and the
    clients of API Gateway's own Cognito authorizer do so); anything with a space in it is left
    to :func:`~cognito_guard.bearer.parse_authorization` as it is.
    """
    if len(values) == 1:
        value = values[0].strip(" \t")
        if value and " " not in value and "\t" not in value:
            return ["Bearer " + value]
    return list(values)


def request_line(event: Event, kind: ProxyKind) -> tuple[str, str]:
    """The request's method and path, for the log record of a rejection."""
    if kind == "v2":
        http = _mapping(_context(event).get("http"))
        return str(http.get("method") or "GET"), str(event.get("rawPath") or "/")
    return str(event.get("httpMethod") or "GET"), str(event.get("path") or "/")


@dataclass(frozen=True)
class RouteArn:
    """An ``execute-api`` method or route ARN, split where policies need it.

    ``arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/42`` has the ``base``
    ``arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/``, the ``verb`` ``GET`` and the
    ``path`` ``/orders/42`` (the path below the stage; ``/`` for the root). A WebSocket
    ``$connect`` ARN has the verb ``$connect``.
    """

    arn: str
    base: str
    verb: str
    path: str

    @classmethod
    def parse(cls, arn: object) -> RouteArn:
        """Split ``arn``; a :class:`ConfigurationError` when it is not an execute-api ARN."""
        if not isinstance(arn, str):
            raise ConfigurationError("the authorizer event has no methodArn or routeArn")
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
            raise ConfigurationError(
                f"the authorizer event's method ARN {arn[:80]!r} is not an execute-api ARN"
            )
        resource = parts[5].split("/", 3)
        if len(resource) < 3 or not all(resource[:3]):
            raise ConfigurationError(
                f"the authorizer event's method ARN {arn[:80]!r} has no API id, stage and method"
            )
        api, stage, verb = resource[:3]
        base = f"{':'.join(parts[:5])}:{api}/{stage}/"
        return cls(arn, base, verb, "/" + (resource[3] if len(resource) == 4 else ""))


def route_arn(event: Event) -> RouteArn:
    """The ARN API Gateway judges the request by: ``methodArn`` (REST, WebSocket, HTTP API 1.0)
    or ``routeArn`` (HTTP API 2.0)."""
    return RouteArn.parse(event.get("routeArn") or event.get("methodArn"))


# -- answers ---------------------------------------------------------------------------------


def proxy_rejection(event: Event, kind: ProxyKind, answer: Answer) -> dict[str, Any]:
    """``answer`` as the proxy response of ``event``'s own kind.

    ALB answers carry ``statusDescription`` and ``isBase64Encoded``, and use
    ``multiValueHeaders`` when the event did (the target group's multi-value setting: ALB reads
    only that field then).
    """
    headers = {"Content-Type": "application/json", **dict(answer.headers)}
    response: dict[str, Any] = {"statusCode": answer.status}
    if kind == "alb":
        response["statusDescription"] = f"{answer.status} {HTTPStatus(answer.status).phrase}"
    if kind == "alb" and event.get("multiValueHeaders") is not None:
        response["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    else:
        response["headers"] = headers
    response["body"] = json.dumps(answer.body)
    response["isBase64Encoded"] = False
    return response


# -- claims an API Gateway authorizer already verified ---------------------------------------

_TIMES = ("exp", "iat", "auth_time", "nbf")
# The REST API Cognito authorizer writes dates as Java's Date.toString() does.
_REST_DATE = "%a %b %d %H:%M:%S UTC %Y"


def _epoch(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if not isinstance(value, str):
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return calendar.timegm(time.strptime(value, _REST_DATE))
    except ValueError:
        return None


def _groups(value: Any) -> list[str]:
    """``cognito:groups`` as the gateways flatten it: ``"a,b"``, ``"[a b]"``, ``"[a, b]"``."""
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    if not isinstance(value, str):
        return []
    text = value.strip()
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except ValueError:
            text = text[1:-1] if text.endswith("]") else text[1:]
        else:
            return _groups(decoded) if isinstance(decoded, list) else []
    return [name for name in text.replace(",", " ").split() if name]


def gateway_claims(event: Event) -> dict[str, Any] | None:
    """The claims API Gateway's own authorizer verified, normalised; None when there are none.

    ``requestContext.authorizer.claims`` (REST API Cognito user pool authorizer) or
    ``requestContext.authorizer.jwt.claims`` (HTTP API JWT authorizer). Both gateways hand every
    value over as a string: times become epoch seconds again, ``cognito:groups`` a list, and an
    HTTP API's ``jwt.scopes`` list fills ``scope`` when the claims lack it.
    """
    authorizer = _mapping(_context(event).get("authorizer"))
    jwt = _mapping(authorizer.get("jwt"))
    raw = authorizer.get("claims") if "claims" in authorizer else jwt.get("claims")
    if not isinstance(raw, Mapping) or not raw:
        return None
    claims = {str(name): value for name, value in raw.items()}
    for name in _TIMES:
        if name in claims:
            epoch = _epoch(claims[name])
            if epoch is None:
                del claims[name]
            else:
                claims[name] = epoch
    if "cognito:groups" in claims:
        claims["cognito:groups"] = _groups(claims["cognito:groups"])
    scopes = jwt.get("scopes")
    if not isinstance(claims.get("scope"), str) and isinstance(scopes, list):
        claims["scope"] = " ".join(scope for scope in scopes if isinstance(scope, str))
    return claims

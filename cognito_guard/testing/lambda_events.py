"""Builders of the events AWS sends to Lambda functions, for testing handlers without AWS.

Each builder returns a fresh ``dict`` shaped as the service sends it: API Gateway REST API
authorizers (TOKEN and REQUEST) and proxy events (payload 1.0), HTTP API authorizers and proxy
events (payload 2.0), WebSocket ``$connect`` authorizers, AppSync authorizers, Application Load
Balancer targets (single- and multi-value headers) and function URLs.

The builders share their request arguments, each meaning the same wherever it is taken:

- ``token``: a bare token, sent as ``Authorization: Bearer <token>`` (the authorizers' first
  positional argument, a keyword of the proxy builders);
- ``authorization``: the header's whole value instead (another scheme, a malformed value); with
  neither, the request carries no ``Authorization`` header (a TOKEN authorizer event carries
  ``Bearer `` and an AppSync one an empty value, as those events always hold one);
- ``headers``: other request headers, over the builder's own (``Host``, ``User-Agent``); the
  payload 2.0 and ALB events carry every name lower-cased;
- ``body`` (proxy events): a string, bytes (decoded) or a mapping (sent as JSON);
- ``method`` and ``path`` (positional in the proxy builders, keywords of the REST and HTTP API
  authorizers): ``GET`` and ``/`` unless given; ``stage``: ``prod``, or ``$default`` on an HTTP
  API.

Example::

    from cognito_guard.testing import LocalIssuer
    from cognito_guard.testing.lambda_events import rest_proxy_event, rest_token_authorizer_event

    issuer = LocalIssuer()
    token = issuer.access_token(scopes=["orders/read"])
    response = orders(rest_proxy_event("GET", "/orders", token=token), None)
    policy = handler(rest_token_authorizer_event(token, method="GET", path="/orders"), None)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "ACCOUNT_ID",
    "API_ID",
    "REGION",
    "alb_event",
    "appsync_authorizer_event",
    "function_url_event",
    "http_api_authorizer_event",
    "http_api_proxy_event",
    "method_arn",
    "rest_proxy_event",
    "rest_request_authorizer_event",
    "rest_token_authorizer_event",
    "websocket_connect_authorizer_event",
]

API_ID = "abcdef1234"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
_API_HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
_TARGET_GROUP = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:targetgroup/lambda/0123456789ab"
)


def method_arn(
    method: str = "GET",
    path: str = "/",
    *,
    stage: str = "prod",
    api_id: str = API_ID,
    region: str = REGION,
    account_id: str = ACCOUNT_ID,
) -> str:
    """An ``execute-api`` method ARN: ``arn:aws:execute-api:{region}:{account}:{api}/{stage}/
    {method}/{path below the stage}``; ``method="$connect"`` gives a WebSocket ARN."""
    below = "" if method.startswith("$") else path if path.startswith("/") else "/" + path
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{method}{below}"


class _Headers(TypedDict, total=False):
    """The keywords of a request's headers (the module docstring describes each)."""

    authorization: str | None
    headers: Mapping[str, str] | None


class _Request(_Headers, total=False):
    """The keywords of a proxy event's request: its headers, ``token`` and ``body``."""

    token: str | None
    body: str | bytes | Mapping[str, Any] | None


class _RouteRequest(_Headers, total=False):
    """The keywords of a REQUEST authorizer event's request: its headers and its route."""

    method: str
    path: str
    stage: str


def _header_map(
    token: str | None,
    request: _Headers,
    host: str = _API_HOST,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The request's header map: ``Host``, ``User-Agent``, ``extra``, ``headers``, then the
    ``Authorization`` header the token or ``authorization`` makes."""
    merged = {"Host": host, "User-Agent": "test", **(extra or {}), **(request.get("headers") or {})}
    authorization = request.get("authorization")
    if authorization is not None:
        merged["Authorization"] = authorization
    elif token is not None:
        merged["Authorization"] = "Bearer " + token
    return merged


def _lower_case_headers(request: _Request, host: str = _API_HOST) -> dict[str, str]:
    """The header map of payload 2.0 and ALB events: every name lower-cased."""
    merged = _header_map(request.get("token"), request, host)
    return {name.lower(): value for name, value in merged.items()}


def _body(body: str | bytes | Mapping[str, Any] | None) -> str | None:
    if body is None or isinstance(body, str):
        return body
    return body.decode() if isinstance(body, bytes) else json.dumps(body)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _v1_headers(headers: dict[str, str]) -> dict[str, Any]:
    return {"headers": headers, "multiValueHeaders": {name: [v] for name, v in headers.items()}}


# -- authorizers -----------------------------------------------------------------------------


def rest_token_authorizer_event(
    token: str | None = None,
    *,
    authorization: str | None = None,
    method: str = "GET",
    path: str = "/",
    stage: str = "prod",
) -> dict[str, Any]:
    """A REST API TOKEN authorizer event: the token source header's value and the method ARN."""
    value = authorization if authorization is not None else "Bearer " + (token or "")
    return {
        "type": "TOKEN",
        "authorizationToken": value,
        "methodArn": method_arn(method, path, stage=stage),
    }


def rest_request_authorizer_event(
    token: str | None = None, *, resource: str | None = None, **request: Unpack[_RouteRequest]
) -> dict[str, Any]:
    """A REST API REQUEST authorizer event: the :func:`rest_proxy_event` of the same request
    (``resource`` as there) without its body, and its method ARN."""
    event = rest_proxy_event(token=token, resource=resource, **request)
    del event["body"], event["isBase64Encoded"]
    arn = method_arn(event["httpMethod"], event["path"], stage=event["requestContext"]["stage"])
    return {"type": "REQUEST", "methodArn": arn, **event}


def http_api_authorizer_event(
    token: str | None = None, *, route_key: str | None = None, **request: Unpack[_RouteRequest]
) -> dict[str, Any]:
    """An HTTP API Lambda authorizer event, payload format 2.0: the :func:`http_api_proxy_event`
    of the same request, its route key (``route_key``, or ``"{method} {path}"``) and route ARN."""
    event = http_api_proxy_event(token=token, **request)
    del event["isBase64Encoded"]
    # The event's paths include a named stage; the route key and the ARN take the path below it.
    method, path = event["requestContext"]["http"]["method"], request.get("path", "/")
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key or f"{method} {path}"
    authorization_value = event["headers"].get("authorization")
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": method_arn(method, path, stage=event["requestContext"]["stage"]),
        "identitySource": [authorization_value] if authorization_value else [],
        **event,
    }


def websocket_connect_authorizer_event(
    token: str | None = None, *, stage: str = "prod", **request: Unpack[_Headers]
) -> dict[str, Any]:
    """A WebSocket API REQUEST authorizer event on ``$connect``."""
    upgrade = {"Connection": "upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    header_map = _header_map(token, request, extra=upgrade)
    return {
        "type": "REQUEST",
        "methodArn": method_arn("$connect", stage=stage),
        **_v1_headers(header_map),
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "stageVariables": None,
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "messageDirection": "IN",
            "stage": stage,
            "connectedAt": _now_ms(),
            "requestTimeEpoch": _now_ms(),
            "identity": {"sourceIp": "192.0.2.10", "userAgent": "test"},
            "requestId": str(uuid.uuid4()),
            "domainName": header_map["Host"],
            "connectionId": uuid.uuid4().hex[:16] + "=",
            "apiId": API_ID,
        },
    }


def appsync_authorizer_event(
    token: str | None = None,
    *,
    authorization: str | None = None,
    api_id: str = "appsyncapi0123456789abcdef",
    query: str = "query ListOrders { orders { id } }",
    operation_name: str | None = "ListOrders",
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An AppSync ``AWS_LAMBDA`` authorization event: the Authorization header's value, as sent
    (AppSync clients usually send the bare token)."""
    return {
        "authorizationToken": authorization if authorization is not None else (token or ""),
        "requestContext": {
            "apiId": api_id,
            "accountId": ACCOUNT_ID,
            "requestId": str(uuid.uuid4()),
            "queryString": query,
            "operationName": operation_name,
            "variables": dict(variables or {}),
        },
    }


# -- proxy integrations ----------------------------------------------------------------------


def rest_proxy_event(
    method: str = "GET",
    path: str = "/",
    *,
    stage: str = "prod",
    resource: str | None = None,
    authorizer_claims: Mapping[str, str] | None = None,
    no_headers: bool = False,
    **request: Unpack[_Request],
) -> dict[str, Any]:
    """A REST API proxy event (payload 1.0): ``headers`` and ``multiValueHeaders``.

    ``authorizer_claims`` fills ``requestContext.authorizer.claims`` as a Cognito user pool
    authorizer does (every value a string); ``no_headers=True`` sends both header fields as
    null, as API Gateway does for a request without headers.
    """
    header_map = _header_map(request.get("token"), request)
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "httpMethod": method,
        "path": f"/{stage}{path}",
        "resourcePath": resource or path,
        "stage": stage,
        "requestId": str(uuid.uuid4()),
        "requestTimeEpoch": _now_ms(),
        "identity": {"sourceIp": "192.0.2.10", "userAgent": "test"},
    }
    if authorizer_claims is not None:
        context["authorizer"] = {"claims": dict(authorizer_claims)}
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        **({"headers": None, "multiValueHeaders": None} if no_headers else _v1_headers(header_map)),
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        "body": _body(request.get("body")),
        "isBase64Encoded": False,
    }


def _v2_event(
    method: str,
    path: str,
    header_map: dict[str, str],
    request: _Request,
    stage: str,
    context: dict[str, Any],
) -> dict[str, Any]:
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    cookies = [c.strip() for c in header_map.pop("cookie", "").split(";") if c.strip()]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": header_map,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "domainName": header_map.get("host", ""),
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "test",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": stage,
            "timeEpoch": _now_ms(),
            **context,
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    body = _body(request.get("body"))
    if body is not None:
        event["body"] = body
    return event


def http_api_proxy_event(
    method: str = "GET",
    path: str = "/",
    *,
    stage: str = "$default",
    jwt_claims: Mapping[str, str] | None = None,
    jwt_scopes: list[str] | None = None,
    **request: Unpack[_Request],
) -> dict[str, Any]:
    """An HTTP API proxy event (payload 2.0): lower-case header names, values comma-joined.

    ``jwt_claims`` (and ``jwt_scopes``) fill ``requestContext.authorizer.jwt`` as an HTTP API
    JWT authorizer does (every claim value a string).
    """
    context: dict[str, Any] = {"apiId": API_ID}
    if jwt_claims is not None:
        context["authorizer"] = {"jwt": {"claims": dict(jwt_claims), "scopes": jwt_scopes}}
    return _v2_event(method, path, _lower_case_headers(request), request, stage, context)


def function_url_event(
    method: str = "GET", path: str = "/", **request: Unpack[_Request]
) -> dict[str, Any]:
    """A Lambda function URL event (payload 2.0, no stage, no authorizer claims)."""
    url_id = "abcdefghijklmnopqrstuvwxyz012345"
    header_map = _lower_case_headers(request, f"{url_id}.lambda-url.{REGION}.on.aws")
    return _v2_event(method, path, header_map, request, "$default", {"apiId": url_id})


def alb_event(
    method: str = "GET", path: str = "/", *, multi_value: bool = False, **request: Unpack[_Request]
) -> dict[str, Any]:
    """An Application Load Balancer target event: ``headers``, or only ``multiValueHeaders``
    when the target group has multi-value headers on (``multi_value=True``)."""
    header_map = _lower_case_headers(request, "lambda-alb-123.elb.amazonaws.com")
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": _TARGET_GROUP}},
        "httpMethod": method,
        "path": path,
        "body": _body(request.get("body")) or "",
        "isBase64Encoded": False,
    }
    if multi_value:
        event["multiValueQueryStringParameters"] = {}
        event["multiValueHeaders"] = {name: [value] for name, value in header_map.items()}
    else:
        event["queryStringParameters"] = {}
        event["headers"] = header_map
    return event

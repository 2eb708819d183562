"""The refresh: ``refresh_token`` grant, ``GetTokensFromRefreshToken``, and the fallback to
``InitiateAuth REFRESH_TOKEN_AUTH`` where the user-pool API lacks it; one retry within the grace
period after a failure on the way."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from .._audience import resource_indicator
from ..errors import ConfigurationError, TokenEndpointUnavailable, UnsupportedOperationError
from ..issuers import is_aws_host
from .tokens import API_KEYS, OAUTH_KEYS, TokenSet, token_set, with_id_claims
from .wire import (
    GET_TOKENS,
    Endpoint,
    Flow,
    HttpCall,
    HttpReply,
    Step,
    api_call,
    aws_error_type,
    json_object,
    oauth_call,
    read_api_reply,
    read_oauth_reply,
    secret_hash,
    unavailable,
)

log = logging.getLogger("cognito_guard")


def refresh_flow(
    ep: Endpoint,
    refresh_token: str,
    clock: Callable[[], float],
    verify_id: bool,
    *,
    device_key: str | None = None,
    client_metadata: Mapping[str, str] | None = None,
    username: str | None = None,
    rotation: bool = False,
    lacks_get_tokens: threading.Event | None = None,
    resource: str | None = None,
) -> Flow[TokenSet]:
    """``grant_type=refresh_token`` at the domain, or ``GetTokensFromRefreshToken`` (the API).

    ``GetTokensFromRefreshToken`` works whether the app client rotates refresh tokens or not;
    ``InitiateAuth REFRESH_TOKEN_AUTH`` is refused by clients that rotate, so it is used only
    where the endpoint does not implement ``GetTokensFromRefreshToken`` (see
    :func:`_api_refresh`). It takes the client secret itself, so no username (``SECRET_HASH``)
    is needed.

    A request that fails on the way (connection, timeout, HTTP 5xx) may still have reached
    Cognito and rotated the refresh token, with the answer lost: it is sent once more, at once,
    with the same refresh token, which Cognito honours for ``RetryGracePeriodSeconds``. A
    verdict (``OAuthError``, e.g. ``invalid_grant``) is never retried.

    ``resource`` (RFC 8707) goes in the ``refresh_token`` grant's form; the user-pool API has no
    such parameter.
    """
    if ep.domain is not None:
        if device_key is not None or client_metadata is not None:
            raise ConfigurationError(
                "device_key and client_metadata are parameters of the user-pool API "
                "(GetTokensFromRefreshToken); the /oauth2/token refresh_token grant has none"
            )
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if resource is not None:
            form["resource"] = resource_indicator(resource)
        call = oauth_call(ep, "refresh", "/oauth2/token", form, (refresh_token,))
        sent = yield from _send_refresh(ep, call, clock, check_lacking=False)
        assert not isinstance(sent, _Lacking)  # noqa: S101 - asked only for API answers
        reply, raw, sent_at = sent
        keys = OAUTH_KEYS
    else:
        if resource is not None:
            raise ConfigurationError(
                "resource is a parameter of the /oauth2/token refresh_token grant (a client "
                "made with domain=...); the user-pool API's refresh has none, and its tokens "
                "keep the resource their sign-in was bound to"
            )
        call, reply, raw, sent_at = yield from _api_refresh(
            ep,
            refresh_token,
            clock,
            device_key,
            client_metadata,
            username,
            rotation,
            lacks_get_tokens if lacks_get_tokens is not None else threading.Event(),
        )
        keys = API_KEYS
    tokens = token_set(call, reply, raw, keys, sent_at, clock, refresh_token)
    return (yield from with_id_claims(tokens, verify_id, None))


_UNKNOWN_OPERATION_TYPES = frozenset({"UnknownOperationException", "UnsupportedOperation"})


def says_unknown_operation(reply: HttpReply, *, guess: bool = True) -> bool | None:
    """Whether an answer of the user-pool API says it does not implement the operation.

    True: AWS's own answer (HTTP 400 ``UnknownOperationException``), an emulator's
    ``UnsupportedOperation``, or HTTP 501 Not Implemented (LocalStack's answer, with
    ``InternalFailure``). None, maybe (only with ``guess``): an HTTP 500 or 404 whose body is
    not JSON, which is what the moto server sends for an operation it does not implement
    (Werkzeug's HTML error page; from moto 5.2 an empty 404 when its botocore does not know the
    operation either), and what a failing proxy may send too: only another answer of the same
    endpoint can tell. False: every other answer.
    """
    if reply.status == 501:
        return True
    aws_type = aws_error_type(reply)
    if aws_type is not None:
        return 400 <= reply.status < 500 and aws_type in _UNKNOWN_OPERATION_TYPES
    if guess and reply.status in (404, 500) and json_object(reply.body) is None:
        return None
    return False


def _is_api_answer(reply: HttpReply) -> bool:
    """True for an answer in the user-pool API's format: a JSON result, or an error it names."""
    if reply.status == 200:
        return json_object(reply.body) is not None
    return 400 <= reply.status < 500 and aws_error_type(reply) is not None


@dataclass(frozen=True)
class _Lacking:
    """An answer saying that the endpoint lacks the operation, or (``failure`` set) maybe so.

    ``failure`` is what the answer means if the endpoint turns out to be failing instead.
    """

    reply: HttpReply
    failure: TokenEndpointUnavailable | None


_Sent = tuple[HttpReply, Mapping[str, Any], float]  # the answer, its token fields, when sent


def _send_refresh(
    ep: Endpoint, call: HttpCall, clock: Callable[[], float], *, check_lacking: bool
) -> Generator[Step, Any, _Sent | _Lacking]:
    """Send a refresh; once more, at once, after a failure on the way (see refresh_flow).

    With ``check_lacking``, an answer saying (or maybe saying) that the endpoint does not know
    the operation is returned as :class:`_Lacking` instead (see :func:`says_unknown_operation`).
    """
    # AWS answers an unknown operation with UnknownOperationException and its failures in JSON,
    # so an answer from an AWS host is never taken for an emulator's missing operation.
    guess = check_lacking and not is_aws_host(ep.api_url)
    attempt = 1
    while True:
        sent_at = clock()
        lacking: bool | None = False
        try:
            reply: HttpReply = yield call
            lacking = says_unknown_operation(reply, guess=guess) if check_lacking else False
            if lacking:
                return _Lacking(reply, None)
            return reply, _read_refresh_reply(ep, call, reply), sent_at
        except TokenEndpointUnavailable as exc:
            if attempt == 2 or not _may_have_rotated(exc):
                if lacking is None:
                    return _Lacking(reply, exc)
                raise
            log.warning(
                "refresh failed before its answer arrived (%s); "
                "retrying once with the same refresh token",
                exc,
            )
            attempt = 2


def _api_refresh(
    ep: Endpoint,
    refresh_token: str,
    clock: Callable[[], float],
    device_key: str | None,
    client_metadata: Mapping[str, str] | None,
    username: str | None,
    rotation: bool,
    lacks_get_tokens: threading.Event,
) -> Generator[Step, Any, tuple[HttpCall, HttpReply, Mapping[str, Any], float]]:
    """``GetTokensFromRefreshToken``, or ``InitiateAuth REFRESH_TOKEN_AUTH`` where it is missing.

    Local emulators (moto, among others) lack ``GetTokensFromRefreshToken``. When the endpoint
    answers that it does not know it, ``lacks_get_tokens`` (one per client) records that, and
    this refresh and every later one of the client take the operation that refreshed before
    rotation existed, ``InitiateAuth REFRESH_TOKEN_AUTH``: the same tokens for an app client
    without rotation. With ``rotation`` nothing can replace it, and the refresh raises
    :class:`UnsupportedOperationError` (from then on without asking). An answer that only may
    mean a missing operation (see :func:`says_unknown_operation`; never from an AWS host) is
    confirmed first by an answer in the API's format from the same endpoint: the fallback
    itself, or for a client that cannot fall back an ``InitiateAuth`` without any token.
    Without one it stays the outage it looks like, and nothing is recorded. Concurrent first
    refreshes of one client may each ask before one of them records the answer.
    """
    redact: tuple[str, ...] = (refresh_token,)
    if device_key is not None:
        redact += (device_key,)
    first: HttpReply | None = None
    doubt: TokenEndpointUnavailable | None = None
    if not lacks_get_tokens.is_set():
        payload: dict[str, Any] = {"ClientId": ep.client_id, "RefreshToken": refresh_token}
        if ep.client_secret is not None:
            payload["ClientSecret"] = ep.client_secret
        if device_key is not None:
            payload["DeviceKey"] = device_key
        if client_metadata is not None:
            payload["ClientMetadata"] = dict(client_metadata)
        call = api_call(ep, "refresh", GET_TOKENS, payload, redact)
        sent = yield from _send_refresh(ep, call, clock, check_lacking=True)
        if not isinstance(sent, _Lacking):
            return (call, *sent)
        first, doubt = sent.reply, sent.failure
    can_fall_back = not rotation and (ep.client_secret is None or bool(username))
    if doubt is not None and not can_fall_back:
        probe_payload = {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": ep.client_id}
        probe: HttpReply = yield api_call(
            ep, "refresh", "InitiateAuth", {**probe_payload, "AuthParameters": {}}, ()
        )
        if not _is_api_answer(probe):
            raise doubt
        doubt = None
    if doubt is None:
        _remember_lacking(ep, lacks_get_tokens, first)
    if rotation:
        raise UnsupportedOperationError(
            GET_TOKENS,
            f"the user-pool API at {ep.api_url} does not implement {GET_TOKENS}, the only "
            "refresh that returns rotated refresh tokens, and this client was made with "
            "refresh_token_rotation=True: use an endpoint that implements it (Cognito), or "
            "an app client without rotation and refresh_token_rotation=False",
            operation="refresh",
            status_code=first.status if first is not None else None,
            aws_error_type=aws_error_type(first) if first is not None else None,
        )
    params = {"REFRESH_TOKEN": refresh_token}
    if ep.client_secret is not None:
        if not username:
            raise ConfigurationError(
                f"the user-pool API at {ep.api_url} does not implement {GET_TOKENS}, and "
                "its replacement InitiateAuth REFRESH_TOKEN_AUTH needs the username for a "
                "client with a secret (it is part of SECRET_HASH): pass username=..."
            )
        params["USERNAME"] = username
        params["SECRET_HASH"] = secret_hash(ep.client_secret, username, ep.client_id)
        redact += (params["SECRET_HASH"],)
    if device_key is not None:
        params["DEVICE_KEY"] = device_key
    payload = {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": ep.client_id, "AuthParameters": params}
    if client_metadata is not None:
        payload["ClientMetadata"] = dict(client_metadata)
    call = api_call(ep, "refresh", "InitiateAuth", payload, redact)
    sent_at = clock()
    reply: HttpReply = yield call
    if doubt is not None:
        if not _is_api_answer(reply):
            raise doubt
        _remember_lacking(ep, lacks_get_tokens, first)
    return call, reply, _read_refresh_reply(ep, call, reply), sent_at


def _remember_lacking(ep: Endpoint, lacks: threading.Event, reply: HttpReply | None) -> None:
    if reply is None or lacks.is_set():
        return
    lacks.set()
    log.info(
        "the user-pool API at %s does not implement %s (HTTP %d): this client does not "
        "ask for it again",
        ep.api_url,
        GET_TOKENS,
        reply.status,
    )


def _read_refresh_reply(ep: Endpoint, call: HttpCall, reply: HttpReply) -> Mapping[str, Any]:
    if ep.domain is not None:
        return read_oauth_reply(call, reply, body_required=True)
    result = read_api_reply(call, reply).get("AuthenticationResult")
    if not isinstance(result, dict):
        raise unavailable(call, reply, "the answer has no AuthenticationResult")
    return result


def _may_have_rotated(exc: TokenEndpointUnavailable) -> bool:
    """True for a failure after which Cognito may have rotated the token: retry within grace.

    No status: the request failed on the transport (it may have been processed, and a
    connection refused before sending costs one more attempt at most). 5xx: Cognito or a
    proxy failed, possibly after rotating. Throttling (429, ``TooManyRequestsException``) and
    answers of an unknown shape are not retried: the first was not processed, the second is
    not an outage a second attempt cures.
    """
    return exc.status_code is None or exc.status_code >= 500

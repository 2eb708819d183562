"""The token-lifecycle operations but refresh (:mod:`.refresh`): client credentials, code
exchange, revoke, userInfo and ``GlobalSignOut``; and the checks of the operations' arguments."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._audience import resource_indicator
from ..errors import ConfigurationError
from ..issuers import region_of_domain, region_of_issuer
from ..issuers import user_pool_api_url as _api_url_of_region
from .tokens import OAUTH_KEYS, TokenSet, token_set, unverified_claims, with_id_claims
from .wire import (
    Endpoint,
    Flow,
    HttpCall,
    HttpReply,
    api_call,
    oauth_call,
    read_api_reply,
    read_oauth_reply,
)


def _require_domain(ep: Endpoint, what: str) -> None:
    if ep.domain is None:
        raise ConfigurationError(
            f"{what} needs the hosted or custom domain: create the client with domain=..."
        )


def client_credentials_flow(
    ep: Endpoint, scopes: Iterable[str], clock: Callable[[], float], resource: object = None
) -> Flow[TokenSet]:
    """``grant_type=client_credentials`` at ``/oauth2/token`` (hosted domain, secret required).

    ``resource`` is refused: Cognito binds only a user's sign-in to a resource.
    """
    if resource is not None:
        raise ConfigurationError(
            "client_credentials cannot take resource=: Cognito binds only a user's sign-in to a "
            "resource (authorize_url(..., resource=...)); a machine-to-machine token carries the "
            "resource server's scopes instead, which the API checks with scopes="
        )
    _require_domain(ep, "the client-credentials grant")
    if ep.client_secret is None:
        raise ConfigurationError("the client-credentials grant needs a client_secret")
    form = {"grant_type": "client_credentials"}
    scope = " ".join(scopes)
    if scope:
        form["scope"] = scope
    call = oauth_call(ep, "client_credentials", "/oauth2/token", form, ())
    sent_at = clock()
    reply: HttpReply = yield call
    raw = read_oauth_reply(call, reply, body_required=True)
    return token_set(call, reply, raw, OAUTH_KEYS, sent_at, clock, None)


def exchange_code_flow(
    ep: Endpoint,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
    nonce: str | None,
    clock: Callable[[], float],
    verify_id: bool,
    resource: str | None = None,
) -> Flow[TokenSet]:
    """``grant_type=authorization_code`` (with PKCE's ``code_verifier`` when given, and RFC
    8707's ``resource``)."""
    _require_domain(ep, "redeeming an authorization code")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    redact: tuple[str, ...] = (code,)
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
        redact += (code_verifier,)
    if resource is not None:
        form["resource"] = resource_indicator(resource)
    call = oauth_call(ep, "exchange_code", "/oauth2/token", form, redact)
    sent_at = clock()
    reply: HttpReply = yield call
    raw = read_oauth_reply(call, reply, body_required=True)
    tokens = token_set(call, reply, raw, OAUTH_KEYS, sent_at, clock, None)
    return (yield from with_id_claims(tokens, verify_id, nonce))


def revoke_flow(ep: Endpoint, refresh_token: str) -> Flow[None]:
    """``/oauth2/revoke``, or ``RevokeToken`` through the user-pool API."""
    if ep.domain is not None:
        call = oauth_call(
            ep, "revoke", "/oauth2/revoke", {"token": refresh_token}, (refresh_token,)
        )
        reply: HttpReply = yield call
        read_oauth_reply(call, reply, body_required=False)
        return
    payload = {"Token": refresh_token, "ClientId": ep.client_id}
    if ep.client_secret is not None:
        payload["ClientSecret"] = ep.client_secret
    call = api_call(ep, "revoke", "RevokeToken", payload, (refresh_token,))
    reply = yield call
    read_api_reply(call, reply)


def userinfo_flow(ep: Endpoint, access_token: str) -> Flow[dict[str, Any]]:
    """``GET /oauth2/userInfo``, or ``GetUser`` through the user-pool API.

    Both return the user's attributes by name plus ``username``, so callers see one shape.
    """
    if ep.domain is not None:
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        call = HttpCall(
            "userinfo", "GET", ep.domain + "/oauth2/userInfo", headers, b"", (access_token,)
        )
        reply: HttpReply = yield call
        return read_oauth_reply(call, reply, body_required=True)
    call = api_call(ep, "userinfo", "GetUser", {"AccessToken": access_token}, (access_token,))
    reply = yield call
    answer = read_api_reply(call, reply)
    info: dict[str, Any] = {}
    attributes = answer.get("UserAttributes")
    for item in attributes if isinstance(attributes, list) else []:
        if isinstance(item, dict) and isinstance(item.get("Name"), str):
            info[item["Name"]] = item.get("Value")
    if isinstance(answer.get("Username"), str):
        info["username"] = answer["Username"]
    return info


# -- GlobalSignOut ------------------------------------------------------------------------------


def user_pool_api_url(ep: Endpoint, access_token: str) -> str:
    """Where a user-pool API call authorised by ``access_token`` goes.

    ``GlobalSignOut`` exists only in the user-pool API, not at the hosted domain. A client made
    with ``region``/``endpoint_url`` has its URL; for a client made with a domain the Region
    comes from the Amazon Cognito domain (``{prefix}.auth.{region}.amazoncognito.com``), else
    from the token's own ``iss`` when it is a Cognito issuer (the URL is always
    ``https://cognito-idp.{region}.amazonaws.com/``, so an unverified token can only choose an
    AWS Region, never a host).
    """
    if ep.api_url is not None:
        return ep.api_url
    region = region_of_domain(ep.domain or "")
    if region is None:
        iss = unverified_claims(access_token).get("iss")
        region = region_of_issuer(iss) if isinstance(iss, str) else None
    if region is None:
        raise ConfigurationError(
            "GlobalSignOut is a user-pool API call and the Region is not known: create the "
            "client with region=... (or endpoint_url=...) instead of a custom domain"
        )
    return _api_url_of_region(region)


def global_sign_out_flow(ep: Endpoint, access_token: str) -> Flow[None]:
    """``GlobalSignOut``: revoke every refresh token of the access token's user.

    The access token needs the ``aws.cognito.signin.user.admin`` scope.
    """
    api = Endpoint(ep.client_id, ep.client_secret, None, user_pool_api_url(ep, access_token))
    payload = {"AccessToken": access_token}
    call = api_call(api, "global_sign_out", "GlobalSignOut", payload, (access_token,))
    reply: HttpReply = yield call
    read_api_reply(call, reply)


# -- checks of the operations' arguments (the client's and the auth classes') --------------------


def require_text(value: object, name: str) -> None:
    """Refuse anything but a non-empty string as ``name``."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string")


def check_client_metadata(metadata: object) -> dict[str, str]:
    """``ClientMetadata`` of the user-pool API: non-empty string keys, string values."""
    if not isinstance(metadata, Mapping) or not all(
        isinstance(key, str) and key and isinstance(value, str) for key, value in metadata.items()
    ):
        raise ConfigurationError("client_metadata must map non-empty strings to strings")
    return dict(metadata)


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scopes as a tuple without duplicates (a string is split at spaces)."""
    if isinstance(scopes, str):
        scopes = scopes.split()
    result = tuple(dict.fromkeys(scopes))
    for scope in result:
        if not isinstance(scope, str) or not scope or any(ch.isspace() for ch in scope):
            raise ConfigurationError(f"scopes must be non-empty strings without spaces: {scope!r}")
    return result

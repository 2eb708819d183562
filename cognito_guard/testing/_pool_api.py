"""UserPoolAPI: the OAuth double's user-pool JSON API (``POST /`` with ``X-Amz-Target``).

``GetTokensFromRefreshToken``, ``InitiateAuth`` (``REFRESH_TOKEN_AUTH``), ``RevokeToken``,
``GetUser`` and ``GlobalSignOut`` over a :class:`UserPool`, answering as AWS does: JSON of
``application/x-amz-json-1.1``, errors as ``{"__type", "message"}``.
"""

from __future__ import annotations

import hmac
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._oauth import API_CONTENT_TYPE, API_TARGET_PREFIX, secret_hash
from ._pool import UserPool
from ._refusals import RENDER, Refused
from .server import Request, Response

__all__ = ["UserPoolAPI", "api_error"]


def api_error(aws_type: str, message: str = "", status: int = 400) -> Response:
    """A user-pool API error answer."""
    body = {"__type": aws_type, "message": message}
    return Response(status, json.dumps(body).encode(), {"Content-Type": API_CONTENT_TYPE})


class UserPoolAPI:
    """The user-pool API route over a :class:`UserPool`.

    ``unknown_operations`` are answered as unknown (HTTP 400 ``UnknownOperationException``), like
    an emulator that lacks them; ``counts`` counts every operation asked for, and
    ``last_client_metadata`` is the ``ClientMetadata`` of the last ``GetTokensFromRefreshToken``.
    """

    def __init__(self, pool: UserPool, unknown_operations: Iterable[str] = ()) -> None:
        if isinstance(unknown_operations, str):
            raise ValueError("unknown_operations is a list of operation names, not one string")
        self.pool = pool
        self.unknown_operations = frozenset(unknown_operations)
        self.counts: Counter[str] = Counter()
        self.last_client_metadata: dict[str, str] | None = None
        self._handlers: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "GetTokensFromRefreshToken": self._get_tokens_from_refresh_token,
            "InitiateAuth": self._initiate_auth,
            "RevokeToken": self._revoke_token,
            "GetUser": self._get_user,
            "GlobalSignOut": self._global_sign_out,
        }

    def reset(self) -> None:
        """Forget the counts and the last client metadata."""
        self.counts.clear()
        self.last_client_metadata = None

    def __call__(self, request: Request) -> Response:
        target = request.header("x-amz-target")
        if request.method != "POST" or not target.startswith(API_TARGET_PREFIX):
            return api_error("UnknownOperationException", "", 400)
        content_type = request.header("content-type").split(";")[0].strip()
        if content_type != API_CONTENT_TYPE:
            return api_error("SerializationException", "wrong Content-Type", 400)
        operation = target[len(API_TARGET_PREFIX) :]
        self.counts[operation] += 1
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return api_error("SerializationException", "the body is not JSON", 400)
        if not isinstance(payload, dict):
            return api_error("SerializationException", "the body is not an object", 400)
        handler = (
            self._handlers.get(operation) if operation not in self.unknown_operations else None
        )
        if handler is None:
            return api_error("UnknownOperationException", "", 400)
        try:
            value = handler(payload)
        except Refused as refused:
            return api_error(RENDER[refused.kind][2], refused.message, 400)
        return Response(200, json.dumps(value).encode(), {"Content-Type": API_CONTENT_TYPE})

    def _check_client(self, payload: Mapping[str, Any]) -> None:
        if payload.get("ClientId") != self.pool.client_id:
            raise Refused(
                "bad_client", f"User pool client {payload.get('ClientId')} does not exist."
            )

    def _initiate_auth(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        self._check_client(payload)
        if payload.get("AuthFlow") not in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
            raise Refused("bad_request", "this test double implements only REFRESH_TOKEN_AUTH")
        params = payload.get("AuthParameters")
        params = params if isinstance(params, dict) else {}
        if self.pool.rotate_refresh_tokens:
            # Rotation needs ALLOW_REFRESH_TOKEN_AUTH off ("Refresh token rotation isn't
            # compatible with the authentication flow REFRESH_TOKEN_AUTH"): Cognito's answer
            # for an auth flow the client does not allow.
            raise Refused("flow_not_enabled", "REFRESH_TOKEN_AUTH flow not enabled for this client")
        refresh_token = params.get("REFRESH_TOKEN")
        if not isinstance(refresh_token, str) or not refresh_token:
            raise Refused("bad_request", "Missing required parameter REFRESH_TOKEN")
        if self.pool.client_secret is not None:
            self._check_secret_hash(params, refresh_token)
        device_key = params.get("DEVICE_KEY")
        tokens = self.pool.refresh(
            refresh_token,
            device_key=device_key if isinstance(device_key, str) else None,
            check_device=True,
        )
        return {"AuthenticationResult": _authentication_result(tokens), "ChallengeParameters": {}}

    def _get_tokens_from_refresh_token(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        self._check_client(payload)
        refresh_token = payload.get("RefreshToken")
        if not isinstance(refresh_token, str) or not refresh_token:
            raise Refused("bad_request", "Missing required parameter RefreshToken")
        self._check_client_secret(payload.get("ClientSecret"))
        metadata = payload.get("ClientMetadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        ):
            raise Refused("bad_request", "ClientMetadata must map strings to strings")
        device_key = payload.get("DeviceKey")
        if device_key is not None and not isinstance(device_key, str):
            raise Refused("bad_request", "DeviceKey must be a string")
        tokens = self.pool.refresh(refresh_token, device_key=device_key, check_device=True)
        self.last_client_metadata = dict(metadata) if metadata is not None else None
        # No ChallengeParameters: this operation answers with tokens or an error, nothing else.
        return {"AuthenticationResult": _authentication_result(tokens)}

    def _check_client_secret(self, secret: object) -> None:
        """The raw ``ClientSecret`` of GetTokensFromRefreshToken (not a SECRET_HASH)."""
        client_id, expected = self.pool.client_id, self.pool.client_secret
        if expected is None:
            if secret is not None:
                raise Refused("bad_secret", f"Client {client_id} has no client secret")
            return
        if secret is None:
            raise Refused(
                "bad_secret",
                f"Client {client_id} is configured with secret but ClientSecret was not received",
            )
        if not isinstance(secret, str) or not hmac.compare_digest(
            secret.encode(), expected.encode()
        ):
            raise Refused("bad_secret", f"Unable to verify secret hash for client {client_id}")

    def _check_secret_hash(self, params: Mapping[str, Any], refresh_token: str) -> None:
        client_id, client_secret = self.pool.client_id, self.pool.client_secret
        assert client_secret is not None  # noqa: S101 - called only for a secret client
        username, given = params.get("USERNAME"), params.get("SECRET_HASH")
        names = self.pool.user_names(refresh_token)
        if not (
            isinstance(username, str)
            and isinstance(given, str)
            and username in (names or {username})
            and hmac.compare_digest(given, secret_hash(client_secret, username, client_id))
        ):
            raise Refused("bad_secret", f"Unable to verify secret hash for client {client_id}")

    def _revoke_token(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        self._check_client(payload)
        secret, expected = payload.get("ClientSecret"), self.pool.client_secret
        if expected is not None and not (
            isinstance(secret, str) and hmac.compare_digest(secret, expected)
        ):
            raise Refused("bad_revoke_client", "Invalid client secret")
        token = payload.get("Token")
        if not isinstance(token, str) or not token:
            raise Refused("bad_request", "Missing required parameter Token")
        self.pool.revoke(token)
        return {}

    def _user(self, payload: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """The user of the payload's ``AccessToken`` (with the user-pool admin scope)."""
        token = payload.get("AccessToken")
        if not isinstance(token, str) or not token:
            raise Refused("bad_request", "Missing required parameter AccessToken")
        try:
            return self.pool.user_of(token, "aws.cognito.signin.user.admin")
        except Refused as refused:
            raise Refused("bad_api_token", refused.message) from None

    def _get_user(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        username, attributes = self._user(payload)
        return {
            "Username": username,
            "UserAttributes": [{"Name": k, "Value": v} for k, v in attributes.items()],
            "MFAOptions": [],
        }

    def _global_sign_out(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        username, _attributes = self._user(payload)
        self.pool.sign_out(username)
        return {}


def _authentication_result(tokens: Mapping[str, Any]) -> dict[str, Any]:
    """The ``AuthenticationResult`` of the user-pool API for tokens in OAuth field names."""
    result = {
        "AccessToken": tokens["access_token"],
        "ExpiresIn": tokens["expires_in"],
        "TokenType": "Bearer",
    }
    if "id_token" in tokens:
        result["IdToken"] = tokens["id_token"]
    if "refresh_token" in tokens:
        result["RefreshToken"] = tokens["refresh_token"]
    return result

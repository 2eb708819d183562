"""LambdaGuard: a Lambda authorizer, and decorators for proxy-integration handlers."""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from ..._values import whole
from ...bearer import BearerGuard, Requirement
from ...claims import CognitoClaims
from ...config import verifier_from_env
from ...errors import CognitoGuardError, ConfigurationError, ServiceUnavailableError, TokenError
from ...rules import PathRules, Protect
from ...verifier import CognitoVerifier
from . import _events
from ._events import Event
from ._policy import policy_document, rule_list

__all__ = ["Authorizer", "EnvironmentGuard", "Handler", "LambdaGuard"]

log = logging.getLogger("cognito_guard")

Handler = Callable[[Any, Any], Any]
H = TypeVar("H", bound=Handler)
Context = dict[str, "str | int | bool"]

# The claims a decorator verified, with the event they belong to: read by claims(event) for the
# duration of the handler's call. A context variable keeps concurrent invocations (threads,
# tasks of an application serving several events at once) apart.
_current: contextvars.ContextVar[tuple[object, CognitoClaims] | None] = contextvars.ContextVar(
    "cognito_guard_lambda_claims", default=None
)

# WebSocket $connect has no method or path of its own: it is judged as this request.
WEBSOCKET_REQUEST = ("WEBSOCKET", "/")
# An AppSync request is a POST to the API's /graphql endpoint.
APPSYNC_REQUEST = ("POST", "/graphql")
_MAX_APPSYNC_TTL = 3600  # AppSync caps authorizer results at one hour


def authorizer_context(claims: CognitoClaims) -> Context:
    """The authorizer ``context``: strings, numbers and booleans only, as API Gateway demands.

    ``sub``, ``token_use``, ``client_id``, ``scope`` (space-separated) and ``exp`` always;
    ``username`` and ``groups`` (space-separated) when the token has them.
    """
    scope = claims.get("scope")
    context: Context = {
        "sub": claims.sub,
        "token_use": claims.token_use,
        "client_id": claims.client_id or "",
        "scope": scope if isinstance(scope, str) else "",
        "exp": claims.expires_at,
    }
    if claims.username is not None:
        context["username"] = claims.username
    groups = claims.get("cognito:groups")
    if isinstance(groups, list):
        context["groups"] = " ".join(group for group in groups if isinstance(group, str))
    return context


def _verify(guard: LambdaGuard, values: list[str], method: str, path: str) -> CognitoClaims:
    """The claims of the token in ``values`` (bare or ``Bearer``); a refusal is logged, then
    raised."""
    try:
        return guard.bearer.authorize(
            guard.bearer.authenticate(_events.bare_or_bearer(values)), Requirement()
        )
    except CognitoGuardError as exc:
        guard.bearer.answer(exc, method=method, path=path)
        raise


def _meets(claims: CognitoClaims) -> Callable[[Requirement], bool]:
    def meets(requirement: Requirement) -> bool:
        try:
            requirement.check(claims)
        except TokenError:
            return False
        return True

    return meets


class Authorizer:
    """A Lambda authorizer: ``handler(event, context)`` (see :meth:`LambdaGuard.authorizer`).

    The event tells which gateway calls: API Gateway REST (TOKEN and REQUEST), HTTP API
    (payload 2.0), WebSocket ``$connect`` or AppSync.
    """

    def __init__(
        self,
        guard: LambdaGuard,
        protect: Protect | None,
        scopes: Iterable[str],
        groups: Iterable[str],
        *,
        simple_response: bool,
        appsync_ttl: int,
    ) -> None:
        scopes = (scopes,) if isinstance(scopes, str) else tuple(scopes)
        groups = (groups,) if isinstance(groups, str) else tuple(groups)
        if protect is not None and (scopes or groups):
            raise ConfigurationError(
                "authorizer() takes either protect= or scopes=/groups= (the requirement of the "
                "whole API), not both: write the scopes into the protect rules"
            )
        if protect is None:
            protect = Requirement.of(scopes, groups)
        whole(appsync_ttl, "appsync_ttl (seconds)", maximum=_MAX_APPSYNC_TTL)
        self._guard = guard
        self.rules = PathRules(protect)
        self._rules = rule_list(protect)
        self.simple_response = bool(simple_response)
        self.appsync_ttl = appsync_ttl

    def __call__(self, event: Event, context: Any = None) -> dict[str, Any]:
        """Answer one authorizer event (the Lambda handler)."""
        guard = self._guard
        kind = _events.authorizer_kind(event)
        if kind == "appsync":
            return self._appsync(guard, event)
        arn = _events.route_arn(event)
        if kind == "token":
            token = event.get("authorizationToken")
            values = [token] if isinstance(token, str) else []
        else:
            values = _events.authorization_values(event)
        try:
            claims = _verify(guard, values, arn.verb, arn.path)
        except ServiceUnavailableError:
            raise  # API Gateway answers 500: the verdict is not the token's
        except TokenError as exc:
            if exc.status_code != 403:
                raise Exception("Unauthorized") from None  # exactly this: API Gateway's 401
            # A valid token refused by the verifier's own scopes or groups: nothing is allowed.
            if kind == "http" and self.simple_response:
                return {"isAuthorized": False, "context": {}}
            statement = {
                "Action": "execute-api:Invoke",
                "Effect": "Deny",
                "Resource": arn.base + "*",
            }
            return {
                "principalId": "unauthorized",
                "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            }
        if kind == "websocket":
            allowed = self._allows(guard, claims, *WEBSOCKET_REQUEST)
            statement = {
                "Action": "execute-api:Invoke",
                "Effect": "Allow" if allowed else "Deny",
                "Resource": arn.arn,
            }
            return self._policy_answer(claims, {"Version": "2012-10-17", "Statement": [statement]})
        if kind == "http" and self.simple_response:
            allowed = self._allows(guard, claims, arn.verb, arn.path)
            return {"isAuthorized": allowed, "context": authorizer_context(claims)}
        document, allowed = policy_document(arn, self._rules, self.rules, _meets(claims))
        if not allowed:
            self._allows(guard, claims, arn.verb, arn.path)  # logs why
        return self._policy_answer(claims, document)

    @staticmethod
    def _policy_answer(claims: CognitoClaims, document: dict[str, Any]) -> dict[str, Any]:
        return {
            "principalId": claims.sub or "unknown",
            "policyDocument": document,
            "context": authorizer_context(claims),
        }

    def _allows(self, guard: LambdaGuard, claims: CognitoClaims, method: str, path: str) -> bool:
        """The exact decision of the rules for one request; a refusal is logged."""
        try:
            requirement = self.rules.requirement_for(method, path)
            if requirement is not None:
                requirement.check(claims)
        except TokenError as exc:
            guard.bearer.answer(exc, method=method, path=path)
            return False
        return True

    def _appsync(self, guard: LambdaGuard, event: Event) -> dict[str, Any]:
        token = event.get("authorizationToken")
        values = [token] if isinstance(token, str) else []
        refused: dict[str, Any] = {"isAuthorized": False, "resolverContext": {}, "ttlOverride": 0}
        try:
            claims = _verify(guard, values, *APPSYNC_REQUEST)
        except TokenError:  # keys or revocations unavailable propagate: AppSync refuses
            return refused
        if not self._allows(guard, claims, *APPSYNC_REQUEST):
            return refused
        remaining = int(claims.expires_at - guard.clock())
        return {
            "isAuthorized": True,
            "resolverContext": authorizer_context(claims),
            "ttlOverride": max(0, min(self.appsync_ttl, remaining)),
        }


class LambdaGuard:
    """Cognito tokens for AWS Lambda: an authorizer, and decorators for proxy handlers.

    Example::

        guard = LambdaGuard(verifier)            # None: verifier_from_env() (COGNITO_*), now
                                                 # and the pool's keys fetched now (hydrate)

        handler = guard.authorizer(protect={
            "GET /orders": Requirement.of(scopes="orders/read"),
            "POST /orders": Requirement.of(scopes="orders/write"),
            "/": Requirement(),
        })

        @guard.require_scope("orders/read")
        def orders(event, context):
            claims = guard.claims(event)
            return {"statusCode": 200, "body": json.dumps({"sub": claims.sub})}

    Args:
        verifier: the verifier; None builds one from the ``COGNITO_*`` environment variables
            (a :class:`~cognito_guard.ConfigurationError` here when they are wrong).
        realm: the ``realm`` of the ``WWW-Authenticate`` challenges of proxy rejections.
        trust_gateway_claims: in proxy handlers, check the requirement on the claims API
            Gateway's own authorizer verified (a Cognito user pool authorizer's
            ``requestContext.authorizer.claims``, an HTTP API JWT authorizer's
            ``requestContext.authorizer.jwt.claims``) instead of verifying the token again.
            Safe only when the function can be invoked through such authorizers alone (see the
            documentation); events without such claims are verified as usual.
        hydrate: fetch the signing keys at construction (:meth:`hydrate`): built at module
            level, the guard does it in Lambda's init phase, before any request waits. False
            leaves them to the first verification.
        clock: the current time in epoch seconds (AppSync's ``ttlOverride``); for tests.
    """

    def __init__(
        self,
        verifier: CognitoVerifier | None = None,
        *,
        realm: str | None = None,
        trust_gateway_claims: bool = False,
        hydrate: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bearer = BearerGuard(
            verifier if verifier is not None else verifier_from_env(), realm=realm
        )
        self.trust_gateway_claims = bool(trust_gateway_claims)
        self.clock = clock
        if hydrate:
            self.hydrate()

    @property
    def bearer(self) -> BearerGuard:
        """The :class:`~cognito_guard.bearer.BearerGuard` every request goes through."""
        return self._bearer

    @property
    def verifier(self) -> CognitoVerifier:
        """The verifier every token is checked with."""
        return self.bearer.verifier

    def hydrate(self) -> dict[str, int] | None:
        """Fetch the signing keys now (:meth:`CognitoVerifier.hydrate`), at module level, so
        that Lambda's init phase pays for them and the first request does not.

        Returns the usable keys per issuer. When a pool's keys cannot be had it logs a warning
        and returns None: the requests try again, and an outage is answered per request (503
        from a proxy handler, 500 from an authorizer) instead of failing the instance's init.
        """
        try:
            return self.verifier.hydrate()
        except ServiceUnavailableError as exc:  # KeysUnavailableError: the keys cannot be had
            log.warning(
                "the signing keys could not be fetched at start-up (%s); requests try again", exc
            )
            return None

    # -- the authorizer ------------------------------------------------------------------------

    def authorizer(
        self,
        protect: Protect | None = None,
        *,
        scopes: Iterable[str] = (),
        groups: Iterable[str] = (),
        simple_response: bool = True,
        appsync_ttl: int = 300,
    ) -> Authorizer:
        """A Lambda authorizer handler for API Gateway (REST, HTTP, WebSocket) and AppSync.

        ``protect`` holds :class:`~cognito_guard.rules.PathRules` for the whole API, matched on
        the method and path of the method or route ARN (the path below the stage); or
        ``scopes=``/``groups=`` give one requirement for every route. WebSocket ``$connect`` is
        judged as ``WEBSOCKET /``, an AppSync request as ``POST /graphql``.

        Answers: a missing, malformed, expired, revoked or otherwise invalid token raises
        ``Exception("Unauthorized")`` (API Gateway's 401; AppSync gets ``isAuthorized: false``);
        a valid token gets a policy for the whole API (REST, WebSocket, HTTP API with
        ``simple_response=False``) or ``{"isAuthorized": ..., "context": ...}`` (HTTP API);
        keys or revocations that cannot be had raise the
        :class:`~cognito_guard.ServiceUnavailableError` (API Gateway's 500).
        ``appsync_ttl`` caps AppSync's ``ttlOverride`` (never beyond the token's own life).
        """
        return Authorizer(
            self,
            protect,
            scopes,
            groups,
            simple_response=simple_response,
            appsync_ttl=appsync_ttl,
        )

    # -- proxy handlers ------------------------------------------------------------------------

    def claims(self, event: Event) -> CognitoClaims:
        """The verified claims of ``event``'s request.

        Inside a handler decorated by this module, the claims its decorator verified; elsewhere
        the event's token is verified now, raising the rejection
        (:class:`~cognito_guard.MissingTokenError` when there is none).
        """
        current = _current.get()
        if current is not None and current[0] is event:
            return current[1]  # whichever guard's decorator verified it
        return self.bearer.authorize(self._authenticate(event), Requirement())

    def _authenticate(self, event: Event) -> CognitoClaims | None:
        if self.trust_gateway_claims:
            verified = _events.gateway_claims(event)
            if verified is not None:
                return CognitoClaims(verified)
        return self.bearer.authenticate(_events.authorization_values(event))

    def protect(self, handler: H, requirement: Requirement) -> H:
        """``handler`` behind ``requirement``: what the ``require_*`` decorators return."""
        return _protect(self, handler, requirement)

    @overload
    def require_auth(self, handler: H) -> H: ...

    @overload
    def require_auth(self, handler: None = None) -> Callable[[H], H]: ...

    def require_auth(self, handler: H | None = None) -> H | Callable[[H], H]:
        """Demand any valid token: ``@guard.require_auth`` or ``@guard.require_auth()``."""
        if handler is None:
            return lambda inner: _protect(self, inner, Requirement())
        return _protect(self, handler, Requirement())

    def require_scope(self, *scopes: str) -> Callable[[H], H]:
        """Demand every one of ``scopes``: ``@guard.require_scope("orders/read")``."""
        requirement = Requirement.decorator_args("require_scope", scopes=scopes)
        return lambda handler: _protect(self, handler, requirement)

    def require_group(self, *groups: str) -> Callable[[H], H]:
        """Demand one of ``groups``: ``@guard.require_group("admins", "support")``."""
        requirement = Requirement.decorator_args("require_group", groups=groups)
        return lambda handler: _protect(self, handler, requirement)


def _protect(guard: LambdaGuard, handler: H, requirement: Requirement) -> H:
    if not callable(handler):
        raise ConfigurationError(f"only a function can be protected, not {handler!r}")
    if inspect.iscoroutinefunction(handler):
        raise ConfigurationError(
            f"{getattr(handler, '__name__', handler)!r} is a coroutine function; Lambda's Python "
            "runtime calls handlers synchronously: decorate a plain function"
        )

    @functools.wraps(handler)
    def protected(event: Event, context: Any = None) -> Any:
        kind = _events.proxy_kind(event)
        try:
            claims = guard.bearer.authorize(guard._authenticate(event), requirement)
        except CognitoGuardError as exc:
            method, path = _events.request_line(event, kind)
            answer = guard.bearer.answer(exc, method=method, path=path)
            return _events.proxy_rejection(event, kind, answer)
        token = _current.set((event, claims))
        try:
            return handler(event, context)
        finally:
            _current.reset(token)

    return protected  # type: ignore[return-value]


class EnvironmentGuard(LambdaGuard):
    """A :class:`LambdaGuard` configured from the ``COGNITO_*`` environment on first use.

    The module-level shortcuts are its bound methods: decorating a handler or building an
    authorizer at import needs no settings yet; the first event they handle reads them (a
    :class:`~cognito_guard.ConfigurationError` then, when they are wrong). Its
    :meth:`~LambdaGuard.hydrate` (the module-level ``hydrate()``) reads them at once.
    """

    def __init__(self) -> None:
        # LambdaGuard.__init__ would read the environment now: what this class defers.
        self._built: BearerGuard | None = None
        self._lock = threading.Lock()
        self.trust_gateway_claims = False
        self.clock = time.time

    @property
    def bearer(self) -> BearerGuard:
        """The guard's :class:`~cognito_guard.bearer.BearerGuard`, built on first use."""
        bearer = self._built
        if bearer is None:
            with self._lock:
                if self._built is None:
                    self._built = BearerGuard(verifier_from_env())
                bearer = self._built
        return bearer

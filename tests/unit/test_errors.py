"""Every error class in errors.py, one shape: status, code, description, check; public names."""

from __future__ import annotations

import ast
import copy
import json
import pathlib
import pickle
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import cognito_guard
from cognito_guard import errors
from cognito_guard.bearer import BearerGuard
from cognito_guard.client import CognitoTokenClient
from cognito_guard.sessions import (
    MemorySessionStore,
    SessionAuthError,
    SessionGuard,
    SessionStoreUnavailable,
    WebRequest,
    WebSignIn,
)
from cognito_guard.testing import LocalIssuer

# The public names of the package: exactly these (a name added or lost is an API change).
PUBLIC_NAMES = {
    "ClaimCheckError",
    "CognitoClaims",
    "CognitoGuardError",
    "CognitoVerifier",
    "ConfigurationError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InvalidAlgorithmError",
    "InvalidAudienceError",
    "InvalidClientError",
    "InvalidIssuerError",
    "InvalidPathError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "InvalidTokenUseError",
    "KeyPolicy",
    "KeyStore",
    "KeysUnavailableError",
    "MalformedClaimsError",
    "MalformedTokenError",
    "MissingGroupError",
    "MissingTokenError",
    "NotYetValidError",
    "RevocationsUnavailableError",
    "RevokedTokenError",
    "ServiceUnavailableError",
    "TokenError",
    "UnknownKeyError",
    "Requirement",
    "__version__",
}

# The names of the `cognito-guard verify --explain` rows, and the step it has no row for
# (revocation: the command checks no revocation list).
CHECK_NAMES = {
    "structure",
    "algorithm",
    "issuer",
    "signing key",
    "signature",
    "expiry",
    "not before",
    "token use",
    "claims",
    "client",
    "audience",
    "scopes",
    "groups",
    "custom check",
    "revocation",
}

ERROR_CLASSES = sorted(
    (
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    ),
    key=lambda cls: cls.__name__,
)

# Constructor arguments of the classes that take more than a message.
_ARGUMENTS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "MalformedClaimsError": (("bad exp", "exp"), {}),
    "InsufficientScopeError": (("no scope", ["orders/write"]), {}),
    "KeysUnavailableError": (("down",), {"retry_after": 4}),
    "TokenEndpointUnavailable": (("refresh: down",), {"status_code": 502}),
    "OAuthError": (("invalid_grant", "gone"), {"operation": "refresh", "status_code": 400}),
    "UnsupportedOperationError": (("GetTokensFromRefreshToken", "no such operation"), {}),
    "SessionAuthError": ((401, "session_ended", "ended"), {"clear_cookie": "c=; Max-Age=0"}),
    "BodyTooLarge": ((1024,), {}),
}


def _instance(cls: type[BaseException]) -> BaseException:
    args, kwargs = _ARGUMENTS.get(cls.__name__, (("a message",), {}))
    return cls(*args, **kwargs)


def test_the_public_names_are_the_released_ones_and_importable() -> None:
    assert set(cognito_guard.__all__) == PUBLIC_NAMES
    assert len(cognito_guard.__all__) == len(PUBLIC_NAMES)  # no name listed twice
    namespace: dict[str, Any] = {}
    exec("from cognito_guard import *", namespace)  # noqa: S102 - a fixed statement
    assert set(namespace) >= PUBLIC_NAMES
    for name in PUBLIC_NAMES - {"__version__"}:
        assert getattr(cognito_guard, name).__module__ == "cognito_guard", name


def test_the_package_lists_the_modules_own_names() -> None:
    assert set(errors.__all__) <= set(cognito_guard.__all__)
    assert set(cognito_guard.claims.__all__) <= set(cognito_guard.__all__)


def test_errors_py_imports_nothing_of_ours() -> None:
    tree = ast.parse(pathlib.Path(errors.__file__).read_text())
    ours = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").startswith("cognito_guard"):
                ours.append(node.module)
        elif isinstance(node, ast.Import):
            ours.extend(a.name for a in node.names if a.name.startswith("cognito_guard"))
    assert ours == []


# Run in a fresh interpreter: importing every module needs Django configured, which the other
# tests of this process must not see.
_WALK = textwrap.dedent(
    """
    import importlib, json, pkgutil
    import django
    from django.conf import settings
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
            "django.contrib.sessions", "django.contrib.messages",
            "cognito_guard.integrations.django",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    )
    django.setup()
    import cognito_guard
    from cognito_guard import errors
    found = {}
    for info in pkgutil.walk_packages(cognito_guard.__path__, "cognito_guard."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("cognito_guard")
            ):
                found[id(value)] = {
                    "name": value.__qualname__,
                    "found_in": info.name,
                    "bases": [base.__qualname__ for base in value.__mro__],
                    "in_errors": vars(errors).get(value.__qualname__) is value,
                }
    print(json.dumps(list(found.values())))
    """
)

# Framework answer types: they carry an answer in the framework's own exception type, and stay in
# their adapter. The testing helpers' own exceptions are no errors of the library.
_NOT_LIBRARY_ERRORS = {
    "CognitoHTTPException",  # Flask (werkzeug) and Starlette
    "CognitoAuthenticationError",  # Starlette's AuthenticationError
    "CognitoAPIException",  # Django REST framework
    "RedisServerNotFound",  # cognito_guard.testing: no Redis server to start
    "Refused",  # cognito_guard.testing: the fake user pool's refusal, answered over HTTP
}


def test_every_error_class_of_the_package_is_defined_in_errors_py() -> None:
    walk = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-W", "error", "-c", _WALK],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    classes = json.loads(walk.stdout)
    assert len(classes) > 30  # the walk did reach the modules
    elsewhere = sorted(
        f"{found['found_in']}.{found['name']}"
        for found in classes
        if not found["in_errors"] and not _NOT_LIBRARY_ERRORS & set(found["bases"])
    )
    assert elsewhere == []


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_has_the_one_shape(cls: type[errors.CognitoGuardError]) -> None:
    assert issubclass(cls, errors.CognitoGuardError)
    error = _instance(cls)
    assert isinstance(error, errors.CognitoGuardError)
    assert isinstance(cls.status_code, int) and 400 <= cls.status_code <= 599
    assert cls.error_code is None or cls.error_code.isidentifier()
    assert isinstance(cls.description, str) and cls.description
    assert error.check is None or error.check in CHECK_NAMES
    if issubclass(cls, (errors.TokenError, errors.KeysUnavailableError)):
        assert cls.check is None or cls.check in CHECK_NAMES


def test_a_subclass_states_its_answer_in_its_header_and_keeps_the_rest() -> None:
    class Teapot(errors.TokenError, status_code=418, description="I am a teapot", check=None):
        """A refusal with its own status."""

    assert (Teapot.status_code, Teapot.error_code, Teapot.description, Teapot.check) == (
        418,
        "invalid_token",  # not stated: TokenError's
        "I am a teapot",
        None,  # None is a value, not "keep the base's"
    )
    assert (errors.TokenError.status_code, errors.TokenError.check) == (401, "custom check")
    with pytest.raises(TypeError):  # a misspelt attribute is refused, not ignored

        class Misspelt(errors.TokenError, descripton="..."):
            """Never defined."""


@pytest.mark.parametrize(
    ("cls", "retry_after"),
    [
        (errors.KeysUnavailableError, 1),
        (errors.RevocationsUnavailableError, 1),
        (errors.TokenEndpointUnavailable, 5),
        (errors.SessionStoreUnavailable, 5),
    ],
)
def test_every_unavailable_error_is_a_503_with_retry_after(
    cls: type[errors.ServiceUnavailableError], retry_after: int
) -> None:
    assert issubclass(cls, errors.ServiceUnavailableError)
    assert (cls.status_code, cls.error_code) == (503, "temporarily_unavailable")
    assert cls("down").retry_after == retry_after
    assert cls("down", retry_after=9).retry_after == 9


def test_the_token_client_errors_keep_cognitos_status() -> None:
    # Their status_code is documented as the status of Cognito's answer; the 503 is the class's.
    unavailable = errors.TokenEndpointUnavailable("refresh: down", status_code=429)
    assert (unavailable.status_code, type(unavailable).status_code) == (429, 503)
    assert errors.TokenEndpointUnavailable("refresh: unreachable").status_code is None
    refused = errors.OAuthError("invalid_grant", "gone", status_code=400)
    assert (refused.error, refused.error_code, refused.status_code) == (
        "invalid_grant",
        "invalid_grant",
        400,
    )


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_pickles_and_copies(cls: type[BaseException]) -> None:
    error = _instance(cls)
    for again in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):  # noqa: S301
        assert type(again) is cls
        assert (again.args, vars(again), str(again)) == (error.args, vars(error), str(error))
    assert repr(error).startswith(cls.__name__ + "(")


def test_the_old_import_paths_give_the_same_classes() -> None:
    from cognito_guard import _http, _oauth, cli, client, keys, sessions
    from cognito_guard.integrations import flask
    from cognito_guard.integrations.django import users
    from cognito_guard.sessions import signin, stores

    same = [
        (client.OAuthError, errors.OAuthError),
        (client.TokenEndpointUnavailable, errors.TokenEndpointUnavailable),
        (client.UnsupportedOperationError, errors.UnsupportedOperationError),
        (_oauth.OAuthError, errors.OAuthError),
        (sessions.SessionStoreUnavailable, errors.SessionStoreUnavailable),
        (stores.SessionStoreUnavailable, errors.SessionStoreUnavailable),
        (sessions.SessionAuthError, errors.SessionAuthError),
        (signin.SessionAuthError, errors.SessionAuthError),
        (users.UserRefusedError, errors.UserRefusedError),
        (users.UnknownUserError, errors.UnknownUserError),
        (users.InactiveUserError, errors.InactiveUserError),
        (flask.CognitoUsageError, errors.CognitoUsageError),
        (keys.JWKSError, errors.JWKSError),
        (_http.BodyTooLarge, errors.BodyTooLarge),
        (cli.NotAJWT, errors.NotAJWT),
    ]
    assert all(old is new for old, new in same)


def test_a_usage_mistake_is_a_configuration_error_but_no_runtime_error() -> None:
    # werkzeug's LocalProxy swallows a RuntimeError raised by `if current_cognito_user:`.
    assert issubclass(errors.CognitoUsageError, errors.ConfigurationError)
    assert not issubclass(errors.CognitoUsageError, RuntimeError)


# -- answers built from the errors ------------------------------------------------------------


def test_the_bearer_guard_answers_the_new_unavailable_errors_with_503(
    cognito_issuer: LocalIssuer,
) -> None:
    guard = BearerGuard(cognito_issuer.verifier())
    for error in (
        errors.TokenEndpointUnavailable("refresh: down", status_code=502),
        errors.SessionStoreUnavailable("redis: down"),
    ):
        answer = guard.answer(error, method="GET", path="/orders")
        assert answer.status == 503
        assert answer.headers == (("Retry-After", "5"), ("Cache-Control", "no-store"))
        assert answer.body == {
            "error": "temporarily_unavailable",
            "error_description": type(error).description,
        }


class _DownStore(MemorySessionStore):
    """A store whose every read and write fails (an injected fault)."""

    def get(self, session_id: str) -> dict[str, Any] | None:
        raise SessionStoreUnavailable("the session store is down")

    def put_login(self, state: str, record: dict[str, Any], ttl: float) -> None:
        raise SessionStoreUnavailable("the session store is down")


def _sign_in(issuer: LocalIssuer, store: MemorySessionStore) -> WebSignIn:
    return WebSignIn(
        client=CognitoTokenClient(issuer.client_id, domain="https://auth.example.com"),
        verifier=issuer.verifier(token_use="access"),
        redirect_uri="https://app.example.com/auth/callback",
        store=store,
    )


def _cookie_request(method: str, **headers: str) -> WebRequest:
    return WebRequest(
        method,
        "/orders",
        headers={"host": "app.example.com", **headers},
        cookies={"__Host-cognito_session": "an-unknown-session"},
    )


def _refusal(sign_in: WebSignIn, request: WebRequest) -> SessionAuthError:
    with pytest.raises(SessionAuthError) as caught:
        sign_in.authenticate(request)
    return caught.value


def test_session_refusals_answer_exactly_as_documented(cognito_issuer: LocalIssuer) -> None:
    sign_in = _sign_in(cognito_issuer, MemorySessionStore())
    guard = SessionGuard(cognito_issuer.verifier(), sign_in=sign_in)

    ended = guard.answer(_refusal(sign_in, _cookie_request("GET")))
    assert ended.status == 401
    assert ended.headers == (
        ("WWW-Authenticate", "Bearer"),
        (
            "Set-Cookie",
            "__Host-cognito_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax",
        ),
        ("Cache-Control", "no-store"),
    )
    assert ended.body == {
        "error": "session_ended",
        "error_description": "the session has ended: sign in again",
    }

    csrf = guard.answer(_refusal(sign_in, _cookie_request("POST")))
    assert (csrf.status, csrf.headers, csrf.error) == (
        403,
        (("Cache-Control", "no-store"),),
        "csrf_header_missing",
    )

    down = _sign_in(cognito_issuer, _DownStore())
    unavailable = guard.answer(_refusal(down, _cookie_request("GET")))
    assert unavailable.status == 503
    assert unavailable.headers == (("Retry-After", "5"), ("Cache-Control", "no-store"))
    assert unavailable.body == {
        "error": "temporarily_unavailable",
        "error_description": "the session store is unavailable",
    }


def test_the_sign_in_routes_answer_an_unavailable_store_with_a_503_page(
    cognito_issuer: LocalIssuer,
) -> None:
    sign_in = _sign_in(cognito_issuer, _DownStore())
    page = sign_in.handle_route("login", WebRequest("GET", "/auth/login", headers={}))
    assert page.status == 503
    assert page.headers == (
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Retry-After", "5"),
    )
    assert b"The sign-in service is unavailable right now." in page.body
    user = sign_in.handle_route("user", _cookie_request("GET"))
    assert user.status == 503 and json.loads(user.body)["error"] == "temporarily_unavailable"
    assert ("Retry-After", "5") in user.headers

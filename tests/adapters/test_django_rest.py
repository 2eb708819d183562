"""The Django REST framework classes: the behaviour matrix through DRF's APIClient, and more."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from cognito_guard import CognitoVerifier
from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix
from .django_project import setup

setup()

from rest_framework.test import APIClient  # noqa: E402 - DRF reads settings on import

from .test_django import check_success_body  # noqa: E402

DRF_URLS = "tests.adapters.django_project.drf_urls"
DRF_SETTINGS = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cognito_guard.integrations.django_rest.CognitoAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}


@pytest.fixture
def api(issuer: LocalIssuer, jwks: JWKSServer) -> Iterator[APIClient]:
    """An APIClient of the DRF reference app, with a fresh verifier of the module's pool."""
    verifier = issuer.verifier(jwks_uri=jwks.jwks_uri)
    with override_settings(COGNITO_GUARD_VERIFIER=verifier, ROOT_URLCONF=DRF_URLS):
        yield APIClient()


def _get(api: APIClient, path: str, authorization: str | None = None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    return api.get(path, headers=headers)


@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
def test_matrix_through_drf(
    case: matrix.Case, api: APIClient, issuer: LocalIssuer, other_issuer: LocalIssuer
) -> None:
    headers = matrix.headers_for(case, issuer, other_issuer)
    response = api.generic(case.method, case.path, headers=headers)
    body = response.json()
    matrix.check(case, response.status_code, response.headers, body)
    if response.status_code < 400:
        check_success_body(case, body)


def test_drf_request_user_is_a_cognito_user(api: APIClient, issuer: LocalIssuer) -> None:
    token = issuer.access_token(username="carol")
    response = _get(api, "/plain", f"Bearer {token}")
    assert response.status_code == 200
    assert response.json() == {"user": "carol"}


def test_drf_is_authenticated_answers_401_with_bearer_challenge(api: APIClient) -> None:
    response = _get(api, "/plain")
    # authenticate_header keeps DRF from turning the missing credentials into a 403.
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_drf_rejects_a_bad_token_even_on_allow_any(api: APIClient, issuer: LocalIssuer) -> None:
    token = issuer.access_token(expires_in=-60)
    response = _get(api, "/public", f"Bearer {token}")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert _get(api, "/public", "Basic dXNlcjpwYXNz").status_code == 400


def test_drf_answers_without_the_exception_handler(api: APIClient, issuer: LocalIssuer) -> None:
    token = issuer.access_token(scopes=["openid"])
    with override_settings(REST_FRAMEWORK=DRF_SETTINGS):
        response = _get(api, "/orders", f"Bearer {token}")
    # DRF's own handler still gives the status, the challenge and the RFC 6750 body.
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="orders/read"' in response.headers["WWW-Authenticate"]
    assert response.json()["error"] == "insufficient_scope"


def test_drf_head_gets_the_get_scopes(api: APIClient, issuer: LocalIssuer) -> None:
    without = issuer.access_token(scopes=["openid"])
    with_read = issuer.access_token(scopes=["orders/read"])
    assert api.head("/orders", headers={"Authorization": f"Bearer {without}"}).status_code == 403
    assert api.head("/orders", headers={"Authorization": f"Bearer {with_read}"}).status_code == 200


def test_drf_jwks_down_answers_503(
    cognito_verifier: CognitoVerifier, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    token = cognito_issuer.access_token(scopes=["orders/read"])
    with override_settings(COGNITO_GUARD_VERIFIER=cognito_verifier, ROOT_URLCONF=DRF_URLS):
        response = _get(APIClient(), "/orders", f"Bearer {token}")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["error"] == "temporarily_unavailable"

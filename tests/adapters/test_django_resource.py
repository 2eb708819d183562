"""Django's ``COGNITO_GUARD["RESOURCE"]``: the middleware serves the RFC 9728 document itself.

The real servers are in ``test_resource_metadata.py``; here, through Django's test clients, what
only Django has: the settings, the system check, the scopes of each kind of view (function views,
``method_decorator`` on class-based views, DRF's ``HasScope``), the async stack and DRF's own 401.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, override_settings

from cognito_guard import CognitoVerifier, ConfigurationError
from cognito_guard.integrations.django import CognitoMiddleware
from cognito_guard.testing import LocalIssuer

from .django_project import setup

setup()

RESOURCE = "https://api.example.com/shop"
PATH = "/.well-known/oauth-protected-resource/shop"
CHALLENGE = 'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/shop"'
URLCONFS = {
    "function-and-class-views": "tests.adapters.django_project.urls",
    "async-views": "tests.adapters.django_project.async_urls",
    "drf-views": "tests.adapters.django_project.drf_urls",
}


def _config(**extra: Any) -> dict[str, Any]:
    return {**settings.COGNITO_GUARD, **extra}


@pytest.fixture
def verifier(cognito_issuer: LocalIssuer) -> CognitoVerifier:
    return cognito_issuer.verifier(audience=RESOURCE)  # preloaded JWKS: no network


@pytest.fixture
def served(verifier: CognitoVerifier) -> Iterator[CognitoVerifier]:
    """The injected verifier, and RESOURCE in COGNITO_GUARD (read even beside an injected one)."""
    with override_settings(
        COGNITO_GUARD_VERIFIER=verifier, COGNITO_GUARD=_config(RESOURCE=RESOURCE)
    ):
        yield verifier


def _ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


@pytest.mark.parametrize("urlconf", list(URLCONFS.values()), ids=list(URLCONFS))
def test_the_scopes_of_every_kind_of_view_are_listed(
    served: CognitoVerifier, cognito_issuer: LocalIssuer, urlconf: str
) -> None:
    with override_settings(ROOT_URLCONF=urlconf):
        response = Client().get(PATH)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=3600"
    assert json.loads(response.content) == {
        "resource": RESOURCE,
        "authorization_servers": [cognito_issuer.issuer],
        "scopes_supported": ["orders/read", "orders/write"],
        "bearer_methods_supported": ["header"],
    }


def test_the_verifiers_own_scopes_are_listed_with_the_views(
    cognito_issuer: LocalIssuer,
) -> None:
    verifier = cognito_issuer.verifier(audience=RESOURCE, scopes=["shop/access"])
    with override_settings(
        COGNITO_GUARD_VERIFIER=verifier, COGNITO_GUARD=_config(RESOURCE=RESOURCE)
    ):
        document = json.loads(Client().get(PATH).content)
    assert document["scopes_supported"] == ["orders/read", "orders/write", "shop/access"]


@pytest.mark.anyio
async def test_the_async_stack_serves_it_before_any_view(served: CognitoVerifier) -> None:
    with override_settings(ROOT_URLCONF=URLCONFS["async-views"]):
        response = await AsyncClient().get(PATH, headers={"Authorization": "Bearer not.a.jwt"})
        challenge = (await AsyncClient().get("/me"))["WWW-Authenticate"]
    assert response.status_code == 200
    assert json.loads(response.content)["resource"] == RESOURCE
    assert challenge == f"Bearer {CHALLENGE}"


@pytest.mark.parametrize("urlconf", list(URLCONFS.values()), ids=list(URLCONFS))
def test_every_401_names_the_metadata_url(served: CognitoVerifier, urlconf: str) -> None:
    with override_settings(ROOT_URLCONF=urlconf):
        bare = Client().get("/me")
        garbage = Client().get("/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert bare.status_code == 401 and bare["WWW-Authenticate"] == f"Bearer {CHALLENGE}"
    assert garbage.status_code == 401 and garbage["WWW-Authenticate"].endswith(", " + CHALLENGE)


def test_drfs_own_401_names_the_metadata_url(served: CognitoVerifier) -> None:
    # DRF's IsAuthenticated: its challenge comes from CognitoAuthentication.authenticate_header.
    with override_settings(ROOT_URLCONF=URLCONFS["drf-views"]):
        response = Client().get("/plain")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == f"Bearer {CHALLENGE}"


def test_a_token_for_another_resource_is_401_invalid_token(
    served: CognitoVerifier, cognito_issuer: LocalIssuer
) -> None:
    token = cognito_issuer.access_token(scopes=["orders/read"], aud="https://other.example.com")
    response = Client().get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert json.loads(response.content)["error"] == "invalid_token"
    good = cognito_issuer.access_token(scopes=["orders/read"], aud=RESOURCE)
    assert Client().get("/orders", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_without_resource_nothing_is_served(verifier: CognitoVerifier) -> None:
    with override_settings(COGNITO_GUARD_VERIFIER=verifier):
        response = Client().get(PATH)
        challenge = Client().get("/me")["WWW-Authenticate"]
    assert response.status_code == 404
    assert challenge == "Bearer"


def test_resource_without_an_audience_is_refused_at_start_up_and_by_the_check(
    cognito_issuer: LocalIssuer,
) -> None:
    with override_settings(
        COGNITO_GUARD_VERIFIER=cognito_issuer.verifier(), COGNITO_GUARD=_config(RESOURCE=RESOURCE)
    ):
        with pytest.raises(ConfigurationError, match="needs a verifier that checks the audience"):
            CognitoMiddleware(_ok)
        messages = [m for m in run_checks() if str(m.id).startswith("cognito_guard.")]
    assert [m.id for m in messages] == ["cognito_guard.E001"]
    assert "would accept access tokens issued for other resources" in messages[0].msg


def test_resource_and_audience_from_cognito_guard_alone() -> None:
    config = _config(AUDIENCE=RESOURCE, RESOURCE=RESOURCE)
    with override_settings(COGNITO_GUARD=config):
        middleware = CognitoMiddleware(_ok)
    assert middleware.metadata_path == PATH
    assert middleware.guard.verifier.audiences == (RESOURCE,)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"AUDIENCE": RESOURCE, "RESOURCES": RESOURCE}, "did you mean 'RESOURCE'"),
        ({"AUDIENCE": RESOURCE, "RESOURCE": [RESOURCE]}, "must be a URL string"),
        ({"AUDIENCE": RESOURCE, "RESOURCE": "https://other.example.com"}, "not one of the verif"),
        ({"AUDIENCE": "myapp://shop", "RESOURCE": "myapp://shop"}, "must be an https URL"),
    ],
    ids=["typo", "a-list", "not-an-audience", "not-https"],
)
def test_a_bad_resource_setting_is_refused_at_start_up(
    config: dict[str, Any], message: str
) -> None:
    with (
        override_settings(COGNITO_GUARD=_config(**config)),
        pytest.raises(ConfigurationError, match=message),
    ):
        CognitoMiddleware(_ok)

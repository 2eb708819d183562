"""Django and DRF: each plausible mistake is refused where written, or the request is refused."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory, override_settings
from django.utils.decorators import method_decorator
from django.views import View

from cognito_guard import CognitoVerifier, ConfigurationError
from cognito_guard.integrations.django import (
    CognitoMiddleware,
    build_verifier,
    require_auth,
    require_group,
    require_scope,
)
from cognito_guard.testing import LocalIssuer

from .django_project import setup

setup()

# DRF reads the settings on import
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from cognito_guard.integrations.django_rest import HasScope, InGroup  # noqa: E402


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer("eu-west-1_Misuse123")


@pytest.fixture
def injected(issuer: LocalIssuer) -> Iterator[CognitoVerifier]:
    verifier = issuer.verifier()
    with override_settings(COGNITO_GUARD_VERIFIER=verifier):
        yield verifier


def _call(
    view: Callable[..., Any], method: str = "get", path: str = "/x", token: str | None = None
) -> Any:
    headers = {} if token is None else {"Authorization": "Bearer " + token}
    request = getattr(RequestFactory(), method)(path, headers=headers)
    return CognitoMiddleware(view)(request)


def test_a_misspelt_key_in_cognito_guard_says_did_you_mean() -> None:
    config = {"USER_POOL_ID": "us-east-1_LocalPool1", "CLIENT_ID": "abc", "SCOPE": "admin/all"}
    with (
        override_settings(COGNITO_GUARD=config),
        pytest.raises(ConfigurationError, match="'SCOPE'; did you mean 'SCOPES'"),
    ):
        build_verifier()


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("CREATE_USER", "CREATE_USERS"), ("SYNC_GROUP", "SYNC_GROUPS"), ("SIGNIN", "SIGN_IN")],
)
def test_a_misspelt_django_only_key_says_did_you_mean(key: str, suggestion: str) -> None:
    # Django reads these keys itself; a misspelling must still be named, with the right guess.
    config = {"USER_POOL_ID": "us-east-1_LocalPool1", "CLIENT_ID": "abc", key: True}
    with (
        override_settings(COGNITO_GUARD=config),
        pytest.raises(ConfigurationError, match=f"'{key}'; did you mean '{suggestion}'"),
    ):
        build_verifier()


def test_scopes_with_a_space_in_cognito_guard_fail_the_start_up() -> None:
    config = {"USER_POOL_ID": "us-east-1_LocalPool1", "CLIENT_ID": "abc", "SCOPES": ["a b"]}
    with override_settings(COGNITO_GUARD=config), pytest.raises(ConfigurationError, match="space"):
        build_verifier()


def test_bare_require_scope_is_refused_at_decoration() -> None:
    with pytest.raises(ConfigurationError, match=r"@require_scope\('orders/read'\)"):

        @require_scope  # type: ignore[arg-type]
        def orders(request: HttpRequest) -> HttpResponse:
            return HttpResponse()


@pytest.mark.parametrize(
    "make",
    [
        lambda: require_scope("orders/read orders/write"),
        lambda: require_scope(),
        lambda: require_group("admins staff"),
        lambda: require_scope(["orders/read"]),  # type: ignore[arg-type]
    ],
)
def test_decorator_arguments_are_checked_when_written(make: Any) -> None:
    with pytest.raises(ConfigurationError):
        make()


def test_require_auth_with_parentheses_protects_too(
    injected: CognitoVerifier, issuer: LocalIssuer
) -> None:
    @require_auth()
    def me(request: HttpRequest) -> JsonResponse:
        return JsonResponse({"ok": True})

    assert _call(me).status_code == 401
    assert _call(me, token=issuer.access_token()).status_code == 200


def test_decorating_a_class_based_view_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="method_decorator"):

        @require_auth
        class Orders(View):
            def get(self, request: HttpRequest) -> HttpResponse:
                return HttpResponse()


@pytest.mark.parametrize(
    ("decorator", "written"),
    [
        (require_scope("orders/read"), 'require_scope("orders/read")'),
        (require_group("admins", "staff"), 'require_group("admins", "staff")'),
        (require_auth, "require_auth"),
    ],
)
def test_decorating_a_class_names_the_call_to_write(decorator: Any, written: str) -> None:
    # followed literally, the hint must be code that works: the decorator with its arguments
    with pytest.raises(ConfigurationError) as refused:
        decorator(type("Orders", (View,), {}))
    message = str(refused.value)
    assert f'@method_decorator({written}, name="dispatch")' in message
    assert f"{written}(Orders.as_view())" in message


def test_method_decorator_on_dispatch_protects(
    injected: CognitoVerifier, issuer: LocalIssuer
) -> None:
    @method_decorator(require_scope("orders/read"), name="dispatch")
    class Orders(View):
        def get(self, request: HttpRequest) -> JsonResponse:
            return JsonResponse({"orders": []})

    view = Orders.as_view()
    assert _call(view, token=issuer.access_token(scopes=["openid"])).status_code == 403
    assert _call(view, token=issuer.access_token(scopes=["orders/read"])).status_code == 200


def test_django_decorators_on_an_api_view_method_see_the_token(
    injected: CognitoVerifier, issuer: LocalIssuer
) -> None:
    class Orders(APIView):
        @method_decorator(require_scope("orders/read"))
        def get(self, request: Request) -> Response:
            return Response({"orders": []})

    view = Orders.as_view()
    assert _call(view, token=issuer.access_token(scopes=["openid"])).status_code == 403
    assert _call(view, token=issuer.access_token(scopes=["orders/read"])).status_code == 200


class _Scoped(APIView):
    permission_classes = (HasScope,)
    required_scopes: ClassVar[Any] = ()

    def get(self, request: Request) -> Response:
        return Response({"ok": True})

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


@pytest.mark.parametrize(
    ("required", "method", "message"),
    [
        ("orders/read orders/write", "get", "whitespace"),
        (["orders/read orders/write"], "get", "whitespace"),
        ({"get": ["orders/read"]}, "get", "did you mean 'GET'"),
        ({"GET": ["orders/read"]}, "post", r"no entry for POST: add 'POST'"),
    ],
)
def test_drf_required_scopes_mistakes_refuse_the_request(
    injected: CognitoVerifier, issuer: LocalIssuer, required: Any, method: str, message: str
) -> None:
    view = type("Orders", (_Scoped,), {"required_scopes": required}).as_view()
    token = issuer.access_token(scopes=["orders/read", "orders/write"])
    with pytest.raises(ConfigurationError, match=message):
        _call(view, method, token=token)


def test_drf_explicit_empty_entry_means_any_valid_token(
    injected: CognitoVerifier, issuer: LocalIssuer
) -> None:
    required = {"GET": ["orders/read"], "POST": []}
    view = type("Orders", (_Scoped,), {"required_scopes": required}).as_view()
    assert _call(view, "post", token=issuer.access_token(scopes=["openid"])).status_code == 200
    assert _call(view, "get", token=issuer.access_token(scopes=["openid"])).status_code == 403


def test_drf_methods_without_a_handler_keep_their_usual_answers(
    injected: CognitoVerifier, issuer: LocalIssuer
) -> None:
    view = type("Orders", (_Scoped,), {"required_scopes": {"GET": ["a/b"], "POST": []}}).as_view()
    token = issuer.access_token(scopes=["openid"])
    assert _call(view, "delete", token=token).status_code == 405
    assert _call(view, "options", token=token).status_code == 200
    assert _call(view, "delete").status_code == 401


def test_drf_empty_required_groups_refuse_the_request(
    injected: CognitoVerifier, issuer: LocalIssuer
) -> None:
    class Admin(APIView):
        permission_classes = (InGroup,)
        required_groups: ClassVar[list[str]] = []

        def get(self, request: Request) -> Response:
            return Response({"ok": True})

    with pytest.raises(ConfigurationError, match="required_groups is empty"):
        _call(Admin.as_view(), token=issuer.access_token(groups=["admins"]))


def test_one_record_per_rejected_request_with_method_and_path(
    injected: CognitoVerifier, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    @require_scope("orders/write")
    def create(request: HttpRequest) -> JsonResponse:
        return JsonResponse({"created": True})

    class Orders(_Scoped):
        required_scopes: ClassVar[Any] = {"GET": ["orders/read"], "POST": ["orders/write"]}

    caplog.set_level(logging.INFO, "cognito_guard")
    expired = issuer.access_token(expires_in=-60)
    assert _call(create, "post", "/orders", token=expired).status_code == 401
    assert _call(Orders.as_view(), "get", "/api/orders", token=expired).status_code == 401
    records = [r.getMessage() for r in caplog.records if r.name == "cognito_guard"]
    assert len(records) == 2
    assert records[0].startswith("rejected POST /orders with 401: ExpiredTokenError: ")
    assert records[1].startswith("rejected GET /api/orders with 401: ExpiredTokenError: ")
    assert expired not in caplog.text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("COGNITO_SCOPES", "Django takes the Cognito settings from one dict"),
        ("COGNITO_GROUP", "'GROUPS'"),
        ("COGNITO_GAURD", "did you mean COGNITO_GUARD"),
        ("COGNITO_GUARD_VERIFER", "did you mean COGNITO_GUARD_VERIFIER"),
    ],
)
def test_django_settings_that_would_be_ignored_fail_the_start_up(name: str, message: str) -> None:
    with override_settings(**{name: "x"}), pytest.raises(ConfigurationError, match=message):
        build_verifier()


def test_django_leaves_the_application_own_cognito_settings_alone(
    injected: CognitoVerifier,
) -> None:
    with override_settings(COGNITO_DOMAIN="https://auth.example.com", COGNITO_CLIENT_ID="x"):
        assert build_verifier() is injected

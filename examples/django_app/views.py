"""The reference API: one public route and four protected ones."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods

from cognito_guard.integrations.django import (
    CognitoRequest,
    require_auth,
    require_group,
    require_scope,
)


def _sub(request: HttpRequest) -> str:
    user = getattr(request, "cognito_user", None)
    return "" if user is None else user.sub


@require_GET
def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@require_GET
@require_auth
def me(request: CognitoRequest) -> JsonResponse:
    claims = request.cognito_user
    assert claims is not None  # noqa: S101 - require_auth let the request through
    return JsonResponse(
        {"sub": claims.sub, "username": claims.username, "scopes": sorted(claims.scopes)}
    )


@require_http_methods(["GET", "POST"])
def orders(request: HttpRequest) -> JsonResponse:
    # One URL, two scopes: reading and writing are granted separately.
    if request.method == "POST":
        return create_order(request)
    return list_orders(request)


@require_scope("orders/read")
def list_orders(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": _sub(request), "orders": []})


@require_scope("orders/write")
def create_order(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": _sub(request), "created": True}, status=201)


@require_GET
@require_group("admins")
def admin(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": _sub(request)})

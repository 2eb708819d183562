"""The reference API: one public route and four protected ones.

``request.user`` is the ``auth.User`` row linked to the token (CognitoBackend is on), or a
``CognitoService`` for a machine-to-machine token; orders are owned by the user.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods
from orders.models import Order

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
        {
            "sub": claims.sub,
            "username": claims.username,
            "scopes": sorted(claims.scopes),
            "user_id": request.user.pk,  # the row created on this user's first request
        }
    )


@require_http_methods(["GET", "POST"])
def orders(request: HttpRequest) -> JsonResponse:
    # One URL, two scopes: reading and writing are granted separately.
    if request.method == "POST":
        return create_order(request)
    return list_orders(request)


@require_scope("orders/read")
def list_orders(request: HttpRequest) -> JsonResponse:
    if getattr(request.user, "is_service", False):  # a machine-to-machine client owns nothing
        return JsonResponse({"user": _sub(request), "orders": []})
    items = list(Order.objects.filter(owner=request.user).values_list("item", flat=True))
    return JsonResponse({"user": _sub(request), "orders": items})


@require_scope("orders/write")
def create_order(request: HttpRequest) -> JsonResponse:
    if getattr(request.user, "is_service", False):
        return JsonResponse({"error": "orders are placed by users, not services"}, status=403)
    order = Order.objects.create(owner=request.user, item=request.GET.get("item", "book"))
    return JsonResponse({"user": _sub(request), "created": True, "id": order.pk}, status=201)


@require_GET
@require_group("admins")
def admin(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": _sub(request)})

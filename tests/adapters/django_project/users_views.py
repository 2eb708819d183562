"""Views of a project that keeps its users in the database: plain, Django-native, async and DRF.

Every one of them reads ``request.user`` (the linked ``AUTH_USER_MODEL`` row, or the service
principal) and owns ``Order`` rows through it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cognito_guard.claims import CognitoClaims
from cognito_guard.integrations.django import require_auth, require_scope

from .shop.models import Order


def describe(user: Any) -> dict[str, Any]:
    """What the tests compare: who ``request.user`` is."""
    return {
        "pk": user.pk,
        "username": user.get_username(),
        "model": type(user).__name__,
        "is_service": bool(getattr(user, "is_service", False)),
        "email": getattr(user, "email", None),
        "groups": sorted(user.groups.values_list("name", flat=True)) if user.pk else [],
    }


def _service_safe(user: Any) -> dict[str, Any]:
    if getattr(user, "is_service", False):
        return {"pk": user.pk, "username": user.get_username(), "is_service": True}
    return describe(user)


@require_auth
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_service_safe(request.user))


def whoami(request: HttpRequest) -> JsonResponse:
    user = request.user
    return JsonResponse(
        {"authenticated": user.is_authenticated, "cognito": request.cognito_user is not None}  # type: ignore[attr-defined]
    )


@require_auth
def claims_only(request: HttpRequest) -> JsonResponse:
    """Reads the claims only: with a cached link, the one query is the middleware's row load."""
    return JsonResponse({"sub": request.cognito_user.sub})  # type: ignore[attr-defined]


@require_scope("orders/write")
def create_order(request: HttpRequest) -> JsonResponse:
    order = Order.objects.create(owner=request.user, item=request.GET.get("item", "book"))
    return JsonResponse({"id": order.pk, "owner": order.owner_id}, status=201)


@login_required
def profile(request: HttpRequest) -> JsonResponse:
    """Django's own decorator: works because request.user is a real, authenticated user."""
    return JsonResponse({"orders": list(request.user.orders.values_list("item", flat=True))})  # type: ignore[union-attr]


@permission_required("shop.view_order", raise_exception=True)
def all_orders(request: HttpRequest) -> JsonResponse:
    """Group permissions through SYNC_GROUPS: user.has_perm via ModelBackend's rules."""
    return JsonResponse({"count": Order.objects.count()})


@require_auth
async def async_me(request: HttpRequest) -> JsonResponse:
    user = await request.auser()  # type: ignore[attr-defined]
    order = await Order.objects.acreate(owner=user, item="async")
    return JsonResponse(
        {"pk": user.pk, "username": user.get_username(), "order_owner": order.owner_id}
    )


class DrfMe(APIView):
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        assert isinstance(request.auth, CognitoClaims)
        return Response(_service_safe(request.user))

    def post(self, request: Request) -> Response:
        order = Order.objects.create(owner=request.user, item="drf")
        return Response({"id": order.pk, "owner": order.owner_id}, status=201)


# A USER_MAPPER that holds every creation until two have got that far: both requests have then
# looked for the identity and found none, so their inserts race for the (iss, sub) constraint.
creation_barrier = threading.Barrier(2, timeout=10)


def racing_mapper(claims: CognitoClaims, user: Any, created: bool) -> None:
    if created:
        creation_barrier.wait()


def department_mapper(claims: CognitoClaims, user: Any, created: bool) -> None:
    """Copies ``custom:department`` into ``last_name`` (a stand-in for a profile field)."""
    department = claims.get("custom:department")
    if isinstance(department, str):
        user.last_name = department

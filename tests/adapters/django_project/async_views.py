"""The reference app as async views: async functions and an async class-based view."""

from __future__ import annotations

import django
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View

from cognito_guard.integrations.django import (
    CognitoRequest,
    require_auth,
    require_group,
    require_scope,
)

from .views import claims_of, me_body


async def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


async def whoami(request: CognitoRequest) -> JsonResponse:
    user = request.cognito_user
    return JsonResponse({"sub": None if user is None else user.sub})


@require_auth
async def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(me_body(claims_of(request)))


class Orders(View):
    # An async class-based view is decorated on its handlers: its dispatch is sync.
    @method_decorator(require_scope("orders/read"))
    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"user": claims_of(request).sub, "orders": []})

    @method_decorator(require_scope("orders/write"))
    async def post(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"user": claims_of(request).sub, "created": True}, status=201)


@require_scope("orders/read")
async def _list_orders(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": claims_of(request).sub, "orders": []})


@require_scope("orders/write")
async def _create_order(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": claims_of(request).sub, "created": True}, status=201)


async def _orders_by_method(request: HttpRequest) -> JsonResponse:
    return await (_create_order if request.method == "POST" else _list_orders)(request)


# Django 4.2's method_decorator hides that a handler is async (fixed in Django 5.0), so there the
# same routes are async function views.
orders = Orders.as_view() if django.VERSION >= (5, 0) else _orders_by_method


@require_group("admins")
async def admin(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": claims_of(request).sub})

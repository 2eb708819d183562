"""The reference app of ``tests/adapters/matrix.py``, as sync views (function and class-based).

``/whoami`` is unprotected and reports what the middleware found; it is not part of the matrix.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View

from cognito_guard.claims import CognitoClaims
from cognito_guard.integrations.django import (
    CognitoRequest,
    require_auth,
    require_group,
    require_scope,
)


def claims_of(request: HttpRequest) -> CognitoClaims:
    """The verified claims of a request that a decorator let through."""
    claims = getattr(request, "cognito_user", None)
    assert isinstance(claims, CognitoClaims)
    return claims


def me_body(claims: CognitoClaims) -> dict[str, object]:
    """The body of ``/me``."""
    return {"sub": claims.sub, "username": claims.username, "scopes": sorted(claims.scopes)}


def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def whoami(request: CognitoRequest) -> JsonResponse:
    user = request.cognito_user
    return JsonResponse({"sub": None if user is None else user.sub})


@require_auth
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse(me_body(claims_of(request)))


class Orders(View):
    @method_decorator(require_scope("orders/read"))
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"user": claims_of(request).sub, "orders": []})

    @method_decorator(require_scope("orders/write"))
    def post(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"user": claims_of(request).sub, "created": True}, status=201)


@method_decorator(require_group("admins"), name="dispatch")
class Admin(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"user": claims_of(request).sub})

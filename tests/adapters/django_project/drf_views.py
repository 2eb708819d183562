"""The reference app as Django REST framework views."""

from __future__ import annotations

from typing import ClassVar

from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cognito_guard.claims import CognitoClaims
from cognito_guard.integrations.django import CognitoUser
from cognito_guard.integrations.django_rest import HasScope, InGroup, IsCognitoAuthenticated

from .views import me_body


def _claims(request: Request) -> CognitoClaims:
    assert isinstance(request.user, CognitoUser) and isinstance(request.auth, CognitoClaims)
    return request.auth


class Public(APIView):
    permission_classes = (AllowAny,)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class Me(APIView):
    permission_classes = (IsCognitoAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response(me_body(_claims(request)))


class Orders(APIView):
    permission_classes = (HasScope,)
    required_scopes: ClassVar[dict[str, list[str]]] = {
        "GET": ["orders/read"],
        "POST": ["orders/write"],
    }

    def get(self, request: Request) -> Response:
        return Response({"user": _claims(request).sub, "orders": []})

    def post(self, request: Request) -> Response:
        return Response({"user": _claims(request).sub, "created": True}, status=201)


class Admin(APIView):
    permission_classes = (InGroup,)
    required_groups = ("admins",)

    def get(self, request: Request) -> Response:
        return Response({"user": _claims(request).sub})


class PlainIsAuthenticated(APIView):
    """DRF's own IsAuthenticated: must answer 401 with the Bearer challenge, not 403."""

    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response({"user": request.user.username})

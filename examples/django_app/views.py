"""The reference API: one public route and four protected ones.

``request.user`` is the ``auth.User`` row linked to the token (CognitoBackend is on), or a
``CognitoService`` for a machine-to-machine token; orders are owned by the user. ``GET /ready``
is the readiness probe.
"""

from __future__ import annotations

import html

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from orders.models import Order

from cognito_guard import readiness
from cognito_guard.integrations.django import (
    CognitoRequest,
    request_state,
    require_auth,
    require_group,
    require_scope,
)
from cognito_guard.integrations.django.sessions import sign_in_from_settings

# The signed-in page: the browser never sees a token; its script calls the API with the cookie
# and the X-CSRF header that cookie-authenticated unsafe requests need.
ACCOUNT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Account</title></head><body>
<h1>Account</h1><p id="user">Signed in as {username}</p>
<button id="sign-out">Sign out</button>
<script>
document.getElementById("sign-out").onclick = async () => {{
  const answer = await fetch("/auth/logout", {{method: "POST",
    headers: {{"X-CSRF": "1", "Accept": "application/json"}}}});
  window.location = (await answer.json()).logout_url;
}};
</script></body></html>"""
HOME_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Home</title></head>
<body><h1>Home</h1><p id="home">Signed out.</p><a href="/account">Sign in</a></body></html>"""


def _sub(request: HttpRequest) -> str:
    user = getattr(request, "cognito_user", None)
    return "" if user is None else user.sub


@require_GET
def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


async def ready(request: HttpRequest) -> JsonResponse:
    """The readiness probe: 200 when this process can verify tokens, else 503 and why.

    Asynchronous, so that on an ASGI server it waits on the event loop, not in the one thread
    Django runs every synchronous view of an ASGI request in. The verifier is the one the
    middleware built (``COGNITO_REVOCATIONS_URL`` included).
    """
    guard = request_state(request).guard
    state = await readiness.acheck(guard.verifier, sign_in_from_settings())
    return JsonResponse(state.as_dict(), status=state.status_code)


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


@csrf_exempt  # an API: bearer tokens, or the session cookie with X-CSRF: 1
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


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HOME_PAGE)


@require_GET
def account(request: CognitoRequest) -> HttpResponse:
    claims = request_state(request).claims
    sign_in = sign_in_from_settings()
    if claims is None and sign_in is not None:  # a page, not an API: send the browser to sign in
        return HttpResponseRedirect(sign_in.login_url("/account"))
    assert claims is not None  # noqa: S101 - urls.py routes here only with web sign-in
    return HttpResponse(ACCOUNT_PAGE.format(username=html.escape(claims.username or "")))

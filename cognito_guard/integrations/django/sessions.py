"""Django glue of web sign-in: the four routes, Django's logout, and the admin's login page.

Setup::

    COGNITO_GUARD = {"USER_POOL_ID": ..., "CLIENT_ID": ..., "SIGN_IN": "myproject.auth.sign_in"}
    urlpatterns = [..., path("auth/", include("cognito_guard.integrations.django.urls"))]

``SIGN_IN`` is the dotted path of a :class:`~cognito_guard.sessions.WebSignIn`, or of a function
returning one (called once). :class:`~cognito_guard.integrations.django.CognitoMiddleware` then
authenticates requests without an ``Authorization`` header by the session cookie, so the
decorators and DRF accept either. A cookie-authenticated unsafe request goes on when it carries
``X-CSRF: 1`` or passes Django's own CSRF check (a form with ``{% csrf_token %}``); see
:mod:`~cognito_guard.integrations.django.web`.

A staff site (the admin) signing in through Cognito (``docs/django-admin.md``)::

    urlpatterns = [
        path("admin/login/", admin_login),      # Cognito's sign-in instead of the password form
        path("admin/logout/", logout_view),     # Django's logout, then Cognito's
        path("admin/", admin.site.urls),
        path("auth/", include("cognito_guard.integrations.django.urls")),
    ]

Django's logout anywhere (``django.contrib.auth.logout``, the admin's own logout view) also ends
the web sign-in session: the middleware connects a ``user_logged_out`` receiver when ``SIGN_IN``
is set.
"""

from __future__ import annotations

import dataclasses
import html
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from ...claims import CognitoClaims
from ...errors import CognitoGuardError, ConfigurationError, InvalidHostError
from ...sessions import SessionStoreUnavailable, WebSignIn, safe_return_to
from ...sessions.web import csrf_satisfied
from .settings import SIGN_IN_SETTING, sign_in_from_settings
from .web import to_response, web_request

__all__ = [
    "SETTING",
    "aauthenticate",
    "admin_login",
    "authenticate",
    "connect_sign_out",
    "logout_view",
    "route_view",
    "sign_in_from_settings",
    "to_response",
    "web_request",
]

log = logging.getLogger("cognito_guard")

SETTING = SIGN_IN_SETTING
"""The key of ``settings.COGNITO_GUARD`` naming the :class:`WebSignIn`."""


def _configured() -> WebSignIn:
    sign_in = sign_in_from_settings()
    if sign_in is None:
        raise ConfigurationError(
            'cognito_guard: the sign-in URLs need COGNITO_GUARD["SIGN_IN"] in the settings'
        )
    return sign_in


def route_view(name: str) -> Callable[[HttpRequest], HttpResponse]:
    """The Django view of sign-in route ``name`` (``login``, ``callback``, ``logout``, ``user``)."""

    # csrf_exempt: the CSRF rule protects logout (X-CSRF: 1, or Django's token), so that a
    # script's logout needs no Django token; the other routes are safe methods.
    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        return to_response(_configured().handle_route(name, web_request(request, exempt_view=True)))

    view.__name__ = view.__qualname__ = f"cognito_guard_sign_in_{name}"
    return view


def authenticate(sign_in: WebSignIn, request: HttpRequest) -> CognitoClaims | None:
    """The claims of the request's session cookie (refreshing when due), or None."""
    return sign_in.authenticate(web_request(request))


async def aauthenticate(sign_in: WebSignIn, request: HttpRequest) -> CognitoClaims | None:
    """Like :func:`authenticate`, without blocking the event loop."""
    return await sign_in.aauthenticate(web_request(request))


# -- Django's logout ends the session -------------------------------------------------------------


def _decided() -> bool:
    # The CSRF verdict of a logout the application itself performs (django.contrib.auth.logout).
    return True


def _end_session(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """``user_logged_out``: end the request's web sign-in session with Django's session.

    The application called Django's logout (its own view's CSRF protection applies there), so
    the session ends as ``POST {prefix}/logout`` ends it: the refresh token revoked at Cognito,
    the session's ``origin_jti`` recorded, the session deleted.
    """
    sign_in = sign_in_from_settings()
    if request is None or sign_in is None:
        return
    web = dataclasses.replace(web_request(request), framework_csrf=_decided)
    if sign_in.cookie.read(web) is None:
        return
    try:
        sign_in.logout(web)
    except InvalidHostError:
        pass  # raised for the Cognito logout URL, after the session ended
    except SessionStoreUnavailable:
        # Not swallowed: a logout that leaves the session alive must not look like one.
        log.error("Django's logout could not end the web sign-in session: store unavailable")
        raise


def connect_sign_out() -> None:
    """Connect the ``user_logged_out`` receiver that ends the web sign-in session (idempotent;
    :class:`~cognito_guard.integrations.django.CognitoMiddleware` calls it when ``SIGN_IN``
    is set)."""
    from django.contrib.auth.signals import user_logged_out

    user_logged_out.connect(_end_session, dispatch_uid="cognito_guard.end_web_session")


# -- the admin's login and logout -----------------------------------------------------------------


@csrf_exempt  # the CSRF rule: X-CSRF: 1, or Django's token (a form's {% csrf_token %})
def logout_view(request: HttpRequest) -> HttpResponse:
    """``POST``: sign out of Django (its session, ``user_logged_out``) and of the web sign-in
    session, then a 302 to Cognito's ``/logout`` (JSON ``{"logout_url"}`` when asked for JSON).

    Wire it where Django's logout is, e.g. ``path("admin/logout/", logout_view)`` before the
    admin's URLs: the admin's "Log out" button posts its form there with Django's CSRF token.
    Without ``X-CSRF: 1`` or a valid token the answer is 403 ``csrf_header_missing``, and
    nothing is signed out; any method but ``POST`` is 405.
    """
    sign_in = _configured()
    web = web_request(request, exempt_view=True)
    if request.method == "POST" and csrf_satisfied(web) and _has_django_login(request):
        from django.contrib.auth import logout

        logout(request)  # its user_logged_out ends the web sign-in session (_end_session)
    return to_response(sign_in.handle_route("logout", web))


def _has_django_login(request: HttpRequest) -> bool:
    # Django's logout flushes request.session and needs django.contrib.auth's AnonymousUser.
    from django.apps import apps

    return hasattr(request, "session") and apps.is_installed("django.contrib.auth")


@require_safe
def admin_login(request: HttpRequest, site: Any = None) -> HttpResponse:
    """The login page of an admin site (``admin.site``, or the ``site`` given in the URL's
    keyword arguments) for a staff site that signs in through Cognito.

    A user with access to the admin goes on to ``next``; a signed-in user without access (not
    staff, inactive, or without a user row) is answered 403: the admin sends such a user here,
    and another sign-in would come straight back (Cognito's own session is still alive); anyone
    else goes to Cognito's managed login, coming back to ``next``.

    Example (``urls.py``, before the admin's URLs)::

        path("admin/login/", admin_login),
        path("staff/login/", admin_login, {"site": staff_site}),  # another AdminSite
    """
    from django.contrib import admin
    from django.urls import reverse

    site = admin.site if site is None else site
    index = reverse("admin:index", current_app=site.name)
    wanted = request.GET.get("next", "")
    return_to = safe_return_to(wanted) if wanted else index
    if site.has_permission(request):
        return HttpResponseRedirect(return_to)
    sign_in = _configured()
    user = getattr(request, "user", None)
    name = user.get_username() if user is not None and user.is_authenticated else None
    if name is None:
        claims = _session_claims(sign_in, request)
        name = None if claims is None else (claims.username or claims.sub)
    if name is not None:
        return _no_access(request, name, reverse("admin:logout", current_app=site.name))
    return HttpResponseRedirect(sign_in.login_url(return_to))


def _session_claims(sign_in: WebSignIn, request: HttpRequest) -> CognitoClaims | None:
    # The middleware's claims, else the session's own: a session whose user the middleware
    # refused (inactive, unknown with CREATE_USERS off) is still signed in at Cognito.
    claims: CognitoClaims | None = getattr(request, "cognito_user", None)
    if claims is not None:
        return claims
    try:
        return sign_in.authenticate(web_request(request))
    except CognitoGuardError:
        return None


_NO_ACCESS = """<!doctype html><html><head><meta charset="utf-8"><title>No access</title></head>
<body><h1>No access</h1><p id="no-access">You are signed in as {name}, which has no access to
this site's administration.</p>
<form method="post" action="{logout}">
<input type="hidden" name="csrfmiddlewaretoken" value="{token}">
<button id="sign-out" type="submit">Sign out</button>
</form></body></html>"""


def _no_access(request: HttpRequest, name: str, logout: str) -> HttpResponse:
    from django.middleware.csrf import get_token

    page = _NO_ACCESS.format(
        name=html.escape(name),
        logout=html.escape(logout, quote=True),
        token=html.escape(get_token(request), quote=True),
    )
    response = HttpResponse(page, status=403, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response

"""Django's requests and responses as web sign-in's :class:`~cognito_guard.sessions.WebRequest`
and :class:`~cognito_guard.sessions.WebResponse`, with Django's CSRF check as the CSRF rule's
framework check.

A request authenticated by the session cookie with an unsafe method goes on when it carries
``X-CSRF: 1`` or passes Django's own CSRF check
(:func:`~cognito_guard.sessions.web.csrf_satisfied`): the check ``CsrfViewMiddleware`` runs
(origin, referer over https, the ``csrfmiddlewaretoken`` field or ``X-CSRFToken`` header against
the CSRF cookie), run by the session guard itself, so that the answer does not depend on where
``CsrfViewMiddleware`` stands in ``MIDDLEWARE`` nor on whether it is there at all. A
``csrf_exempt`` view opted out of Django's check: the header is then the only proof, as for an
API view called by a script.
"""

from __future__ import annotations

import functools
from http.cookies import SimpleCookie

from django.http import HttpRequest, HttpResponse

from ...sessions import WebRequest, WebResponse
from ._compat import csrf_check_passed, view_is_csrf_exempt

__all__ = ["to_response", "view_csrf_passed", "web_request"]


def view_csrf_passed(request: HttpRequest) -> bool:
    """Whether ``request`` passes Django's CSRF check for its view (never for a ``csrf_exempt``
    view, whose requests Django does not check).

    Example: ``view_csrf_passed(request)``  (True for the admin's form posted with its token)
    """
    return not view_is_csrf_exempt(request) and csrf_check_passed(request)


def web_request(request: HttpRequest, *, exempt_view: bool = False) -> WebRequest:
    """A Django request as a :class:`~cognito_guard.sessions.WebRequest`.

    Its ``framework_csrf`` is :func:`view_csrf_passed`; with ``exempt_view`` (a view that is
    ``csrf_exempt`` so that ``X-CSRF: 1`` suffices, yet takes Django's token too, as the sign-in
    routes do) Django's check itself.

    Example: ``sign_in.authenticate(web_request(request))``
    """
    check = csrf_check_passed if exempt_view else view_csrf_passed
    headers = {key.lower(): value for key, value in request.headers.items()}
    if "host" not in headers:
        # No Host header (HTTP/1.0, Django's test client): the host Django itself takes, checked
        # against ALLOWED_HOSTS, as the sign-in URLs are built on it.
        headers["host"] = request.get_host()
    return WebRequest(
        method=request.method or "GET",
        path=request.path,
        query={key: request.GET[key] for key in request.GET},
        headers=headers,
        cookies=dict(request.COOKIES),
        scheme=request.scheme or "http",
        framework_csrf=functools.partial(check, request),
    )


def to_response(answer: WebResponse) -> HttpResponse:
    """A Django response of a :class:`~cognito_guard.sessions.WebResponse`."""
    response = HttpResponse(answer.body, status=answer.status)
    del response["Content-Type"]
    for name, value in answer.headers:
        if name.lower() == "set-cookie":
            _set_cookie(response, value)
        else:
            response[name] = value
    return response


def _set_cookie(response: HttpResponse, header: str) -> None:
    # Django keeps cookies in a SimpleCookie (one Set-Cookie line each); rebuild ours in it.
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    for name, morsel in jar.items():
        response.cookies[name] = morsel

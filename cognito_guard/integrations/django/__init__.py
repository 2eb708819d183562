"""Django adapter: a middleware, view decorators and a system check.

Setup::

    INSTALLED_APPS = [..., "cognito_guard.integrations.django.CognitoGuardConfig"]  # system check
    MIDDLEWARE = [..., "cognito_guard.integrations.django.CognitoMiddleware"]
    COGNITO_GUARD = {"USER_POOL_ID": "eu-west-1_AbCdEf123", "CLIENT_ID": "4a1b...",
                     "TOKEN_USE": "access", "JWKS_URI": None}

    from cognito_guard.integrations.django import require_scope

    @require_scope("orders/read")
    def orders(request):
        return JsonResponse({"user": request.cognito_user.sub})

Settings, read once when Django builds its middleware chain (at start-up, so a configuration error
is raised then, never at the first request):

- ``COGNITO_GUARD``: a dict of the names :mod:`cognito_guard.config` documents (``USER_POOL_ID``,
  ``CLIENT_ID``, ``TOKEN_USE``, ``JWKS_URI``, ...). Without it the ``COGNITO_*`` environment
  variables are read instead.
- ``COGNITO_GUARD_VERIFIER``: a ready :class:`~cognito_guard.CognitoVerifier`, or the dotted path of
  one or of a function returning one. It replaces ``COGNITO_GUARD``; tests use it to inject a
  verifier of a local issuer.
- ``COGNITO_GUARD_REALM``: the ``realm`` of the ``WWW-Authenticate`` challenges (optional).

How a request is decided: the middleware verifies the bearer token of every request that has one
and sets ``request.cognito_user`` to its :class:`~cognito_guard.CognitoClaims`, or to None when
the request has no token or a token that was rejected. A rejection is kept on the request, not
answered: only a protected view (:func:`require_auth`, :func:`require_scope`,
:func:`require_group`) turns a missing, malformed or invalid token into its RFC 6750 answer (400,
401, 403 or 503). An unprotected view therefore works the same with a stale or broken header, as
it does without one. Sync stacks verify with ``verify``; async stacks with ``averify``, so the
event loop never blocks on a key fetch.

Users in your database (optional, off by default): with ``"cognito_guard.integrations.django"``
in ``INSTALLED_APPS`` and :class:`CognitoBackend` in ``AUTHENTICATION_BACKENDS``, the middleware
also sets ``request.user`` to the ``AUTH_USER_MODEL`` row linked to the token's pool and ``sub``
(created on the first request; see :mod:`cognito_guard.integrations.django.users`).

CSRF: the decorators authenticate by the ``Authorization`` header only, which a browser never
adds to a cross-site request by itself; an API-only project can leave ``CsrfViewMiddleware`` out or
mark its views ``csrf_exempt``.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from ...bearer import Answer, BearerGuard, Requirement
from ...claims import CognitoClaims
from ...config import verifier_from_env, verifier_from_settings
from ...errors import CognitoGuardError, ConfigurationError
from ...sessions.signin import SessionGuard
from ...verifier import CognitoVerifier

__all__ = [
    "CognitoBackend",
    "CognitoGuardConfig",
    "CognitoMiddleware",
    "CognitoRequest",
    "CognitoService",
    "CognitoUser",
    "RequestState",
    "build_guard",
    "build_verifier",
    "check_settings",
    "django_answer",
    "request_state",
    "require_auth",
    "require_group",
    "require_scope",
]

MIDDLEWARE_PATH = "cognito_guard.integrations.django.CognitoMiddleware"
_STATE = "_cognito_guard_state"

View = TypeVar("View", bound=Callable[..., Any])
GetResponse = Callable[[HttpRequest], "HttpResponseBase | Awaitable[HttpResponseBase]"]


class CognitoRequest(HttpRequest):
    """An :class:`~django.http.HttpRequest` as the middleware leaves it (for type hints only).

    Example::

        def me(request: CognitoRequest) -> JsonResponse:
            return JsonResponse({"sub": request.cognito_user.sub if request.cognito_user else None})
    """

    cognito_user: CognitoClaims | None


class CognitoUser:
    """A user object wrapping verified claims, for code that expects ``request.user``.

    It is what :class:`~cognito_guard.integrations.django_rest.CognitoAuthentication` gives Django
    REST framework as ``request.user``; there is no database row behind it.

    Example::

        user = CognitoUser(claims)
        user.is_authenticated, user.pk, user.username   # True, claims.sub, "alice"
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_service = False

    def __init__(self, claims: CognitoClaims) -> None:
        self.claims = claims

    @property
    def pk(self) -> str:
        """The token's ``sub`` (DRF's throttles key users by ``pk``)."""
        return self.claims.sub

    id = pk

    @property
    def username(self) -> str:
        """The Cognito username; the client id for a machine-to-machine token."""
        return self.claims.username or self.claims.sub

    @property
    def scopes(self) -> frozenset[str]:
        """The token's scopes."""
        return self.claims.scopes

    @property
    def groups(self) -> frozenset[str]:
        """The user's ``cognito:groups``."""
        return self.claims.groups

    def get_username(self) -> str:
        """The username, as Django's user models answer it."""
        return self.username

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"CognitoUser(sub={self.claims.sub!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CognitoUser) and other.claims.sub == self.claims.sub

    def __hash__(self) -> int:
        return hash(self.claims.sub)


class CognitoService(CognitoUser):
    """``request.user`` of a machine-to-machine token when :class:`CognitoBackend` is on.

    A client-credentials token is issued to an app client, not to a person, so no database row is
    created for it: the principal says it is a service, and ``username`` is the client id.

    Example::

        if getattr(request.user, "is_service", False):
            ...   # a backend job calling the API, request.user.username == its client id
    """

    is_service = True

    def __repr__(self) -> str:
        return f"CognitoService(client_id={self.claims.client_id!r})"


def __getattr__(name: str) -> Any:
    # CognitoBackend subclasses ModelBackend, whose module reads the user model on import; it is
    # loaded on first use so that importing this package never needs the app registry.
    if name == "CognitoBackend":
        from .backends import CognitoBackend

        return CognitoBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- settings -------------------------------------------------------------------------------------


def build_verifier() -> CognitoVerifier:
    """The verifier the Django settings describe (see the module docstring for the settings).

    Raises :class:`~cognito_guard.ConfigurationError` for missing or invalid settings.

    Example::

        verifier = build_verifier()   # COGNITO_GUARD_VERIFIER, else COGNITO_GUARD, else COGNITO_*
    """
    _check_setting_names()
    injected = getattr(settings, "COGNITO_GUARD_VERIFIER", None)
    if injected is not None:
        return _injected_verifier(injected)
    config = getattr(settings, "COGNITO_GUARD", None)
    if config is None:
        return verifier_from_env()
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            f"settings.COGNITO_GUARD must be a dict, not {type(config).__name__}"
        )
    from .settings import verifier_settings

    return verifier_from_settings(verifier_settings(config), source="COGNITO_GUARD")


_DJANGO_NAMES = ("COGNITO_GUARD", "COGNITO_GUARD_VERIFIER", "COGNITO_GUARD_REALM")


def _check_setting_names() -> None:
    # Names that, ignored, would make the routes demand less than the settings say: a near miss
    # of ours (COGNITO_GAURD), or a flat COGNITO_SCOPES/GROUPS where Django reads the dict.
    for name in dir(settings):
        if not name.startswith("COGNITO") or name in _DJANGO_NAMES:
            continue
        rest = name.removeprefix("COGNITO_")
        if rest.rstrip("S") in ("SCOPE", "GROUP"):
            raise ConfigurationError(
                f"settings.{name} is not read: Django takes the Cognito settings from one dict, "
                f"COGNITO_GUARD = {{..., {rest.rstrip('S') + 'S'!r}: ...}}"
            )
        close = difflib.get_close_matches(name, _DJANGO_NAMES, n=1, cutoff=0.85)
        if close:
            raise ConfigurationError(f"unknown setting settings.{name}; did you mean {close[0]}?")


def _injected_verifier(value: object) -> CognitoVerifier:
    from .settings import object_setting

    return object_setting(value, "settings.COGNITO_GUARD_VERIFIER", CognitoVerifier)


def build_guard() -> BearerGuard:
    """A :class:`~cognito_guard.bearer.BearerGuard` of :func:`build_verifier` and the realm."""
    realm = getattr(settings, "COGNITO_GUARD_REALM", None)
    if realm is not None and not isinstance(realm, str):
        raise ConfigurationError("settings.COGNITO_GUARD_REALM must be a string")
    # -- web sign-in (issue 11): COGNITO_GUARD["SIGN_IN"] adds cookie authentication ---------
    from .sessions import sign_in_from_settings

    sign_in = sign_in_from_settings()
    if sign_in is not None:
        return SessionGuard(build_verifier(), sign_in=sign_in, realm=realm or None)
    # -- end of web sign-in -----------------------------------------------------------------
    return BearerGuard(build_verifier(), realm=realm or None)


# -- the middleware -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestState:
    """What :class:`CognitoMiddleware` found on a request: the claims, or the rejection to answer.

    Example: ``request_state(request).error``  (None, or e.g. an ExpiredTokenError)
    """

    guard: BearerGuard
    claims: CognitoClaims | None
    error: CognitoGuardError | None
    user: Any = None  # the AUTH_USER_MODEL row (or CognitoService) when CognitoBackend is on

    @classmethod
    def _of(
        cls,
        guard: BearerGuard,
        claims: CognitoClaims | None,
        error: CognitoGuardError | None,
        user: Any,
    ) -> RequestState:
        # The same object as RequestState(guard, claims, error, user), without the frozen
        # __init__'s four object.__setattr__ calls: the middleware builds one per request.
        state = cls.__new__(cls)
        state.__dict__.update(guard=guard, claims=claims, error=error, user=user)
        return state


# -- web sign-in (issue 11): without an Authorization header, the session cookie -------------


def _authenticate(guard: BearerGuard, request: HttpRequest) -> CognitoClaims | None:
    # WSGI and ASGI both fold repeated headers into one value, which the parser then rejects.
    value = request.META.get("HTTP_AUTHORIZATION")
    if value is None and isinstance(guard, SessionGuard):
        from .sessions import authenticate

        return authenticate(guard.sign_in, request)
    return guard.authenticate(() if value is None else (value,))


async def _aauthenticate(guard: BearerGuard, request: HttpRequest) -> CognitoClaims | None:
    value = request.META.get("HTTP_AUTHORIZATION")
    if value is None and isinstance(guard, SessionGuard):
        from .sessions import aauthenticate

        return await aauthenticate(guard.sign_in, request)
    return await guard.aauthenticate(() if value is None else (value,))


# -- end of web sign-in ------------------------------------------------------------------------


class CognitoMiddleware:
    """Verifies each request's bearer token and sets ``request.cognito_user``.

    Both sync- and async-capable: on an async stack it awaits ``averify``. The verifier is built
    when Django loads its middleware, so bad settings fail the start-up.

    Example::

        MIDDLEWARE = [..., "cognito_guard.integrations.django.CognitoMiddleware"]
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.guard = build_guard()
        from .users import user_linker

        # None unless CognitoBackend is in AUTHENTICATION_BACKENDS
        self.users = user_linker(self.guard.verifier.issuers)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        claims: CognitoClaims | None = None
        error: CognitoGuardError | None = None
        try:
            claims = _authenticate(self.guard, request)
        except CognitoGuardError as exc:
            error = exc
        user = None
        if self.users is not None:
            claims, error, user = self.users.attach(request, claims, error)
        self._store(request, claims, error, user)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        claims: CognitoClaims | None = None
        error: CognitoGuardError | None = None
        try:
            claims = await _aauthenticate(self.guard, request)
        except CognitoGuardError as exc:
            error = exc
        user = None
        if self.users is not None:
            claims, error, user = await self.users.aattach(request, claims, error)
        self._store(request, claims, error, user)
        return await cast("Awaitable[HttpResponseBase]", self.get_response(request))

    def _store(
        self,
        request: HttpRequest,
        claims: CognitoClaims | None,
        error: CognitoGuardError | None,
        user: Any = None,
    ) -> None:
        # One dict update (no cast() call, no attribute machinery): this runs on every request.
        request.__dict__.update(
            {"cognito_user": claims, _STATE: RequestState._of(self.guard, claims, error, user)}
        )


def request_state(request: HttpRequest) -> RequestState:
    """What the middleware found on ``request`` (raises ImproperlyConfigured without it).

    A Django REST framework ``Request`` is looked through to the Django request it wraps, so the
    decorators also work on the methods of an ``APIView`` (``method_decorator``).
    """
    state = request.__dict__.get(_STATE)
    if state is None:
        # Not the Django request itself (or no middleware): look through a wrapper. Only here,
        # as getattr() of a missing attribute raises and catches an AttributeError each time.
        inner = getattr(request, "_request", None)
        state = None if inner is None else inner.__dict__.get(_STATE)
    if not isinstance(state, RequestState):
        raise ImproperlyConfigured(
            f"cognito_guard needs {MIDDLEWARE_PATH!r} in settings.MIDDLEWARE to protect views"
        )
    return state


# -- answers and decorators -----------------------------------------------------------------------


def django_answer(answer: Answer) -> JsonResponse:
    """A :class:`~django.http.JsonResponse` of a :class:`~cognito_guard.bearer.Answer`.

    Example::

        return django_answer(guard.answer(exc))   # status, challenge, JSON body
    """
    response = JsonResponse(answer.body, status=answer.status)
    for name, value in answer.headers:
        response[name] = value
    return response


def _denial(request: HttpRequest, requirement: Requirement, any_token: bool) -> JsonResponse | None:
    # Runs on every protected request: the usual case (the Django request itself, carrying a
    # verified token, nothing more demanded) is answered before request_state()'s look-through.
    state = request.__dict__.get(_STATE)
    if not isinstance(state, RequestState):
        state = request_state(request)
    error = state.error
    if error is None and state.claims is not None and any_token:
        return None  # a verified token, and nothing more demanded
    if error is None:
        try:
            state.guard.authorize(state.claims, requirement)
        except CognitoGuardError as exc:
            error = exc
    if error is None:
        return None
    return django_answer(state.guard.answer(error, method=request.method, path=request.path))


def _protect(requirement: Requirement, name: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        if isinstance(view, type):
            raise ConfigurationError(
                f"@{name} decorates view functions, not the class {view.__name__}: use "
                f"@method_decorator({name}, name='dispatch') on the class, or "
                f"{name}({view.__name__}.as_view()) in urls.py"
            )
        if not callable(view):
            raise ConfigurationError(f"@{name} decorates a view function, not {view!r}")
        any_token = requirement.is_empty  # then a verified token is all it takes
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                denial = _denial(request, requirement, any_token)
                if denial is not None:
                    return denial
                return await view(request, *args, **kwargs)

            return cast(View, async_view)

        @functools.wraps(view)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            denial = _denial(request, requirement, any_token)
            if denial is not None:
                return denial
            return view(request, *args, **kwargs)

        return cast(View, sync_view)

    return decorator


@overload
def require_auth(view: View) -> View: ...
@overload
def require_auth(view: None = None) -> Callable[[View], View]: ...
def require_auth(view: View | None = None) -> View | Callable[[View], View]:
    """Let only requests with a valid bearer token reach ``view`` (sync or async).

    ``@require_auth`` and ``@require_auth()`` are the same.

    Without a token the answer is 401 with a bare ``Bearer`` challenge; with a malformed header
    400 ``invalid_request``; with a rejected token 401 ``invalid_token``; 503 when the signing
    keys cannot be fetched. For class-based views use ``method_decorator(require_auth)`` on the
    handler methods (``get``, ``post``), or on ``dispatch`` of a sync view.

    Example::

        @require_auth
        def me(request):
            return JsonResponse({"sub": request.cognito_user.sub})
    """
    decorate: Callable[[View], View] = _protect(Requirement(), "require_auth")
    return decorate if view is None else decorate(view)


def require_scope(*scopes: str) -> Callable[[View], View]:
    """Like :func:`require_auth`, and the token must have every one of ``scopes`` (else 403).

    Example::

        @require_scope("orders/read")
        async def orders(request):
            return JsonResponse({"user": request.cognito_user.sub})
    """
    return _protect(Requirement.decorator_args("require_scope", scopes=scopes), "require_scope")


def require_group(*groups: str) -> Callable[[View], View]:
    """Like :func:`require_auth`, and the user must be in at least one of ``groups`` (else 403).

    Example::

        @method_decorator(require_group("admins"), name="dispatch")
        class AdminView(View): ...
    """
    return _protect(Requirement.decorator_args("require_group", groups=groups), "require_group")


# -- system check ---------------------------------------------------------------------------------


def check_settings(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """The ``manage.py check`` check: the Cognito settings build a verifier; middleware is on.

    ``cognito_guard.E001`` for missing or invalid settings, ``cognito_guard.W001`` when the
    middleware is not in ``MIDDLEWARE``.

    Example::

        from django.core.checks import run_checks
        [m.id for m in run_checks()]   # e.g. ["cognito_guard.E001"]
    """
    messages: list[Any] = []
    try:
        build_guard()
    except ConfigurationError as exc:
        messages.append(
            checks.Error(
                f"cognito_guard is not configured: {exc}",
                hint="Set settings.COGNITO_GUARD = {'USER_POOL_ID': ..., 'CLIENT_ID': ...} or "
                "the COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID environment variables.",
                id="cognito_guard.E001",
            )
        )
    if MIDDLEWARE_PATH not in (getattr(settings, "MIDDLEWARE", None) or ()):
        messages.append(
            checks.Warning(
                f"{MIDDLEWARE_PATH!r} is not in settings.MIDDLEWARE",
                hint="The cognito_guard decorators and DRF classes need it to see the token.",
                id="cognito_guard.W001",
            )
        )
    return messages


class CognitoGuardConfig(AppConfig):
    """The system checks only, without the user model: as before users in the database existed.

    ``"cognito_guard.integrations.django"`` in ``INSTALLED_APPS`` installs the full app (the
    checks, the :class:`~cognito_guard.integrations.django.models.CognitoIdentity` model and its
    migration, the admin); this dotted path keeps working for projects without a database or
    without ``django.contrib.auth``. Its ``name`` is the model-less ``checks`` module, so Django
    finds neither the model nor the migration through it.

    Example::

        INSTALLED_APPS = [..., "cognito_guard.integrations.django.CognitoGuardConfig"]
    """

    name = "cognito_guard.integrations.django.checks"
    label = "cognito_guard"
    verbose_name = "Cognito Guard"
    default = False

    def ready(self) -> None:
        from .checks import register

        checks.register(check_settings)
        register()

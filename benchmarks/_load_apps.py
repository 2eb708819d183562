"""The example apps as the load harness serves them (``benchmarks/load.py``); not for production.

Each app is the example's own (``create_app`` of examples/fastapi_app.py and
examples/flask_app.py, the views and middleware of examples/django_app) with the verifier built
the way the example builds it, ``verifier_from_env()``, plus two things a drill needs:

- ``LOAD_KEY_POLICY``: a JSON object of :class:`~cognito_guard.KeyPolicy` fields (short TTL and
  cool-down for the fault drills); absent, the defaults apply, as in the examples;
- ``LOAD_REVOCATIONS``: a JSON object of :class:`~cognito_guard.revocation.RedisRevocations`
  arguments (``url``, ``max_staleness``, ``on_unavailable``, ``resync_interval``) for the Redis
  drills. ``COGNITO_REVOCATIONS_URL`` alone cannot set the staleness bound or the mode, so the
  module builds the list itself and hands it to ``verifier_from_env(revocations=...)``; its
  warnings go to stderr, where the harness counts them;
- a ``GET /_load/stats`` route answering the server's pid and the verified-token cache's size and
  bound, read by the soak run (it reads private attributes: a benchmark may, the library's API
  does not need to grow for it).

Served by :class:`cognito_guard.testing.AppProcess` as ``_load_apps:fastapi``, ``_load_apps:flask``
or ``_load_apps:django``: the module builds only the app asked for (PEP 562 ``__getattr__``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import types
from typing import Any

from cognito_guard import CognitoVerifier, KeyPolicy
from cognito_guard.config import verifier_from_env


def build_verifier() -> CognitoVerifier:
    """The examples' verifier (COGNITO_* variables), with the drill's KeyPolicy and revocation
    list if they are set."""
    overrides: dict[str, Any] = {}
    raw = os.environ.get("LOAD_KEY_POLICY")
    if raw:
        overrides["key_policy"] = KeyPolicy(**json.loads(raw))
    raw = os.environ.get("LOAD_REVOCATIONS")
    if raw:
        from cognito_guard.revocation import RedisRevocations

        # Explicitly to stderr (not only logging's last resort): the harness counts these lines,
        # and a framework's logging set-up must not be able to swallow them.
        logger = logging.getLogger("cognito_guard")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False  # counted once, whatever handlers the root logger has
        overrides["revocations"] = RedisRevocations(**json.loads(raw))
    return verifier_from_env(**overrides)


def _stats(verifier: CognitoVerifier) -> dict[str, Any]:
    cache = verifier._cache
    return {
        "pid": os.getpid(),
        "token_cache": 0 if cache is None else cache.currsize,
        "token_cache_max": 0 if cache is None else cache.maxsize,
    }


def _fastapi() -> Any:
    from fastapi_app import create_app

    verifier = build_verifier()
    app = create_app(verifier=verifier)

    @app.get("/_load/stats")
    async def stats() -> dict[str, Any]:
        return _stats(verifier)

    return app


def _flask() -> Any:
    from flask_app import create_app

    verifier = build_verifier()
    app = create_app(verifier=verifier)
    app.add_url_rule("/_load/stats", "load_stats", lambda: _stats(verifier))
    return app


def _django() -> Any:
    import django
    import settings as example_settings  # examples/django_app/settings.py
    from django.conf import settings

    verifier = build_verifier()
    values = {name: getattr(example_settings, name) for name in dir(example_settings)}
    values = {name: value for name, value in values.items() if name.isupper()}
    values["COGNITO_GUARD_VERIFIER"] = verifier
    values["LOGGING"] = {"version": 1, "disable_existing_loggers": False}  # quiet under load
    settings.configure(**values)
    django.setup()

    import urls  # the example's routes; importable only once settings are configured
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpRequest, JsonResponse
    from django.urls import path

    def stats(request: HttpRequest) -> JsonResponse:
        return JsonResponse(_stats(verifier))

    urlconf = types.ModuleType("_load_urls")  # a module: Django caches resolvers by urlconf
    urlconf.urlpatterns = [*urls.urlpatterns, path("_load/stats", stats)]  # type: ignore[attr-defined]
    settings.ROOT_URLCONF = urlconf
    application = get_wsgi_application()
    # The example keeps its users in SQLite (CognitoBackend): make the tables, as its wsgi.py does.
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return application


_BUILDERS = {"fastapi": _fastapi, "flask": _flask, "django": _django}


def __getattr__(name: str) -> Any:
    builder = _BUILDERS.get(name)
    if builder is None:
        raise AttributeError(name)
    app = builder()
    globals()[name] = app
    return app

"""What does the guard cost per request? The same route unprotected and protected, per framework.

Every framework serves two identical handlers answering ``{"ok": true}``: ``/open`` (no guard) and
``/guarded`` (any valid token, verified by the adapter). Requests are sent to the application
objects themselves, through the WSGI or ASGI protocol in this process (no sockets, no test-client
layers), all carrying the same valid bearer token, with warm keys and the verified-token cache on,
as in production. Django's unprotected handler is built without the middleware, since the
middleware verifies any token it sees.

Routing costs both halves the same: each measured route is the first one its application tries.
Django and Starlette match routes in order, so a guarded route listed after ``/open`` would pay
for its miss too (about a microsecond in Django); every route therefore gets an application
(Django: a URLconf) of its own, built the same way. Flask's router finds static paths by
dictionary, in any order, but is given the same treatment.

The machine this runs on is often shared, so the measure is robust to other processes: each cell
is timed in CPU time of this process (``time.process_time``, which a preempted process does not
accrue, and which still counts any thread-pool work), one framework at a time with its open and
guarded batches interleaved A/B, B/A, ... (so that both halves of a pair see the same load, cache
and frequency state). The req/s columns are the best batch of each cell; the guard cost is the
median over the pairs of (guarded time / open time - 1), and the us the median of the per-pair
differences: a burst of load on the machine inflates both halves of a pair, and the median drops
the pairs it hit unevenly, where best-of-each-cell can pair a quiet open batch with a busy guarded
one. ``--clock wall`` times with ``time.perf_counter`` instead.

``Django+users`` is Django with users in the database (``CognitoBackend`` on, a SQLite file): its
guarded view reads ``request.user.pk``, so each request costs the cached ``(pool, sub)`` lookup and
the one primary-key query that loads the row (and judges ``is_active``); ``Django+claims`` is the
same stack with a view that reads only ``request.cognito_user`` (the row is loaded all the same).

Run: ``.venv/bin/python benchmarks/adapters.py [--requests N] [--rounds R] [--clock cpu|wall]
[--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from cognito_guard import CognitoVerifier
from cognito_guard.testing import LocalIssuer

Send = Callable[[str], int]


def _wsgi_sender(app: Any, authorization: str) -> Send:
    def send(path: str) -> int:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": authorization,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        status: list[str] = []
        body = app(environ, lambda s, headers, exc_info=None: status.append(s))
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
        return int(status[0].split()[0])

    return send


def _asgi_sender(app: Any, authorization: str, loop: asyncio.AbstractEventLoop) -> Send:
    async def call(path: str) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", authorization.encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        return status[0]

    return lambda path: loop.run_until_complete(call(path))


def _flask(verifier: CognitoVerifier, authorization: str) -> tuple[Send, Send]:
    from flask import Flask

    from cognito_guard.integrations.flask import CognitoGuard, require_auth

    def app_for(path: str, guarded: bool) -> Send:
        app = Flask("bench")
        CognitoGuard(app, verifier=verifier)

        def route() -> dict[str, bool]:
            return {"ok": True}

        app.get(path)(require_auth(route) if guarded else route)
        send = _wsgi_sender(app, authorization)
        return lambda: send(path)

    return app_for("/open", False), app_for("/guarded", True)


def _fastapi(
    verifier: CognitoVerifier, authorization: str, loop: asyncio.AbstractEventLoop
) -> tuple[Send, Send]:
    from fastapi import Depends, FastAPI

    from cognito_guard.integrations.starlette import CognitoGuard, cognito_user

    def app_for(path: str, guarded: bool) -> Send:
        app = FastAPI()
        CognitoGuard(app, verifier=verifier)

        async def route() -> dict[str, bool]:
            return {"ok": True}

        app.get(path, dependencies=[Depends(cognito_user)] if guarded else [])(route)
        send = _asgi_sender(app, authorization, loop)
        return lambda: send(path)

    return app_for("/open", False), app_for("/guarded", True)


def ok_view(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"ok": True})


def user_view(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"ok": request.user.pk is not None})


urlpatterns: list[Any] = []


def _django(verifier: CognitoVerifier, authorization: str, directory: str) -> dict[str, Send]:
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
    from django.core.management import call_command
    from django.test.utils import override_settings
    from django.urls import path

    from cognito_guard.integrations.django import require_auth

    settings.configure(
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1"],
        SECRET_KEY="benchmark-only",
        MIDDLEWARE=[],
        COGNITO_GUARD_VERIFIER=verifier,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "cognito_guard.integrations.django",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": f"{directory}/users.sqlite3",
                # Persistent, as in production: Django's default (0) opens one per request.
                "CONN_MAX_AGE": None,
            }
        },
        USE_TZ=True,
    )
    django.setup()
    call_command("migrate", verbosity=0)

    def sender(route: str, view: Any) -> Send:
        # A URLconf of its own (request.urlconf): the route is the first and only pattern tried.
        class Request(WSGIRequest):
            urlconf = type("URLconf", (), {"urlpatterns": [path(route, view)]})

        handler = WSGIHandler()
        handler.request_class = Request
        send = _wsgi_sender(handler, authorization)
        return lambda: send("/" + route)

    middleware = ["cognito_guard.integrations.django.CognitoMiddleware"]
    backends = ["cognito_guard.integrations.django.CognitoBackend"]
    routes = {"open": sender("open", ok_view)}
    with override_settings(MIDDLEWARE=middleware):
        routes["guarded"] = sender("guarded", require_auth(ok_view))
    with override_settings(MIDDLEWARE=middleware, AUTHENTICATION_BACKENDS=backends):
        routes["users"] = sender("user", require_auth(user_view))
        routes["claims"] = sender("guarded", require_auth(ok_view))
    return routes


def _per_request(send: Callable[[], int], requests: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(requests):
        if send() != 200:
            raise SystemExit(f"unexpected status {send()}")
    return (clock() - start) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per batch")
    parser.add_argument("--rounds", type=int, default=40, help="open/guarded batch pairs")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--only", nargs="*", default=(), help="frameworks to run (default: all)")
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    issuer = LocalIssuer("eu-west-1_BenchPool1")
    loop = asyncio.new_event_loop()
    with issuer.serve() as server, tempfile.TemporaryDirectory() as directory:
        verifier = issuer.verifier(jwks_uri=server.jwks_uri)
        authorization = "Bearer " + issuer.access_token(scopes=["openid"])
        django_routes = _django(verifier, authorization, directory)
        apps = {
            "Django": (django_routes["open"], django_routes["guarded"]),
            # Against the same open floor: the mapping's cost on top of the plain Django guard.
            "Django+users": (django_routes["open"], django_routes["users"]),
            "Django+claims": (django_routes["open"], django_routes["claims"]),
            "Flask": _flask(verifier, authorization),
            "FastAPI": _fastapi(verifier, authorization, loop),
        }
        if args.only:
            apps = {name: routes for name, routes in apps.items() if name in args.only}
        for open_route, guarded_route in apps.values():  # warm: keys fetched, token cached
            for _ in range(200):
                open_route(), guarded_route()
        pairs: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
        for name, (open_route, guarded_route) in apps.items():
            for round_ in range(args.rounds):
                if round_ % 2 == 0:
                    plain = _per_request(open_route, args.requests, clock)
                    guarded = _per_request(guarded_route, args.requests, clock)
                else:
                    guarded = _per_request(guarded_route, args.requests, clock)
                    plain = _per_request(open_route, args.requests, clock)
                pairs[name].append((plain, guarded))
        fetches = server.request_count()
    loop.close()

    print(
        f"{args.rounds} interleaved pairs of {args.requests}-request batches per framework, "
        f"{args.clock} time, in-process\n"
    )
    print(f"{'framework':<14} {'open req/s':>11} {'guarded req/s':>14} {'guard cost':>11}")
    for name, cells in pairs.items():
        open_rate = 1 / min(plain for plain, _ in cells)
        guarded_rate = 1 / min(guarded for _, guarded in cells)
        cost = statistics.median(guarded / plain - 1 for plain, guarded in cells)
        micros = statistics.median(guarded - plain for plain, guarded in cells) * 1e6
        print(
            f"{name:<14} {open_rate:>11.0f} {guarded_rate:>14.0f} {cost:>11.1%}  ({micros:.1f} us)"
        )
    print(
        "\nreq/s: best batch; guard cost: median over the pairs of the extra time of a guarded "
        "request relative to the open one (and in us)"
    )
    print(f"JWKS requests at the server during the run: {fetches}")


if __name__ == "__main__":
    main()

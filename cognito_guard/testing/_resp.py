"""One command to one Redis server over a socket of its own (RESP2): what the test servers need to
start, check and fault themselves, without redis-py (only ``cognito_guard._redis`` uses it)."""

from __future__ import annotations

import socket
import ssl
from typing import IO, Any

__all__ = ["command", "connect"]


def connect(port: int, tls: ssl.SSLContext | None, timeout: float) -> socket.socket:
    """A socket to ``127.0.0.1:port`` (wrapped in TLS when ``tls`` is given)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname="127.0.0.1")
    except BaseException:
        sock.close()
        raise


def _encode(args: tuple[Any, ...]) -> bytes:
    if args and isinstance(args[0], str):  # "CLUSTER MYID": a command of two words
        args = (*args[0].split(), *args[1:])
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _reply(stream: IO[bytes]) -> Any:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("the server closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(f"the server answered: {rest.decode(errors='replace')}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else stream.read(size + 2)[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_reply(stream) for _ in range(size)]
    raise ConnectionError(f"not a RESP2 reply: {line[:40]!r}")


def command(
    port: int,
    *args: Any,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
    timeout: float = 5.0,
) -> Any:
    """Send one command (after ``AUTH password``, if given) and return its reply: bytes for a
    string, an int, a list, or None; ``RuntimeError`` for an error reply, ``OSError`` when
    the server cannot be reached."""
    with connect(port, tls, timeout) as sock, sock.makefile("rb") as stream:
        if password is not None:
            sock.sendall(_encode(("AUTH", password)))
            _reply(stream)
        sock.sendall(_encode(args))
        return _reply(stream)

"""The one place that knows how to connect to Redis (or Valkey, ElastiCache, MemoryDB).

Every Redis user of cognito_guard (the revocation list, the shared token cache, the session store)
goes through :class:`RedisConnection`, so the rules live once:

- a URL must be ``redis://``, ``rediss://`` (TLS) or ``unix://``; anything else is a
  :class:`~cognito_guard.ConfigurationError` where it is written;
- credentials in the URL (``redis://user:password@host``, ``?ssl_password=...``) are used, but
  never shown: the connection's ``repr``, its :attr:`~RedisConnection.url` and :func:`describe`
  of an error are redacted (:func:`redact_url` says what is hidden);
- connect and socket timeouts are always set, so an unreachable server is an error after a
  bounded wait, never a hang;
- ``redis`` (redis-py) is imported only when a connection is made from a URL; without it the
  error says which extra to install;
- sync code uses one ``redis.Redis``; async code gets one ``redis.asyncio.Redis`` per event loop
  (an asyncio connection belongs to the loop that opened it; Flask and asgiref run a loop per
  request).

Example::

    conn = RedisConnection("rediss://app:secret@cache.example.com:6380/0")
    conn.sync.ping()
    await conn.for_loop().ping()
    repr(conn)    # RedisConnection('rediss://app:***@cache.example.com:6380/0')
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import unicodedata
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from .errors import ConfigurationError

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = [
    "COMPARE_AND_DELETE",
    "SCHEMES",
    "RedisConnection",
    "check_url",
    "describe",
    "redact_url",
    "url_secrets",
]

SCHEMES = ("redis", "rediss", "unix")
_INSTALL_HINT = "install it with: pip install 'cognito-guard[redis]'"

COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""Lua: delete ``KEYS[1]`` only if it still holds ``ARGV[1]``.

Releases a ``SET NX PX`` lock only by its owner (a lease that ran out may have passed to another
process), and drops a cache entry only if it is still the very value that was rejected.
"""


def check_url(url: object, what: str = "the Redis URL") -> str:
    """Return ``url`` if it is a ``redis://``, ``rediss://`` or ``unix://`` URL, else raise.

    The error names the scheme found, never the URL itself (it may hold a password).
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{what} must be a non-empty string")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a non-numeric port
    except ValueError:
        raise ConfigurationError(f"{what} is not a valid URL") from None
    if parts.scheme not in SCHEMES:
        # "localhost:6379" parses as the scheme "localhost": without "://" there is none. Only a
        # bare host[:port][/db] is repeated in the hint: it cannot hold a password.
        found = f"'{parts.scheme}://'" if parts.scheme and "://" in url else "no scheme"
        if re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?(/\d{1,5})?", url):
            found += f"; did you mean 'redis://{url}'?"
        raise ConfigurationError(
            f"{what} must start with redis://, rediss:// (TLS) or unix:// (found {found})"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigurationError(f"{what} names no socket path (unix:///path/to/redis.sock)")
    elif not parts.hostname:
        raise ConfigurationError(f"{what} names no host (redis://HOST:6379/0)")
    return url


# A query parameter whose name (percent-decoded, case-folded, letters and digits only) contains
# one of these holds a secret: password, ssl_password, ssl_keyfile_password, passwd, pwd, token,
# api_key, client_secret, credentials, auth... Hiding a harmless value (ssl_keyfile, a path) costs
# nothing; showing a secret one is the failure to avoid.
_SECRET_WORDS = ("pass", "pw", "secret", "token", "key", "cred", "auth", "private")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_MASK = "***"


def _decoded(text: str) -> str:
    """``text`` percent-decoded until it no longer changes (a few rounds at most)."""
    for _ in range(4):
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    return text


def _secret_name(name: str) -> bool:
    folded = unicodedata.normalize("NFKC", _decoded(name)).casefold()
    letters = "".join(c for c in folded if c.isalnum())
    return any(word in letters for word in _SECRET_WORDS)


def _variants(secret: str) -> list[str]:
    """``secret`` as written and as a server would read it (percent-decoded)."""
    return [v for v in dict.fromkeys((secret, unquote(secret), _decoded(secret))) if v]


def _printable(text: str) -> str:
    """Control characters percent-encoded: a redacted URL goes into one log line."""
    return "".join(c if c.isprintable() else quote(c, safe="") for c in text)


def _redact(url: str) -> tuple[str, list[str]]:
    """(``url`` with its credentials masked, the masked values in every spelling)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an invalid URL)", []
    secrets: list[str] = []
    if "@" in parts.path + parts.query + parts.fragment:
        # A raw "/", "?" or "#" in a password ends the host early and pushes the rest of the
        # password into the path, query or fragment. Everything up to the last "@" counts as
        # credentials (a host cannot hold "@"): the host, path and options after it stay shown.
        head, _, tail = url.rpartition("@")
        start = head.find("//") + 2 if "//" in head else len(parts.scheme) + 1
        shown, after = _redact(f"{parts.scheme}://{_MASK}@{tail}")
        before = _redact(head)[1]  # a password= option before the last "@", for describe()
        return shown, [*_variants(head[start:]), *before, *(v for v in after if v != _MASK)]
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        secrets += _variants(password if colon else userinfo)
        # The username is an ACL user name, shown so an operator can tell connections apart;
        # alone (no ":") it is the password of a server without ACL users, and is hidden.
        if colon and not any(v in user or v in unquote(user) for v in _variants(password)):
            netloc = f"{user}:{_MASK}@{hostport}"
        elif colon:
            netloc = f"{_MASK}:{_MASK}@{hostport}"
        else:
            netloc = f"{_MASK}@{hostport}"
    pairs = []
    # redis-py splits on "&" only; ";" is a separator here too, so "db=0;password=x" is hidden.
    for pair, separator in re.findall(r"([^&;]*)([&;]?)", parts.query):
        if not pair:
            pairs.append(separator)
            continue
        name, eq, value = pair.partition("=")
        if not _secret_name(name):
            pairs.append(pair + separator)
        elif eq and _PLAIN_NAME.fullmatch(_decoded(name)):
            secrets += _variants(value)
            pairs.append(f"{name}={_MASK}{separator}")
        else:  # an odd name ("password%3Dx", no "=") may hold the secret itself
            secrets += [*_variants(pair), *_variants(value)]
            pairs.append(_MASK + separator)
    query = "".join(pairs)
    # redis-py ignores the fragment; it is hidden rather than judged.
    if parts.fragment:
        secrets += _variants(parts.fragment)
    # Put together by hand: urlunsplit writes "unix:///path" as "unix:/path".
    shown = f"{parts.scheme}:" if parts.scheme else ""
    if netloc or re.match(r"[^/?#]*//", url.lstrip()):
        shown += f"//{netloc}"
    shown += parts.path
    shown += f"?{query}" if query else ""
    shown += f"#{_MASK}" if parts.fragment else ""
    return _printable(shown), secrets


def redact_url(url: str) -> str:
    """``url`` with its credentials replaced by ``***``, safe to log and print.

    Hidden: the password of the userinfo (a userinfo without ``:`` entirely: it is then a
    password); every query value whose name, percent-decoded and in any case, suggests a secret
    (``password``, ``ssl_password``, ``ssl_keyfile_password``, ``token``, ``api_key``,
    ``secret``, ``credentials``, ``auth``...); the fragment; and everything up to the last
    ``@`` when an ``@`` appears after the host (a password holding a raw ``/``, ``?`` or ``#``).
    Shown: the scheme, the username, the host and port, the path (db or socket) and the other
    query options.

    Example: ``redact_url("rediss://app:pw@cache:6380/0?ssl_password=x")`` is
    ``"rediss://app:***@cache:6380/0?ssl_password=***"``.
    """
    return _redact(url)[0]


def url_secrets(url: str) -> tuple[str, ...]:
    """The values :func:`redact_url` hides, as written and percent-decoded, longest first.

    Empty when the URL carries no credentials. Give them to :func:`describe` to strip them from
    an error's text.
    """
    return tuple(sorted(set(_redact(url)[1]), key=len, reverse=True))


def describe(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A one-line description of a Redis error for logs, with ``secrets`` removed."""
    text = str(exc)
    # Longest first: a secret that holds a shorter one is removed whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            f"using Redis needs the 'redis' package (redis-py); {_INSTALL_HINT}"
        ) from None
    return redis


def connection_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "Redis is unreachable or failing" (not "your data is bad")."""
    redis = _import_redis()
    return (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)


class RedisConnection:
    """A Redis endpoint: a sync client, and an asyncio client per event loop, from one URL.

    Give ``url`` (the clients are made here, with timeouts), or ready clients: ``client`` (a
    ``redis.Redis``) and optionally ``async_client`` (a ``redis.asyncio.Redis``; without it async
    callers run the sync client in a thread). Clients you pass are yours to configure and close.

    Example::

        conn = RedisConnection("redis://127.0.0.1:6379/0", timeout=2.0)
        conn.sync.set("k", b"v")

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` or
            ``unix:///path.sock``; checked here.
        client, async_client: clients of your own instead of ``url``.
        timeout: connect and socket timeout in seconds for the clients made from ``url``.
        retries: how often a failed command is retried (short jittered back-off) by the clients
            made from ``url``; None keeps redis-py's default (10, backing off up to 1 s each).
            An owner with its own back-off (a sync thread) wants few, to notice an outage fast.
        what: how errors name this connection's owner (``"RedisRevocations"``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        async_client: redis.asyncio.Redis | None = None,
        timeout: float = 2.0,
        retries: int | None = None,
        what: str = "Redis",
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError(f"{what} needs a Redis URL or client=..., not both")
        if async_client is not None and client is None:
            raise ConfigurationError(f"{what}: async_client=... needs client=... as well")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigurationError(f"{what}: timeout must be a positive number of seconds")
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
        ):
            raise ConfigurationError(f"{what}: retries must be an int >= 0")
        self.what = what
        self.timeout = float(timeout)
        self.retries = retries
        self._url = check_url(url, f"{what}'s Redis URL") if url is not None else None
        self._owned = client is None
        self._sync: redis.Redis | None = client
        self._given_async = async_client
        # Weak keys are a safety net only: an entry references its loop; _forget removes it.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient]
        self._async = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        if self._url is not None:
            _import_redis()  # fail at construction, not at the first request

    @property
    def url(self) -> str:
        """The URL with credentials redacted (safe to log), or a description of the client."""
        if self._url is not None:
            return redact_url(self._url)
        return "(a client passed in)"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in text: the URL's credentials, in every spelling."""
        if self._url is None:
            return ()
        return url_secrets(self._url)

    def __repr__(self) -> str:
        return f"RedisConnection({self.url!r})"

    def _options(self, *, for_asyncio: bool = False) -> dict[str, Any]:
        options: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "health_check_interval": 30,
        }
        if self.retries is not None:
            from redis.asyncio.retry import Retry as AsyncRetry
            from redis.backoff import ExponentialWithJitterBackoff
            from redis.retry import Retry

            backoff = ExponentialWithJitterBackoff(base=0.01, cap=0.2)
            # Each client takes the retry policy of its own kind: the asyncio one sleeps with
            # asyncio.sleep, where the sync one would block the event loop.
            if for_asyncio:
                options["retry"] = AsyncRetry(backoff, self.retries)
            else:
                options["retry"] = Retry(backoff, self.retries)
        return options

    @property
    def sync(self) -> redis.Redis:
        """The sync client (made on first use from the URL)."""
        client = self._sync
        if client is None:
            with self._lock:
                if self._sync is None:
                    redis = _import_redis()
                    self._sync = redis.Redis.from_url(self._url, **self._options())
                client = self._sync
        assert client is not None  # noqa: S101 - set above
        return client

    @property
    def has_async(self) -> bool:
        """True when :meth:`for_loop` can give an asyncio client (a URL, or one was passed)."""
        return self._url is not None or self._given_async is not None

    def for_loop(self) -> redis.asyncio.Redis:
        """The asyncio client of the running event loop (made on first use per loop)."""
        if self._given_async is not None:
            return self._given_async
        if self._url is None:
            raise ConfigurationError(f"{self.what} was given a sync client only")
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async.get(loop)
            if entry is None:
                redis = _import_redis()
                client = redis.asyncio.Redis.from_url(self._url, **self._options(for_asyncio=True))
                entry = _LoopClient(client, self._forget)
                self._async[loop] = entry
        return entry.client

    def _forget(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._async.pop(loop, None)

    def after_fork(self) -> None:
        """Call in a forked child: a fresh lock (another thread may have held it at the fork),
        and no asyncio clients (they belong to the parent's loops). redis-py's sync client
        notices the new process itself and reconnects."""
        self._lock = threading.Lock()
        self._async = weakref.WeakKeyDictionary()

    def close(self) -> None:
        """Close the sync client this connection made (not one passed in).

        An asyncio client can only be closed on its own loop: see :meth:`aclose`.
        """
        if not self._owned:
            return
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the running loop's asyncio client and the sync client this connection made."""
        if self._owned:
            with self._lock:
                entry = self._async.pop(asyncio.get_running_loop(), None)
            if entry is not None:
                await entry.closer.aclose()
        self.close()


async def _close_at_loop_end(
    client: redis.asyncio.Redis, forget: Callable[[asyncio.AbstractEventLoop], None]
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        # The entry references its loop through the client's connections: drop it, or the loop
        # (and everything it holds) would live as long as the RedisConnection.
        forget(asyncio.get_running_loop())
        with contextlib.suppress(Exception):  # the connection may be broken already
            await client.aclose()


class _LoopClient:
    """An asyncio client, closed on its own loop when that loop shuts down.

    The client's connections belong to its loop and can only be closed there. An async generator
    that closes it is started here, which registers it with the running loop's async-generator
    hooks; ``loop.shutdown_asyncgens()``, which ``asyncio.run``, asgiref (a loop per request in
    Flask and Django) and uvicorn run before closing a loop, then finalises it on that loop. So a
    loop-per-request application does not leak a connection per request.
    """

    __slots__ = ("client", "closer")

    def __init__(
        self, client: redis.asyncio.Redis, forget: Callable[[asyncio.AbstractEventLoop], None]
    ) -> None:
        self.client = client
        self.closer = _close_at_loop_end(client, forget)
        # One synchronous step to the generator's first yield: that is its first iteration.
        with contextlib.suppress(StopIteration):
            self.closer.__anext__().send(None)

"""The one place that knows Redis (or Valkey, ElastiCache, MemoryDB), single or clustered.

Every Redis user of cognito_guard (the revocation list, the shared M2M token cache, the session
store) goes through this package, so the rules live once:

- :class:`RedisConnection` connects (``connection.py``), to a single server or, found out at the
  first connection (``cluster.py``), a Redis Cluster; :func:`unavailable_errors` says which
  exceptions mean "Redis did not do it" (each feature turns them into its own unavailable
  answer), and :class:`Outage` tells the first failure and the first success after it apart;
- ``forks.py`` resets what holds locks or threads in a forked child (:func:`~.forks.at_fork`);
- :class:`RedisLock` is the lock, ``SET NX PX`` released by compare-and-delete (``lock.py``);
- :func:`key_name` names every key, with a hash tag where a script or transaction touches several
  keys of a cluster at once (``keys.py``);
- ``pubsub.py`` subscribes to a channel (sharded on a cluster);
- ``urls.py`` checks URLs and shows them without their credentials.

Connections:

- a URL must be ``redis://``, ``rediss://`` (TLS) or ``unix://``; anything else is a
  :class:`~cognito_guard.ConfigurationError` where it is written;
- credentials in the URL (``redis://user:password@host``, ``?ssl_password=...``) are used, but
  never shown: the connection's ``repr``, its :attr:`~RedisConnection.url` and :func:`describe`
  of an error are redacted (:func:`redact_url` says what is hidden);
- connect and socket timeouts are always set, so an unreachable server is an error after a
  bounded wait, never a hang; on a cluster, ``MOVED``/``ASK``, ``TRYAGAIN``, ``CLUSTERDOWN`` and
  connection errors are redis-py's cluster client's to handle (it refreshes its slot map and
  retries, for about the timeout) before they count as "unavailable";
- TLS options go in the URL's query (``rediss://host:6380/0?ssl_ca_certs=/etc/ca.pem``), and a
  ``credential_provider`` (ElastiCache IAM authentication) replaces the URL's credentials;
- ``redis`` (redis-py) is imported only when a connection is made from a URL; without it the
  error says which extra to install;
- sync code uses one ``redis.Redis``; async code gets one ``redis.asyncio.Redis`` per event loop
  (an asyncio connection belongs to the loop that opened it; Flask and asgiref run a loop per
  request).

Example::

    conn = RedisConnection("rediss://app:secret@cache.example.com:6380/0")
    conn.sync.ping()
    await (await conn.for_loop()).ping()
    repr(conn)    # RedisConnection('rediss://app:***@cache.example.com:6380/0')
"""

from __future__ import annotations

from .connection import Outage, RedisConnection, unavailable_errors
from .keys import check_prefix, hash_tag, key_name
from .lock import (
    COMPARE_AND_DELETE,
    RedisLock,
    acompare_and_delete,
    compare_and_delete,
    milliseconds,
)
from .urls import SCHEMES, check_url, describe, redact_url, url_secrets

__all__ = [
    "COMPARE_AND_DELETE",
    "SCHEMES",
    "Outage",
    "RedisConnection",
    "RedisLock",
    "acompare_and_delete",
    "check_prefix",
    "check_url",
    "compare_and_delete",
    "describe",
    "hash_tag",
    "key_name",
    "milliseconds",
    "redact_url",
    "unavailable_errors",
    "url_secrets",
]

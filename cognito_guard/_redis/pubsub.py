"""One channel's messages: classic pub/sub on a single server, sharded pub/sub on a cluster.

On a Redis Cluster a classic ``PUBLISH`` is broadcast to every node over the cluster bus, and
redis-py's cluster client cannot route it inside a pipeline (it has no key). A sharded channel
(``SPUBLISH``/``SSUBSCRIBE``, Redis and Valkey 7+) lives in the hash slot of its name, like a
key: named after a key of the feature it belongs to, it is published from the same script as
the write, and follows its slot through a failover or a resharding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connection import RedisConnection

__all__ = ["Subscription"]


class Subscription:
    """The messages of ``channel``, subscribed on ``conn`` (``SSUBSCRIBE`` on a cluster,
    ``SUBSCRIBE`` on a single server). Errors are redis-py's: see ``unavailable_errors()``.

    Example::

        subscription = Subscription(conn, "cognito_guard:{revocations}")
        try:
            data = subscription.get(timeout=0.05)    # a message's data, or None
        finally:
            subscription.close()
    """

    __slots__ = ("_get", "_pubsub", "sharded")

    def __init__(self, conn: RedisConnection, channel: str) -> None:
        client = conn.sync  # connects, and tells the kind of server
        self.sharded = bool(conn.cluster)
        # Through a typed name: redis-py types pubsub() from 8.2 on, older releases not.
        open_pubsub: Callable[..., Any] = client.pubsub
        self._pubsub = open_pubsub(ignore_subscribe_messages=True)
        try:
            if self.sharded:
                self._pubsub.ssubscribe(channel)
                self._get: Callable[..., Any] = self._pubsub.get_sharded_message
            else:
                self._pubsub.subscribe(channel)
                self._get = self._pubsub.get_message
        except BaseException:
            self.close()
            raise

    def get(self, timeout: float) -> Any:
        """The data of the next message, waiting up to ``timeout`` seconds; None when there is
        none (subscription confirmations are skipped)."""
        message = self._get(ignore_subscribe_messages=True, timeout=timeout)
        if not isinstance(message, dict) or message.get("type") not in _MESSAGES:
            return None
        return message.get("data")

    def close(self) -> None:
        """Unsubscribe and close the connection (a broken one may fail to close: ignored)."""
        with contextlib.suppress(Exception):  # closing a broken connection may fail
            self._pubsub.close()


_MESSAGES = ("message", "smessage", b"message", b"smessage")

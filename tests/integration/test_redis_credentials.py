"""credential_provider=: the password is asked for at every new connection, as ElastiCache IAM
authentication needs (a short-lived token as the password). Here the server's ACL password is
changed with ACL SETUSER, and new connections authenticate with the new one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
from cryptography.fernet import Fernet
from redis.credentials import CredentialProvider

from cognito_guard import ConfigurationError, RevocationsUnavailableError
from cognito_guard._redis import RedisConnection
from cognito_guard.m2m_cache import RedisTokenCache
from cognito_guard.revocation import RedisRevocations
from cognito_guard.sessions import RedisSessionStore, SessionStoreUnavailable
from cognito_guard.testing import RedisServer
from cognito_guard.testing.pytest_plugin import redis_server_or_skip

from .._polling import wait_for

KEY = Fernet.generate_key()


class RotatingPassword(CredentialProvider):
    """Gives the current password of ``user``, as an IAM token provider gives a fresh token."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self.calls = 0

    def get_credentials(self) -> tuple[str, str]:
        self.calls += 1
        return self.user, self.password


@pytest.fixture
def server() -> Iterator[RedisServer]:
    server = redis_server_or_skip(acl_user=("app", "first-pw"))
    yield server
    server.close()


def rotate(server: RedisServer, password: str) -> None:
    """Change app's password and drop its connections, as ElastiCache does at the latest
    after 12 hours: every client must connect again, with a fresh token."""
    admin = redis.Redis.from_url(server.url)  # the default user, without a password
    try:
        admin.execute_command("ACL", "SETUSER", "app", "resetpass", f">{password}")
        admin.execute_command("CLIENT", "KILL", "USER", "app")
    finally:
        admin.close()


def test_new_connections_authenticate_with_the_rotated_password(server: RedisServer) -> None:
    provider = RotatingPassword("app", "first-pw")
    url = f"redis://127.0.0.1:{server.port}/0"  # no credentials in the URL
    store = RedisSessionStore(url, encryption_key=KEY, credential_provider=provider, timeout=1)
    revocations = RedisRevocations(
        url, credential_provider=provider, resync_interval=0.1, max_staleness=30
    )
    try:
        store.put("s-1", {"n": 1}, 60)
        assert store.connection.sync.acl_whoami() == "app"
        assert revocations.wait_synced()
        calls = provider.calls

        rotate(server, "second-pw")  # the provider still gives the old password
        with pytest.raises(SessionStoreUnavailable, match=r"WRONGPASS|invalid username"):
            store.get("s-1")
        with pytest.raises(RevocationsUnavailableError):
            revocations.revoke_token("j-refused")

        provider.password = "second-pw"  # the provider's next token
        assert store.get("s-1") == {"n": 1}  # a new connection, with the new password
        revocations.revoke_token("j-accepted")
        syncs = revocations.syncs
        # The sync thread reconnected with it too.
        wait_for(lambda: revocations.syncs > syncs, 15, "a sync with the new password")
        assert provider.calls > calls
    finally:
        store.close()
        revocations.close()


def test_the_asyncio_clients_ask_the_provider_too(server: RedisServer) -> None:
    provider = RotatingPassword("app", "first-pw")
    cache = RedisTokenCache(
        f"redis://127.0.0.1:{server.port}/0", encryption_key=KEY, credential_provider=provider
    )

    async def whoami() -> object:
        client = await cache.connection.for_loop()
        name = await client.acl_whoami()
        await cache.aclose()
        return name

    assert asyncio.run(whoami()) == "app"
    rotate(server, "second-pw")
    provider.password = "second-pw"
    assert asyncio.run(whoami()) == "app"


def test_credentials_come_from_the_url_or_the_provider_not_both() -> None:
    provider = RotatingPassword("app", "pw")
    for url in ("redis://app:pw@127.0.0.1:6379/0", "redis://:pw@127.0.0.1:6379/0"):
        with pytest.raises(ConfigurationError, match="remove them from the URL"):
            RedisConnection(url, credential_provider=provider)
    client = redis.Redis()
    try:
        with pytest.raises(ConfigurationError, match="client you pass"):
            RedisConnection(client=client, credential_provider=provider)
    finally:
        client.close()

"""Bearer credentials at rest are encrypted: the one rule every store of tokens in Redis follows.

The shared client-credentials cache and the web session store keep tokens in Redis, where anyone
who can read the database could replay them. So they are Fernet-encrypted with a key every
process of the deployment shares; storing them in the clear needs an explicit
``encryption_key=None, allow_plaintext=True``.

Example::

    fernet = fernet_for(os.environ["CG_TOKEN_KEY"], allow_plaintext=False, what="RedisTokenCache")
    sealed = fernet.encrypt(b"...")
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = ["MAKE_A_KEY", "EncryptionKey", "fernet_for"]

MAKE_A_KEY = (
    'make one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)

EncryptionKey = str | bytes | Sequence[str | bytes]
"""A Fernet key, or several: the first encrypts, every one decrypts (rotating keys)."""


def fernet_for(
    key: EncryptionKey | None, *, allow_plaintext: bool, what: str
) -> MultiFernet | None:
    """The cipher of ``key``; None only for ``key=None`` with ``allow_plaintext=True``.

    Raises :class:`~cognito_guard.ConfigurationError` for no key (saying how to make one), for a
    key together with ``allow_plaintext``, and for a value that is not a Fernet key (never
    echoing it: it is, or is close to, a secret).
    """
    if key is None:
        if allow_plaintext is True:
            return None
        raise ConfigurationError(
            f"{what} stores tokens, which are bearer credentials, encrypted: pass "
            f"encryption_key=... ({MAKE_A_KEY}; give every process the same key), or "
            "encryption_key=None, allow_plaintext=True to store them in the clear"
        )
    if allow_plaintext:
        raise ConfigurationError(
            f"{what}: pass encryption_key=... or allow_plaintext=True, not both"
        )
    from cryptography.fernet import Fernet, MultiFernet

    keys = [key] if isinstance(key, (str, bytes)) else key
    try:
        return MultiFernet([Fernet(k) for k in keys])  # MultiFernet refuses an empty list
    except (ValueError, TypeError, binascii.Error):
        raise ConfigurationError(
            f"{what}: encryption_key is not a Fernet key (32 url-safe base64-encoded bytes); "
            f"{MAKE_A_KEY}"
        ) from None

"""Bearer credentials at rest are encrypted: the one rule every store of tokens in Redis follows.

The shared client-credentials cache and the web session store keep tokens in Redis, where anyone
who can read the database could replay them. So they are Fernet-encrypted with a key every
process of the deployment shares; storing them in the clear needs an explicit
``encryption_key=None, allow_plaintext=True``.

Encryption alone does not say *where* a value belongs: anyone who can write to Redis (no key
needed) could copy a sealed value onto another entry's key, say a victim's session onto the key
of their own session id. So every value is sealed together with the identity of its entry
(:func:`seal`), and :func:`unseal` refuses a value opened under another identity.

Example::

    fernet = fernet_for(os.environ["CG_TOKEN_KEY"], allow_plaintext=False, what="RedisTokenCache")
    sealed = seal(fernet, "session:3f2a...", {"record": {...}})
    opened = unseal(fernet, "session:3f2a...", sealed)   # opened.value["record"]
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = ["MAKE_A_KEY", "EncryptionKey", "Opened", "fernet_for", "seal", "unseal"]

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


_VERSION = 1

Problem = Literal["unreadable", "corrupt", "foreign"]
"""Why a stored value cannot be used: it does not decrypt with these keys (``unreadable``), it
decrypts to something that is not a sealed value (``corrupt``), or it was sealed for another
entry (``foreign``: copied from another key)."""


@dataclass(frozen=True)
class Opened:
    """What :func:`unseal` found: the sealed fields, or ``problem`` (then ``value`` is None)."""

    value: dict[str, Any] | None
    problem: Problem | None = None


def seal(fernet: MultiFernet | None, identity: str, fields: Mapping[str, Any]) -> bytes:
    """``fields`` bound to ``identity`` (the entry's key material), encrypted unless ``fernet``
    is None: JSON ``{"v": 1, "key": identity, **fields}``.

    ``identity`` goes inside the ciphertext, so only :func:`unseal` with the same identity opens
    it. Pass what names the entry (its kind and the digest of its id), not the secret id itself.
    """
    data = json.dumps({**fields, "v": _VERSION, "key": identity}, separators=(",", ":"))
    return fernet.encrypt(data.encode()) if fernet is not None else data.encode()


def unseal(fernet: MultiFernet | None, identity: str, raw: bytes) -> Opened:
    """The fields :func:`seal` bound to ``identity``; never raises for a bad value.

    Without ``fernet`` (plaintext) the binding catches mistakes, not attackers: whoever can
    write the value can write any identity into it.
    """
    data = raw
    if fernet is not None:
        from cryptography.fernet import InvalidToken

        try:
            data = fernet.decrypt(raw)
        except InvalidToken:
            return Opened(None, "unreadable")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return Opened(None, "corrupt")
    if not isinstance(value, dict) or value.get("v") != _VERSION:
        return Opened(None, "corrupt")
    if value.get("key") != identity:
        return Opened(None, "foreign")
    return Opened(value)

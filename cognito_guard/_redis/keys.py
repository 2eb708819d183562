"""How every Redis key of cognito_guard is named."""

from __future__ import annotations

__all__ = ["key_name"]


def key_name(prefix: str, feature: str, *parts: str, tag: bool = False) -> str:
    """The Redis key of one of ``feature``'s records: ``{prefix}{feature}:{part}:{part}...``.

    With ``tag`` the feature is written as a hash tag (``{prefix}{{feature}}:...``), so that
    Redis Cluster keeps every key of the feature in one slot (a script or transaction may then
    touch several of them).

    Example: ``key_name("cognito_guard:", "m2m", digest, "lock")`` is
    ``"cognito_guard:m2m:<digest>:lock"``.
    """
    head = f"{{{feature}}}" if tag else feature
    return ":".join((prefix + head, *parts))

"""How every Redis key of cognito_guard is named, and which hash slot of a cluster it lands in.

Redis Cluster hashes a key's *hash tag* (the text between its first ``{`` and the next ``}``,
when that is not empty) instead of the whole key: keys with the same tag share a slot, so one
script or transaction may touch them all. Keys that are only ever used one at a time carry no
tag and spread over the cluster's slots.
"""

from __future__ import annotations

from ..errors import ConfigurationError

__all__ = ["check_prefix", "hash_tag", "key_name"]


def key_name(prefix: str, feature: str, *parts: str, tag: bool = False) -> str:
    """The Redis key of one of ``feature``'s records: ``{prefix}{feature}:{part}:{part}...``.

    With ``tag`` the feature is written as a hash tag (``{prefix}{{feature}}:...``), so that
    Redis Cluster keeps every key of the feature in one slot (a script or transaction may then
    touch several of them). A ``prefix`` with a hash tag of its own keeps that tag instead.

    Example: ``key_name("cognito_guard:", "m2m", digest, "lock")`` is
    ``"cognito_guard:m2m:<digest>:lock"``; ``key_name("cognito_guard:", "revocations",
    tag=True)`` is ``"cognito_guard:{revocations}"``.
    """
    head = f"{{{feature}}}" if tag else feature
    return ":".join((prefix + head, *parts))


def hash_tag(key: str) -> str | None:
    """The part of ``key`` that Redis Cluster hashes when it is a hash tag, else None (then the
    whole key is hashed)."""
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end <= start + 1:  # no "}", or "{}": the whole key is hashed
        return None
    return key[start + 1 : end]


def check_prefix(prefix: str, what: str) -> str:
    """``prefix`` if the tagged keys made with it share a slot, else a ConfigurationError.

    Only an empty hash tag (``"{}"`` before any other ``{...}``) spoils that: Redis then hashes
    each whole key, and a feature's keys land in different slots.
    """
    if hash_tag(key_name(prefix, "x", tag=True)) is None:
        raise ConfigurationError(
            f"{what}: prefix {prefix!r} holds an empty hash tag '{{}}', which would spread one "
            "feature's keys over several Redis Cluster slots; remove the braces"
        )
    return prefix

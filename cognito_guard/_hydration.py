"""Start-up: fetch every key store's JWKS at once, and judge the outcome per user pool.

Used by :meth:`CognitoVerifier.hydrate` and :meth:`~CognitoVerifier.ahydrate`. Both issuer forms
of a Cognito pool (``cognito-idp`` and ``issuer-cognito-idp``) are one pool: a pool that issues
one form only may answer 403 or 404 for the other form's JWKS, which is no reason to fail.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

from ._singleflight import Flight
from .errors import KeysUnavailableError
from .issuers import canonical_issuer
from .keys import KeyStore

__all__ = ["judge", "start"]

log = logging.getLogger("cognito_guard")


def _distinct(stores: Mapping[str, KeyStore]) -> list[KeyStore]:
    return list({id(store): store for store in stores.values()}.values())


def start(stores: Mapping[str, KeyStore], *, threads: bool) -> list[Flight[None]]:
    """A fetch of each distinct store of ``{issuer: store}`` (one under way is joined), on
    threads or in tasks of the running loop; the flights to wait for.

    The fetches are quiet (a failure is logged at debug level by the store): :func:`judge`
    judges them per pool.
    """
    flights = []
    for store in _distinct(stores):
        perform = store._start_thread if threads else store._start_task
        flight = store._refresh_flight(functools.partial(perform, quiet=True))
        if flight is not None:
            flights.append(flight)
    return flights


def judge(stores: Mapping[str, KeyStore]) -> dict[str, int]:
    """The usable keys per issuer once the fetches have landed; raises
    :class:`KeysUnavailableError` for the pools that have none at all, and logs the issuer
    forms whose JWKS could not be had in a pool that has keys."""
    outcomes = {id(store): store._refresh_outcome() for store in _distinct(stores)}
    counts = {iss: outcomes[id(store)][0] for iss, store in stores.items()}
    pools: dict[str, list[str]] = {}
    for iss in stores:
        pools.setdefault(canonical_issuer(iss), []).append(iss)
    failed: list[tuple[str, KeysUnavailableError]] = []
    for pool, members in pools.items():
        errors = [
            (iss, error) for iss in members if (error := outcomes[id(stores[iss])][1]) is not None
        ]
        if not any(counts[iss] for iss in members):
            failed.extend((pool, error) for _, error in errors)
            continue
        for iss, error in errors:
            log.log(
                logging.INFO if counts[iss] == 0 else logging.WARNING,
                "no JWKS for issuer %s at start-up (%s); %s",
                iss,
                error,
                "the pool's other issuer form has keys"
                if counts[iss] == 0
                else "serving the keys already held",
            )
    if failed:
        raise KeysUnavailableError(
            "no usable signing key at start-up: "
            + "; ".join(f"{pool}: {error}" for pool, error in failed),
            retry_after=min(error.retry_after for _, error in failed),
        )
    return counts

"""What the plain WSGI and ASGI middlewares share: their set-up and the answer they write.

Each middleware is a thin shell over this: it reads the method, path and ``Authorization``
header of its protocol, asks :class:`~cognito_guard.rules.PathRules` for the requirement, calls
the guard's one ``authenticate`` (sync or async) and writes :func:`answer_response` back. With
``resource=`` it first answers requests for the resource's metadata path itself (RFC 9728): the
document is public whatever the rules say, and lists the scopes of the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

from ..bearer import Answer, BearerGuard, Requirement
from ..config import verifier_from_env
from ..rules import PathRules, Protect
from ..verifier import CognitoVerifier
from ._resource import ServedMetadata, requirement_scopes

__all__ = ["CLAIMS_KEY", "PathMiddleware", "answer_response"]

CLAIMS_KEY = "cognito_guard.claims"
"""The environ / scope key holding the verified :class:`~cognito_guard.CognitoClaims`."""

App = TypeVar("App")


class PathMiddleware(Generic[App]):
    """The set-up of a middleware demanding tokens on the paths of ``protect``.

    The guard is a :class:`~cognito_guard.bearer.BearerGuard`: these middlewares judge the
    ``Authorization`` header alone (web sign-in needs a framework adapter, which mounts its
    routes). ``resource`` (see :class:`~cognito_guard.bearer.BearerGuard`) serves the metadata
    document at :attr:`metadata_path` and names it in every challenge. Configuration errors
    raise :class:`~cognito_guard.ConfigurationError` here.
    """

    def __init__(
        self,
        app: App,
        verifier: CognitoVerifier | None = None,
        *,
        protect: Protect | None = None,
        realm: str | None = None,
        resource: str | None = None,
    ) -> None:
        self.app = app
        self.guard = BearerGuard(
            verifier if verifier is not None else verifier_from_env(),
            realm=realm,
            resource=resource,
        )
        self.rules = PathRules(protect)
        self.metadata: ServedMetadata | None = None
        self.metadata_path: str | None = None
        """The path answered with the metadata document (None without ``resource``)."""
        if self.guard.resource is not None:
            scopes = requirement_scopes(_requirements(protect))
            self.metadata = ServedMetadata(self.guard.resource, lambda: scopes)
            self.metadata_path = self.metadata.path


def _requirements(protect: Protect | None) -> list[Requirement | None]:
    # PathRules validated protect already: a Requirement, or a mapping of them (or None).
    if isinstance(protect, Mapping):
        return list(protect.values())
    return [protect if isinstance(protect, Requirement) else None]


def answer_response(answer: Answer) -> tuple[list[tuple[str, str]], bytes]:
    """The headers and body of the HTTP response of ``answer`` (JSON, with its length)."""
    body = answer.json()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        *answer.headers,
    ]
    return headers, body

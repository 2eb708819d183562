"""cognito_guard: verify Amazon Cognito access and ID tokens, and protect web APIs with them.

Example::

    from cognito_guard import CognitoVerifier, TokenError

    verifier = CognitoVerifier(user_pool_id="eu-west-1_AbCdEf123", client_id="4a1b...")
    try:
        claims = verifier.verify(token)
    except TokenError as exc:
        ...  # exc.status_code, exc.www_authenticate()
"""

from __future__ import annotations

from ._version import __version__
from .bearer import Requirement
from .claims import CognitoClaims
from .errors import (
    ClaimCheckError,
    CognitoGuardError,
    ConfigurationError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidAlgorithmError,
    InvalidClientError,
    InvalidIssuerError,
    InvalidPathError,
    InvalidRequestError,
    InvalidSignatureError,
    InvalidTokenUseError,
    KeysUnavailableError,
    MalformedClaimsError,
    MalformedTokenError,
    MissingGroupError,
    MissingTokenError,
    NotYetValidError,
    RevocationsUnavailableError,
    RevokedTokenError,
    ServiceUnavailableError,
    TokenError,
    UnknownKeyError,
)
from .keys import KeyPolicy, KeyStore
from .verifier import CognitoVerifier

__all__ = [
    "ClaimCheckError",
    "CognitoClaims",
    "CognitoGuardError",
    "CognitoVerifier",
    "ConfigurationError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InvalidAlgorithmError",
    "InvalidClientError",
    "InvalidIssuerError",
    "InvalidPathError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "InvalidTokenUseError",
    "KeyPolicy",
    "KeyStore",
    "KeysUnavailableError",
    "MalformedClaimsError",
    "MalformedTokenError",
    "MissingGroupError",
    "MissingTokenError",
    "NotYetValidError",
    "Requirement",
    "RevocationsUnavailableError",
    "RevokedTokenError",
    "ServiceUnavailableError",
    "TokenError",
    "UnknownKeyError",
    "__version__",
]

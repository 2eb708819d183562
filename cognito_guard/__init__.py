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

from . import claims, errors
from ._version import __version__
from .claims import *  # noqa: F403 - exactly the names of claims.__all__
from .errors import *  # noqa: F403 - exactly the names of errors.__all__
from .keys import KeyPolicy, KeyStore
from .verifier import CognitoVerifier

__all__ = ["CognitoVerifier", "KeyPolicy", "KeyStore", "__version__"]
__all__ += claims.__all__
__all__ += errors.__all__

# Each public name reads as cognito_guard.X in reprs, tracebacks and pickles, where users import
# it from (as httpx does); the class stays defined in its own module.
_namespace = globals()
for _name in __all__:
    if not _name.startswith("__"):
        _namespace[_name].__module__ = __name__
del _namespace, _name

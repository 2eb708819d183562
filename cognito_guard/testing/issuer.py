"""LocalIssuer: a stand-in for a Cognito user pool minting realistic tokens with real RSA keys.

The keys and tokens are a :class:`~cognito_guard.testing._tokens.TokenIssuer`; this module adds
the loopback servers on top, so that minting knows nothing of serving.
"""

from __future__ import annotations

from typing import Any

from ._keys import SigningKey, b64url, generate_rsa_key
from ._tokens import OMIT, TokenIssuer
from .oauth import OAuthServer
from .server import JWKSServer

__all__ = ["OMIT", "LocalIssuer", "SigningKey", "b64url", "generate_rsa_key"]


class LocalIssuer(TokenIssuer):
    """A local Cognito user pool: RSA keys, a JWKS and tokens with Cognito's claims.

    Like Cognito it has two keys, one signing access tokens and one signing ID tokens. Every claim
    of a minted token can be overridden, or left out with :data:`OMIT`.

    Example::

        issuer = LocalIssuer()
        token = issuer.access_token(scopes=["orders/read"], groups=["admins"])
        expired = issuer.access_token(expires_in=-60)
        verifier = issuer.verifier()                 # preloaded JWKS, no network
        with issuer.serve() as server:               # or a real JWKS endpoint on 127.0.0.1
            verifier = issuer.verifier(jwks_uri=server.jwks_uri)
    """

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> JWKSServer:
        """A JWKS server on loopback for this issuer (use as a context manager)."""
        return JWKSServer(self, host=host, port=port)

    def serve_oauth(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> OAuthServer:
        """A loopback test double of this pool's token endpoints, user-pool API and JWKS.

        ``options`` go to :class:`~cognito_guard.testing.oauth.OAuthServer` (``client_secret``,
        ``rotate_refresh_tokens``, ...). Use it as a context manager::

            with issuer.serve_oauth(client_secret="s3cret") as server:
                tokens = server.client().client_credentials(scopes=["orders/read"])
        """
        return OAuthServer(self, host=host, port=port, **options)

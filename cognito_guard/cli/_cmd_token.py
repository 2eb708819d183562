"""``cognito-guard token``: print a client-credentials (M2M) access token."""

from __future__ import annotations

import argparse
import os

from ..errors import ConfigurationError, OAuthError, TokenEndpointUnavailable
from ._format import EXIT_REJECTED, EXIT_VALID, _fail, _in_option_words, _json_out, iso

# The Python parameters behind the options, as a configuration error names them.
_TOKEN_OPTIONS = {"client_id": "--client-id", "domain": "--domain", "scopes": "--scope"}


def cmd_token(args: argparse.Namespace) -> int:
    """Print a client-credentials access token."""
    from ..client import CognitoTokenClient

    secret = os.environ.get(args.secret_env)
    if not secret:
        return _fail(
            "token",
            f"set the client secret in the environment variable {args.secret_env} (it is never "
            "taken as an argument, to keep it out of shell history and process lists)",
        )
    try:
        client = CognitoTokenClient(args.client_id, secret, domain=args.domain)
        tokens = client.client_credentials(scopes=args.scope)
    except ConfigurationError as exc:
        return _fail("token", _in_option_words(str(exc), _TOKEN_OPTIONS))
    except OAuthError as exc:
        return _fail("token", f"Cognito refused: {exc}", EXIT_REJECTED)
    except TokenEndpointUnavailable as exc:
        return _fail("token", exc)
    if args.json:
        _json_out(
            {
                "access_token": tokens.access_token,
                "token_type": tokens.token_type,
                "expires_in": tokens.expires_in,
                "expires_at": iso(tokens.expires_at),
            }
        )
    else:
        print(tokens.access_token)
    return EXIT_VALID
